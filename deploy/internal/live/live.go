// Package live runs a real botwarden on loopback with traffic through a
// gateway, for the tests of what watches it (the Grafana dashboard, the
// Prometheus alerts): what it exports on /metrics is what they must query,
// and its faults are what they must see.
package live

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/e2e"
	"github.com/botwarden/botwarden/e2e/fetch"
	"github.com/botwarden/botwarden/e2e/gateway"
)

// Botwarden is a running botwarden, its gateway and its policy file.
type Botwarden struct {
	*e2e.Botwarden
	Gateway    gateway.Gateway
	policyFile string
}

// goodPolicy is the embedded default's preset with rules of our own (one
// challenges every client on /login), so a reload has a file to re-read.
const goodPolicy = `version: 1
mode: mitigate
presets: [bot_fight]
rules:
- id: block-admin-scanners
  expression: http.path_only.startsWith('/wp-admin')
  action: block
- id: challenge-login
  expression: http.path_only == '/login'
  action: managed_challenge
`

// Start runs botwarden (config.Default on loopback, a policy file it can
// reload), an origin and the in-repo gateway, which streams its access log
// to botwarden as Envoy does.
func Start(t testing.TB) *Botwarden {
	t.Helper()
	pf := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pf, []byte(goodPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	bw := e2e.StartBotwarden(t, func(c *config.Config) {
		c.Policy.File = pf
		c.Policy.Watch = false // reloads come from the test, not from timing
	})
	gw := e2e.StartGateway(t, "in-repo", bw, e2e.StartOrigin(t), gateway.Options{})
	return &Botwarden{Botwarden: bw, Gateway: gw, policyFile: pf}
}

var clients = []struct {
	name    string
	headers []string
}{
	{"browser", []string{
		"User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
		"Accept-Language", "en-US,en;q=0.9", "Accept-Encoding", "gzip, deflate, br",
		"Sec-Ch-Ua", `"Chromium";v="131", "Google Chrome";v="131", "Not-A.Brand";v="24"`,
		"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none"}},
	{"curl", []string{"User-Agent", "curl/8.5.0", "Accept", "*/*"}},
	{"python", []string{"User-Agent", "python-requests/2.32.3", "Accept", "*/*", "Accept-Encoding", "gzip, deflate"}},
	{"headless", []string{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
		"Accept", "text/html"}},
	{"fake googlebot", []string{"User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Accept", "*/*"}},
}

// Traffic sends n rounds of requests from browsers and bots through the
// gateway (returning browsers send their session cookie back), posts a
// malformed challenge answer, and returns once the access log of those
// requests has reached botwarden.
func (b *Botwarden) Traffic(t testing.TB, n int) {
	t.Helper()
	before := b.Value(t, "botwarden_als_entries_total", nil)
	cookies := map[string]string{}
	sent := 0
	for i := range n {
		path := fmt.Sprintf("/products/%d", i)
		if i%3 == 1 {
			path = "/login"
		}
		for _, c := range clients {
			req, err := http.NewRequest("GET", b.Gateway.URL()+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for j := 0; j+1 < len(c.headers); j += 2 {
				req.Header.Set(c.headers[j], c.headers[j+1])
			}
			if ck := cookies[c.name]; ck != "" {
				req.Header.Set("Cookie", ck)
			}
			resp, _ := fetch.Do(t, req)
			sent++
			for _, sc := range resp.Cookies() {
				cookies[c.name] = sc.Name + "=" + sc.Value
			}
		}
	}
	// A challenge answer that is not one.
	req, _ := http.NewRequest("POST", "http://"+b.HTTPAddr+"/.well-known/botwarden/challenge", strings.NewReader("ticket=forged&nonce=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	fetch.Do(t, req)

	deadline := time.Now().Add(20 * time.Second)
	for b.Value(t, "botwarden_als_entries_total", nil)-before < float64(sent) {
		if time.Now().After(deadline) {
			t.Fatalf("botwarden received %v of %d access-log entries", b.Value(t, "botwarden_als_entries_total", nil)-before, sent)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BreakPolicy writes a policy that does not compile and reloads it: the
// previous policy stays and botwarden_policy_reload_total{result="error"}
// counts it.
func (b *Botwarden) BreakPolicy(t testing.TB) {
	t.Helper()
	if err := os.WriteFile(b.policyFile, []byte("version: 1\nrules:\n- id: broken\n  expression: 'http.path_only ==='\n  action: block\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Server.Reload(); err == nil {
		t.Fatal("botwarden accepted a policy that does not compile")
	}
}

// Families scrapes /metrics and parses it as Prometheus would.
func (b *Botwarden) Families(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + b.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	return mfs
}

// Value is the sum of metric name's series carrying labels (scraped).
func (b *Botwarden) Value(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	total := 0.0
	mf := b.Families(t)[name]
	for _, m := range mf.GetMetric() {
		ok := true
		for k, v := range labels {
			ok = ok && slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v })
		}
		if ok {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
	}
	return total
}

// Exported is what a scrape of botwarden holds: every series name (with a
// histogram's _bucket, _sum and _count) and the label names it carries.
type Exported map[string]map[string]bool

// scrapeLabels are the labels Prometheus adds to every scraped series.
var scrapeLabels = []string{"job", "instance"}

// Exports reads /metrics into an Exported.
func (b *Botwarden) Exports(t testing.TB) Exported {
	t.Helper()
	out := Exported{}
	add := func(name string, labels []*dto.LabelPair, extra ...string) {
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		for _, l := range labels {
			out[name][l.GetName()] = true
		}
		for _, l := range append(extra, scrapeLabels...) {
			out[name][l] = true
		}
	}
	for name, mf := range b.Families(t) {
		for _, m := range mf.GetMetric() {
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				add(name+"_bucket", m.GetLabel(), "le")
				add(name+"_sum", m.GetLabel())
				add(name+"_count", m.GetLabel())
			case dto.MetricType_SUMMARY:
				add(name, m.GetLabel(), "quantile")
				add(name+"_sum", m.GetLabel())
				add(name+"_count", m.GetLabel())
			default:
				add(name, m.GetLabel())
			}
		}
	}
	// up is Prometheus's own series for each scrape target.
	add("up", nil)
	return out
}

// Check parses query with Prometheus's PromQL parser and reports every
// metric it selects that botwarden does not export and every label it
// matches, groups or joins on that the metric does not carry.
func (e Exported) Check(query string) error {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(query)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	var problems []string
	parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			problems = append(problems, fmt.Sprintf("selector %s names no metric", vs))
			return nil
		}
		labels, ok := e[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("botwarden does not export %s", name))
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name != model.MetricNameLabel && !labels[m.Name] {
				problems = append(problems, fmt.Sprintf("%s has no label %q", name, m.Name))
			}
		}
		// Labels an enclosing aggregation groups by, or a binary
		// operation matches on, must be the metric's.
		for _, p := range path {
			var used []string
			switch x := p.(type) {
			case *parser.AggregateExpr:
				used = x.Grouping
			case *parser.BinaryExpr:
				if x.VectorMatching != nil {
					used = append(slices.Clone(x.VectorMatching.MatchingLabels), x.VectorMatching.Include...)
				}
			}
			for _, l := range used {
				if !labels[l] {
					problems = append(problems, fmt.Sprintf("%s: no label %q to group or match on", name, l))
				}
			}
		}
		return nil
	})
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%s", strings.Join(slices.Compact(problems), "; "))
	}
	return nil
}
