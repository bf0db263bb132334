package cluster

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/botwarden/botwarden/e2e"
	"github.com/botwarden/botwarden/e2e/gateway"
	"github.com/botwarden/botwarden/internal/natstest"
	"github.com/botwarden/botwarden/internal/redistest"
	"github.com/botwarden/botwarden/internal/slowproxy"
)

// bin is the botwarden binary, built once for every test here.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "botwarden-cluster-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "botwarden")
	build := exec.Command("go", "build", "-o", bin, "github.com/botwarden/botwarden/cmd/botwarden")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building botwarden:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testPolicy blocks what the analysis convicted and rate-limits /api/ to
// 10 a minute per client, so that every block or 429 is the cluster's doing.
const testPolicy = `version: 1
mode: mitigate
rules:
  - id: behavioural
    expression: bot.reputation.found && bot.reputation.score < 30
    action: block
  - id: api
    expression: http.path_only.startsWith('/api/')
    action: rate_limit
    rate_limit: {key: ip, requests: 10, period: 1m, burst: 10}
`

// configFile is what every replica shares: the same keys and secrets (so
// a cookie issued by one opens on the others), the policy, and the client
// address from the gateway's connection manager (one trusted hop: the
// test clients stand for the internet behind a load balancer).
func configFile(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`log: {level: info}
detection: {budget: 100ms}
policy: {file: %s, watch: false}
session:
  keys: [{id: 1, secret: %q}]
  active_key: 1
challenge: {secrets: [%q]}
extauthz:
  client_ip: {use_external_address: true, use_xff: true, xff_num_trusted_hops: 1, peer_fallback: true}
%s`, pol, strings.Repeat("Q", 43)+"=", strings.Repeat("R", 43)+"=", extra)
	path := filepath.Join(dir, "botwarden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replica is one botwarden process on its own loopback ports.
type replica struct {
	name              string
	grpc, http, admin string
	cmd               *exec.Cmd
	out               *bytes.Buffer
	mu                sync.Mutex
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer the process's output can be written to
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startReplica runs the binary with cfg and env (BOTWARDEN_* overrides:
// the cluster addresses come this way, as a Deployment would set them).
func startReplica(t *testing.T, name, cfg string, env ...string) *replica {
	t.Helper()
	r := &replica{name: name, grpc: freeAddr(t), http: freeAddr(t), admin: freeAddr(t)}
	out := &syncBuffer{}
	r.cmd = exec.Command(bin, "serve", "-config", cfg)
	// env comes last: the last value of a variable wins (os/exec).
	r.cmd.Env = append(os.Environ(), append([]string{"BOTWARDEN_SERVER_GRPC_ADDR=" + r.grpc, "BOTWARDEN_SERVER_HTTP_ADDR=" + r.http,
		"BOTWARDEN_SERVER_SHUTDOWN_GRACE=1s",
		// Each replica's own admin listener; the analytics store is not
		// what most tests here are about and costs every process memory.
		"BOTWARDEN_SERVER_ADMIN_ADDR=" + r.admin, "BOTWARDEN_ANALYTICS_ENABLED=false"}, env...)...)
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(out.String(), 4000))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + r.http + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", name, tail(out.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// kill ends the process at once (SIGKILL), as a crash would.
func (r *replica) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

// metric sums the samples of name whose labels include want.
func (r *replica) metric(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + r.http + "/metrics")
	if err != nil {
		t.Fatalf("%s metrics: %v", r.name, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s metrics: %v", r.name, err)
	}
	sum := 0.0
	fam, ok := fams[name]
	if !ok {
		return 0
	}
	for _, m := range fam.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

func (r *replica) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + r.http + "/readyz")
	if err != nil {
		t.Fatalf("%s readyz: %v", r.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stack is N replicas sharing one Redis (reached through a proxy that can
// be made slow) and one NATS behind one gateway, as behind an Envoy in front
// of a Service: Checks go round robin over the replicas, each access-log
// stream to one of them (its events reach the partition owners through
// JetStream).
type stack struct {
	redis    *redistest.Server
	proxy    *slowproxy.Proxy
	nats     *natstest.Server
	replicas []*replica
	url      string
}

// startCluster starts n replicas with Redis and NATS; extra is appended
// to their config file.
func startCluster(t *testing.T, n int, extra string) *stack {
	t.Helper()
	st := &stack{redis: redistest.Start(t), nats: natstest.Start(t)}
	p, err := slowproxy.Start(st.redis.Addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	st.proxy = p
	cfg := configFile(t, extra)
	var wg sync.WaitGroup
	st.replicas = make([]*replica, n)
	for i := range n {
		wg.Go(func() {
			st.replicas[i] = startReplica(t, fmt.Sprintf("replica-%d", i), cfg,
				"BOTWARDEN_CLUSTER_REDIS_ADDR="+p.Addr(), "BOTWARDEN_CLUSTER_NATS_URL="+st.nats.URL,
				"BOTWARDEN_CLUSTER_STREAM_MAX_BYTES=67108864") // the test server stores 256 MiB
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	st.waitPartitions(t)
	grpcs := make([]string, n)
	for i, r := range st.replicas {
		grpcs[i] = r.grpc
	}
	st.url = startGateway(t, strings.Join(grpcs, ","), st.replicas[0].http, startShop(t))
	return st
}

// startSingle is one botwarden with no cluster section: today's process.
// Its gateway is started by the caller (startGateway(t, r.grpc, r.http, shop)).
func startSingle(t *testing.T) *replica {
	t.Helper()
	return startReplica(t, "single", configFile(t, ""))
}

// waitPartitions waits until every partition is owned by some replica.
func (st *stack) waitPartitions(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		owned := 0.0
		for _, r := range st.replicas {
			owned += r.metric(t, "botwarden_cluster_partitions_owned", nil)
		}
		// Partitions are pinned by their first message; before that
		// each replica's consumers are joined, which is what matters.
		joined := true
		for _, r := range st.replicas {
			code, body := r.readyz(t)
			joined = joined && code == 200 && !strings.Contains(body, "degraded")
		}
		if joined {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ready (partitions owned %v)", owned)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startGateway runs the in-repo gateway (envoy/envoy-http.yaml) calling
// the gRPC addresses grpcs (comma-separated: round robin).
func startGateway(t *testing.T, grpcs, httpAddr, shop string) string {
	t.Helper()
	one := uint32(1)
	gw := e2e.StartGateway(t, "in-repo", &e2e.Botwarden{GRPCAddr: grpcs, HTTPAddr: httpAddr}, &e2e.Origin{Addr: shop},
		gateway.Options{XFFNumTrustedHops: &one})
	return gw.URL()
}

// startShop is the protected site: every page HTML.
func startShop(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1>", r.URL.Path, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// scrape has v fetch n distinct product pages at 20 a second.
func scrape(v *e2e.Visitor, n int, from int) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := range n {
		<-tick.C
		v.Get("/product/" + strconv.Itoa(from+i))
	}
}
