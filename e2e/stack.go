package e2e

// This file is the reusable stack for end-to-end tests here and in the
// subpackages: botwarden's real server, a recording origin and a gateway.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/e2e/gateway"
	"github.com/botwarden/botwarden/server"
)

// Botwarden is the real server (server.New with a config) on loopback.
type Botwarden struct {
	Server   *server.Server
	GRPCAddr string
	HTTPAddr string
	stop     context.CancelFunc
	done     chan struct{} // closed when Serve returned
	err      error         // what Serve returned
}

// StartBotwarden runs botwarden from config.Default() on loopback ports,
// with mutate (may be nil) applied last, and stops it with the test.
func StartBotwarden(t testing.TB, mutate func(*config.Config)) *Botwarden {
	t.Helper()
	cfg := config.Default()
	cfg.Server.GRPCAddr, cfg.Server.HTTPAddr, cfg.Server.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Server.ShutdownGrace = 2 * time.Second
	// A CI machine running many tests at once must not turn checks into
	// deadline fallbacks (which allow); the budget itself has unit tests.
	cfg.Detection.Budget = 2 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	if os.Getenv("E2E_LOG") != "" {
		log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Botwarden{Server: srv, GRPCAddr: srv.GRPCAddr().String(), HTTPAddr: srv.HTTPAddr().String(), stop: cancel, done: make(chan struct{})}
	go func() { b.err = srv.Serve(ctx); close(b.done) }()
	t.Cleanup(func() {
		b.Stop()
		if b.err != nil {
			t.Errorf("botwarden: %v", b.err)
		}
	})
	waitReady(t, "http://"+b.HTTPAddr+"/readyz")
	return b
}

// Policy returns a mutate function for StartBotwarden that installs a
// policy file with content (see detect/policy/README.md).
func Policy(t testing.TB, content string) func(*config.Config) {
	f := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) { c.Policy.File, c.Policy.Watch = f, false }
}

// Stop stops botwarden (graceful drain) and waits for it; calling it
// again is a no-op.
func (b *Botwarden) Stop() {
	b.stop()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
	}
}

func waitReady(t testing.TB, url string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not ready", url)
}

// Seen is one request as the origin received it.
type Seen struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Header http.Header `json:"header"`
}

// Origin is the protected site: it answers every request with what it
// received (JSON) and keeps a record.
type Origin struct {
	Addr string
	mu   sync.Mutex
	reqs []Seen
}

func StartOrigin(t testing.TB) *Origin {
	t.Helper()
	o := &Origin{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := Seen{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone()}
		o.mu.Lock()
		o.reqs = append(o.reqs, s)
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	}))
	t.Cleanup(srv.Close)
	o.Addr = strings.TrimPrefix(srv.URL, "http://")
	return o
}

// Reached returns the requests the origin received for uri.
func (o *Origin) Reached(uri string) []Seen {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Seen
	for _, s := range o.reqs {
		if s.URI == uri {
			out = append(out, s)
		}
	}
	return out
}

// GatewayKinds are the gateways a scenario runs against: the in-repo one
// always, the real Envoy when ENVOY_BIN is set.
func GatewayKinds() []string {
	kinds := []string{"in-repo"}
	if os.Getenv("ENVOY_BIN") != "" {
		kinds = append(kinds, "envoy")
	}
	return kinds
}

// EachGateway runs fn once per gateway kind as a subtest.
func EachGateway(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range GatewayKinds() {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
	if os.Getenv("ENVOY_BIN") == "" {
		t.Log("ENVOY_BIN not set: ran against the in-repo gateway only")
	}
}

// StartGateway puts a gateway of kind in front of o, calling bw, running
// envoy/envoy-http.yaml with opts' overrides. The in-repo gateway streams
// its access log to botwarden's ALS receiver as Envoy does.
func StartGateway(t testing.TB, kind string, bw *Botwarden, o *Origin, opts gateway.Options) gateway.Gateway {
	t.Helper()
	opts.Clusters = map[string]string{
		"botwarden_authz": bw.GRPCAddr, "botwarden_als": bw.GRPCAddr,
		"botwarden_http": bw.HTTPAddr, "origin": o.Addr,
	}
	// envoy-http.yaml's 100 ms is right for production; a loaded CI machine
	// must not turn slow checks into failure_mode_allow passes.
	if opts.AuthzTimeout == 0 {
		opts.AuthzTimeout = 2 * time.Second
	}
	var gw gateway.Gateway
	var err error
	switch kind {
	case "envoy":
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		gw, err = gateway.StartEnvoy(ctx, os.Getenv("ENVOY_BIN"), opts)
	default:
		opts.ALS = streamALS
		gw, err = gateway.StartInRepo(opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	t.Logf("gateway: %s at %s", gw.Kind(), gw.URL())
	return gw
}

// streamALS is the in-repo gateway's gRPC access logger: it batches and
// streams entries to botwarden as Envoy's does.
func streamALS(c gateway.ALSConfig) (gateway.AccessLogger, error) { return gateway.NewALSStreamer(c) }
