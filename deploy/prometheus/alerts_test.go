package prometheus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/botwarden/botwarden/deploy/grafana"
	"github.com/botwarden/botwarden/deploy/internal/live"
)

// tool finds a program of Debian's prometheus package. Absent, the test
// fails in CI (whose .ci/run installs it) and skips elsewhere.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := name + " not installed (Debian package prometheus; scripts/deps.sh installs it as root)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	t.Log(run(t, tool(t, "promtool"), "check", "rules", "alerts.yaml"))
}

func TestPromtoolTestRules(t *testing.T) {
	t.Log(run(t, tool(t, "promtool"), "test", "rules", "alerts_test.yaml"))
}

type rules struct {
	Groups []struct {
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) rules {
	t.Helper()
	data, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var r rules
	if err := yaml.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAlertsFireOnLiveBotwarden runs Prometheus on loopback scraping a real
// botwarden every second with alerts.yaml loaded. Every rule's metrics and
// labels must be ones botwarden exports; no alert may fire while botwarden
// is healthy; after the test breaks the policy file and botwarden refuses
// the reload, BotwardenPolicyReloadFailing must fire.
func TestAlertsFireOnLiveBotwarden(t *testing.T) {
	bin := tool(t, "prometheus")
	bw := live.Start(t)
	// Twice: the second round's verdicts differ from the first's (session
	// cookies, behavioural blocks), creating their series, so that traffic
	// later moves existing series, which rate() can see.
	bw.Traffic(t, 2)
	bw.Traffic(t, 2)

	exported := bw.Exports(t)
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if err := exported.Check(r.Expr); err != nil {
				t.Errorf("%s: %v", r.Alert, err)
			}
		}
	}

	prom := startPrometheus(t, bin, bw.HTTPAddr)
	// Healthy: the target is up and nothing fires.
	waitFor(t, 30*time.Second, "botwarden scraped", func() bool {
		return len(prom.query(t, `up{job="botwarden"} == 1`)) == 1
	})
	waitFor(t, 30*time.Second, "a second scrape with the policy reload series", func() bool {
		return len(prom.query(t, `count_over_time(botwarden_policy_reload_total{result="error"}[1m]) >= 2`)) == 1
	})
	if a := prom.alerts(t); len(a) != 0 {
		t.Fatalf("alerts fire while botwarden is healthy: %+v", a)
	}

	// Traffic while Prometheus watches, for the dashboard's rates.
	bw.Traffic(t, 2)
	checkDashboardQueries(t, prom)

	bw.BreakPolicy(t)
	waitFor(t, 60*time.Second, "BotwardenPolicyReloadFailing firing", func() bool {
		for _, a := range prom.alerts(t) {
			if a.Labels["alertname"] == "BotwardenPolicyReloadFailing" && a.State == "firing" {
				t.Logf("firing: %v %v", a.Labels, a.Annotations)
				return true
			}
		}
		return false
	})
}

type promServer struct{ base string }

// startPrometheus runs prometheus with a one-second scrape and evaluation
// interval on a loopback port, its storage in a temporary directory.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	rulesPath, err := filepath.Abs("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
- job_name: botwarden
  static_configs:
  - targets: [%q]
`, rulesPath, target)
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--config.file="+confPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--storage.tsdb.retention.time=1h")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	p := &promServer{base: "http://" + addr}
	waitFor(t, 30*time.Second, "prometheus ready", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited: %v\n%s", err, out.String())
		default:
		}
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

func (p *promServer) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if env.Status != "success" {
		t.Fatalf("%s: %s", path, env.Error)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// query returns the series of an instant query.
func (p *promServer) query(t *testing.T, q string) []json.RawMessage {
	t.Helper()
	var data struct {
		Result []json.RawMessage `json:"result"`
	}
	p.get(t, "/api/v1/query?query="+url.QueryEscape(q), &data)
	return data.Result
}

type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func (p *promServer) alerts(t *testing.T) []alert {
	t.Helper()
	var data struct {
		Alerts []alert `json:"alerts"`
	}
	p.get(t, "/api/v1/alerts", &data)
	return data.Alerts
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkDashboardQueries runs every Grafana panel query in the live
// Prometheus (variables expanded as Grafana would, over a 30 s window
// since the scrape is every second): each must evaluate without error, and
// the decision panels must show the traffic the test sent.
func checkDashboardQueries(t *testing.T, prom *promServer) {
	t.Helper()
	qs, err := grafana.Queries()
	if err != nil {
		t.Fatal(err)
	}
	mustHaveData := map[string]bool{"Decisions by action": true, "Decisions by category": true, "Decision latency": true, "ALS entries": true}
	// rate() needs two samples in the window: wait for the traffic's.
	waitFor(t, 30*time.Second, "decisions in a rate window", func() bool {
		return len(prom.query(t, `sum(rate(botwarden_checks_total[30s])) > 0`)) == 1
	})
	for _, q := range qs {
		expr := grafana.Expand(q.Expr, "30s", "botwarden")
		res := prom.query(t, expr) // fails the test on an evaluation error
		if mustHaveData[q.Panel] && len(res) == 0 {
			t.Errorf("panel %q: %s returned no series after traffic", q.Panel, expr)
		}
	}
}
