package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/botwarden/botwarden/config"
)

// startServer runs a server on loopback ephemeral ports until the test ends.
func startServer(t *testing.T, mutate func(*config.Config)) (*Server, func()) {
	t.Helper()
	cfg := config.Default()
	cfg.Server.GRPCAddr = "127.0.0.1:0"
	cfg.Server.HTTPAddr = "127.0.0.1:0"
	cfg.Server.AdminAddr = "127.0.0.1:0"
	cfg.Server.ShutdownGrace = 2 * time.Second
	// These tests assert decisions, not the budget (detect and extauthz
	// test that deterministically); on a loaded CI machine 20 ms can pass
	// and the fail-open verdict would answer instead.
	cfg.Detection.Budget = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, zerolog.New(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	waitReady(t, srv)
	var once sync.Once
	stop := func() { once.Do(func() { stopServer(t, cancel, done) }) }
	t.Cleanup(stop)
	return srv, stop
}

func stopServer(t *testing.T, cancel context.CancelFunc, done chan error) {
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("server did not stop")
	}
}

func waitReady(t *testing.T, srv *Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if srv.ready.Load() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("server never became ready")
}

func TestHealthReadyMetrics(t *testing.T) {
	srv, _ := startServer(t, nil)
	base := "http://" + srv.HTTPAddr().String()
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "botwarden_engine_errors_total"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			// The counter vector has no series until an error happens,
			// so /metrics is checked for the Go collector instead.
			if path == "/metrics" && resp.StatusCode == 200 && strings.Contains(string(body), "go_goroutines") {
				continue
			}
			t.Errorf("%s: %d %q", path, resp.StatusCode, body)
		}
	}

	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("grpc health: %v %v", resp, err)
	}
}

func TestShutdownTurnsNotReady(t *testing.T) {
	srv, stop := startServer(t, nil)
	stop()
	if srv.ready.Load() {
		t.Fatal("still ready after shutdown")
	}
	if _, err := http.Get("http://" + srv.HTTPAddr().String() + "/healthz"); err == nil {
		t.Fatal("http still serving after shutdown")
	}
}

func TestReloadReportsEachPart(t *testing.T) {
	srv, _ := startServer(t, nil)
	if err := srv.Reload(); err != nil {
		t.Fatalf("reload on embedded defaults: %v", err)
	}
	names := map[string]bool{}
	for _, r := range srv.reloaders {
		names[r.name] = true
	}
	for _, want := range []string{"policy", "verified", "network"} {
		if !names[want] {
			t.Errorf("no reloader for %s", want)
		}
	}
}
