package grafana

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/deploy/internal/live"
)

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func load(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile("botwarden.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("botwarden.json: %v", err)
	}
	return d
}

// query is one PromQL expression and where it is.
type query struct{ where, expr string }

func queries(d dashboard) []query {
	var out []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, query{p.Title, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// grafanaVars are the variables Grafana replaces before a query reaches
// Prometheus, with values of the right kind for the parser.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "6h",
	"${job}", "botwarden", "$job", "botwarden",
)

// labelValues is a query variable's label_values(metric, label).
var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// TestDashboardQueriesMatchLiveMetrics parses every panel query with
// Prometheus's PromQL parser and checks each metric and label it names
// against the /metrics of a real botwarden that has served browser and bot
// traffic through a gateway and its access log.
func TestDashboardQueriesMatchLiveMetrics(t *testing.T) {
	d := load(t)
	bw := live.Start(t)
	bw.Traffic(t, 3)
	bw.BreakPolicy(t)
	exported := bw.Exports(t)

	qs := queries(d)
	if len(qs) == 0 {
		t.Fatal("no queries")
	}
	for _, q := range qs {
		if err := exported.Check(grafanaVars.Replace(q.expr)); err != nil {
			t.Errorf("panel %q: %s\n  %v", q.where, q.expr, err)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var text string
		switch q := v.Query.(type) {
		case string:
			text = q
		case map[string]any:
			text, _ = q["query"].(string)
		}
		m := labelValues.FindStringSubmatch(text)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, text)
			continue
		}
		if !exported[m[1]][m[2]] {
			t.Errorf("variable %s: botwarden exports no %s with label %s", v.Name, m[1], m[2])
		}
	}
}

// TestDashboardCoversTheMetrics: each thing a platform team watches has a
// panel.
func TestDashboardCoversTheMetrics(t *testing.T) {
	var all strings.Builder
	for _, q := range queries(load(t)) {
		all.WriteString(q.expr + "\n")
	}
	for _, want := range []string{
		`sum by (action) (rate(botwarden_checks_total`, `sum by (category) (rate(botwarden_checks_total`,
		"botwarden_ml_score_bucket", "histogram_quantile(0.5, sum by (le, transport) (rate(botwarden_decision_seconds_bucket",
		"histogram_quantile(0.99, sum by (le, transport) (rate(botwarden_decision_seconds_bucket",
		"botwarden_deadline_fallbacks_total", "botwarden_engine_errors_total", "botwarden_als_entries_total",
		`result="dropped"`, "botwarden_behavior_lag_seconds_bucket", "botwarden_behavior_verdicts_total",
		"botwarden_challenge_issued_total", "botwarden_challenge_submissions_total", "botwarden_session_cookie_total",
		"botwarden_session_cookie_issued_total", "botwarden_policy_reload_total", "botwarden_policy_rule_errors_total",
	} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no panel queries %s", want)
		}
	}
}

// TestDashboardLayout: unique panel ids, a data source on every panel that
// queries, and panels inside Grafana's 24-column grid.
func TestDashboardLayout(t *testing.T) {
	d := load(t)
	if d.UID == "" {
		t.Error("no uid: imports would duplicate the dashboard")
	}
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if len(p.Targets) > 0 && (p.Datasource == nil || p.Datasource.UID != "${datasource}") {
				t.Errorf("panel %q does not use the datasource variable", p.Title)
			}
			if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("panel %q gridPos %+v is outside the grid", p.Title, g)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
}
