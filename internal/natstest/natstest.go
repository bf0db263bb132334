// Package natstest runs a real NATS server with JetStream for a test: the
// official server (github.com/nats-io/nats-server/v2) embedded in the test
// process on a loopback port, since the partitioned consumer groups need
// server 2.11 or later and Debian ships 2.9. It stops and restarts on the
// same port and store directory (the outage tests), and its clients reach
// it over TCP like any other process's would.
package natstest

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is one embedded NATS server.
type Server struct {
	t    testing.TB
	opts server.Options
	srv  *server.Server
	// URL is nats://127.0.0.1:port, stable across Restart.
	URL string
}

// Start starts a server for t's lifetime.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{t: t, opts: server.Options{
		Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(), JetStreamMaxStore: 256 << 20, JetStreamMaxMemory: 64 << 20,
	}}
	s.URL = "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the server down (its clients see the connection drop).
func (s *Server) Stop() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart starts the server again on the same port and store.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	opts := s.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		s.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.t.Fatal("nats-server did not start")
	}
	s.srv = srv
}
