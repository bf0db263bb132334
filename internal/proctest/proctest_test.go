package proctest

import (
	"os/exec"
	"syscall"
	"testing"
)

// TestStartWaitsForTheListener runs a real listener (this machine's python3
// http.server) and checks Start returns once it accepts connections.
func TestStartWaitsForTheListener(t *testing.T) {
	py := Find(t, "python3", "python3")
	port := FreePort(t)
	Start(t, exec.Command(py, "-m", "http.server", "--bind", "127.0.0.1", port), "127.0.0.1:"+port, syscall.SIGTERM)
}
