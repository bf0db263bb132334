package token

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestStdlibOnlyForWasip1 guards the contract with the Proxy-Wasm filter:
// the package builds for GOOS=wasip1 GOARCH=wasm and imports nothing but
// the standard library.
func TestStdlibOnlyForWasip1(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	cmd := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list for wasip1: %v\n%s", err, out)
	}
	build := exec.Command(gobin, "build", "-o", os.DevNull, ".")
	build.Env = cmd.Env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build for wasip1: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/botwarden/botwarden/detect/token" {
			t.Errorf("non-standard dependency %s", p)
		}
	}
}
