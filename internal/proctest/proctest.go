// Package proctest runs a real program (nginx, Caddy, ...) for a test: it
// starts it, waits until it listens, and stops it when the test ends,
// showing its output and log files if the test failed.
package proctest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port nothing listens on right now.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// Find returns the path of program name: on $PATH or in /usr/sbin (where
// Debian puts daemons, often off a non-root $PATH). Absent, the test fails
// under CI (whose .ci/run installs pkg) and skips elsewhere, naming pkg.
func Find(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; isExec(p) {
		return p
	}
	msg := name + " not installed (Debian package " + pkg + "); skipping the real-" + name + " test"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

// Start runs cmd until the test ends and waits up to 10 s for addr
// ("host:port") to accept connections. At cleanup the program gets stop
// (SIGQUIT for nginx's graceful stop, SIGTERM for most), then SIGKILL after
// 5 s. If the test failed, its output and the files in logs are logged.
func Start(t testing.TB, cmd *exec.Cmd, addr string, stop syscall.Signal, logs ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	// done is closed once the program has exited (waitErr then holds why),
	// so both the start loop and the cleanup can wait for it.
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	dump := func() string {
		var b bytes.Buffer
		b.WriteString(out.String())
		for _, f := range logs {
			data, _ := os.ReadFile(f)
			b.WriteString("\n--- " + f + ":\n")
			b.Write(data)
		}
		return b.String()
	}
	t.Cleanup(func() {
		cmd.Process.Signal(stop)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", cmd.Path, dump())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("%s exited: %v\n%s", cmd.Path, waitErr, dump())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s within 10s", cmd.Path, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
