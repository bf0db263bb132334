package e2e

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

// botwarden is the real server (server.New with a config), on loopback.
type botwarden struct {
	srv      *server.Server
	grpcAddr string
	httpAddr string
	stop     context.CancelFunc
	done     chan struct{} // closed when Serve returned
	err      error         // what Serve returned
}

// startBotwarden runs botwarden with the embedded defaults, loopback
// addresses and the given policy file content ("" = the embedded default:
// mitigate with the bot_fight preset).
func startBotwarden(t *testing.T, policy string) *botwarden {
	t.Helper()
	cfg := config.Default()
	cfg.Server.GRPCAddr, cfg.Server.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Server.ShutdownGrace = 2 * time.Second
	// A CI machine running many tests at once must not turn checks into
	// deadline fallbacks (which allow); the budget itself has unit tests.
	cfg.Detection.Budget = 2 * time.Second
	if policy != "" {
		f := filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(f, []byte(policy), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Policy.File, cfg.Policy.Watch = f, false
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
	b := &botwarden{srv: srv, grpcAddr: srv.GRPCAddr().String(), httpAddr: srv.HTTPAddr().String(), stop: cancel, done: make(chan struct{})}
	go func() { b.err = srv.Serve(ctx); close(b.done) }()
	t.Cleanup(func() {
		b.shutdown()
		if b.err != nil {
			t.Errorf("botwarden: %v", b.err)
		}
	})
	waitReady(t, "http://"+b.httpAddr+"/readyz")
	return b
}

// shutdown stops botwarden (graceful drain) and waits for it; calling it
// again is a no-op.
func (b *botwarden) shutdown() {
	b.stop()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
	}
}

func waitReady(t *testing.T, url string) {
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

// seen is one request as the origin received it.
type seen struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Header http.Header `json:"header"`
}

// origin is the protected site: it answers every request with what it
// received (JSON) and keeps a record.
type origin struct {
	addr string
	mu   sync.Mutex
	reqs []seen
}

func startOrigin(t *testing.T) *origin {
	t.Helper()
	o := &origin{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone()}
		o.mu.Lock()
		o.reqs = append(o.reqs, s)
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	}))
	t.Cleanup(srv.Close)
	o.addr = strings.TrimPrefix(srv.URL, "http://")
	return o
}

// reached returns the requests the origin received for uri.
func (o *origin) reached(uri string) []seen {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []seen
	for _, s := range o.reqs {
		if s.URI == uri {
			out = append(out, s)
		}
	}
	return out
}

// gatewayKinds are the gateways a scenario runs against: the in-repo one
// always, the real Envoy when ENVOY_BIN is set.
func gatewayKinds() []string {
	kinds := []string{"in-repo"}
	if os.Getenv("ENVOY_BIN") != "" {
		kinds = append(kinds, "envoy")
	}
	return kinds
}

// eachGateway runs fn once per gateway kind as a subtest.
func eachGateway(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range gatewayKinds() {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
	if os.Getenv("ENVOY_BIN") == "" {
		t.Log("ENVOY_BIN not set: ran against the in-repo gateway only")
	}
}

// startGateway puts a gateway of kind in front of o, calling bw, running
// envoy/envoy-http.yaml with opts' overrides. The in-repo gateway streams
// its access log to botwarden's ALS receiver as Envoy does.
func startGateway(t *testing.T, kind string, bw *botwarden, o *origin, opts gateway.Options) gateway.Gateway {
	t.Helper()
	opts.Clusters = map[string]string{
		"botwarden_authz": bw.grpcAddr, "botwarden_als": bw.grpcAddr,
		"botwarden_http": bw.httpAddr, "origin": o.addr,
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
