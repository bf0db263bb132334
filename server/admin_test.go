package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/config"
)

// TestChecksReachTheAdminAPI sends real Checks over gRPC and reads them back
// from the admin listener's API, with the request reference joined.
func TestChecksReachTheAdminAPI(t *testing.T) {
	srv, _ := startServer(t, func(c *config.Config) { c.Analytics.Ingest.JoinWindow = 0 })
	client := authClient(t, srv)
	for i, ua := range []string{"curl/8.5.0", "curl/8.5.0", chromeUA} {
		req := checkRequest("192.0.2.10", map[string]string{"user-agent": ua, "x-request-id": "req-" + string(rune('a'+i))}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := client.Check(ctx, req); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	base := "http://" + srv.AdminAddr().String()
	var top struct {
		Rows []struct {
			Value string
			Count int64
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/api/v1/top?by=user_agent&since=5m")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&top)
		resp.Body.Close()
		if len(top.Rows) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(top.Rows) != 2 || top.Rows[0].Value != "curl/8.5.0" || top.Rows[0].Count != 2 {
		t.Fatalf("top user agents: %+v", top.Rows)
	}
	for path, want := range map[string]string{"/metrics": "botwarden_analytics_records_total", "/debug/pprof/": "goroutine"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d, want %q in the body", path, resp.StatusCode, want)
		}
	}
}

func TestAdminRefusesNetworkWithoutToken(t *testing.T) {
	cfg := config.Default()
	cfg.Server.AdminAddr = "0.0.0.0:0"
	_, err := New(cfg, zerolog.New(io.Discard))
	if err == nil || !strings.Contains(err.Error(), "admin.token") {
		t.Fatalf("err %v, want a refusal that names admin.token", err)
	}
	cfg.Admin.Token = "0123456789abcdef0123"
	srv, err := New(cfg, zerolog.New(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}

// TestCorruptStoreKeepsServing: a store file that is not a database leaves
// Checks working and the API saying what is wrong.
func TestCorruptStoreKeepsServing(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.duckdb")
	os.WriteFile(bad, []byte(strings.Repeat("garbage", 4096)), 0o600)
	srv, _ := startServer(t, func(c *config.Config) { c.Analytics.Store.Path = bad })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := authClient(t, srv).Check(ctx, checkRequest("192.0.2.1", chromeHeaders(), nil)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.AdminAddr().String() + "/api/v1/top?by=ip")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "bad.duckdb") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
