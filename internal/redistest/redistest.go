// Package redistest runs Debian's redis-server on a loopback port for a
// test, without persistence, and can stop and restart it on the same port
// (the outage tests). A missing redis-server fails the test when running as
// root (CI installs it, scripts/deps.sh too) and skips it, saying why,
// otherwise.
package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	bin  string
	port int
	cmd  *exec.Cmd
	// Addr is host:port, stable across Restart.
	Addr string
}

// Start starts a server for t's lifetime.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getuid() == 0 {
			t.Fatal("redis-server not installed (Debian package redis-server; .ci/run and scripts/deps.sh install it)")
		}
		t.Skip("redis-server not installed (Debian package redis-server); CI installs it")
	}
	s := &Server{t: t, bin: bin, port: FreePort(t)}
	s.Addr = "127.0.0.1:" + strconv.Itoa(s.port)
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Stop kills the server (SIGKILL: an outage, not a clean shutdown).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port (empty: no
// persistence) and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no")
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	c := s.Client()
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			s.t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client returns a new client of the server; the caller closes it.
func (s *Server) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: time.Second, MaxRetries: -1, ContextTimeoutEnabled: true})
}
