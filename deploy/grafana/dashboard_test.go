package grafana

import (
	"regexp"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	gdashboard "github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/botwarden/botwarden/deploy/internal/live"
)

func load(t *testing.T) dashboard {
	t.Helper()
	d, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

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
		if err := exported.Check(Expand(q.Expr, "5m", "botwarden")); err != nil {
			t.Errorf("panel %q: %s\n  %v", q.Panel, q.Expr, err)
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
		all.WriteString(q.Expr + "\n")
	}
	for _, want := range []string{
		`sum by (action) (rate(botwarden_checks_total`, `sum by (category) (rate(botwarden_checks_total`,
		"botwarden_als_bot_score_bucket", "botwarden_ml_score_bucket", "histogram_quantile(0.5, sum by (le, transport) (rate(botwarden_decision_seconds_bucket",
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

// TestDashboardMatchesGrafanaSchema decodes the file strictly into the
// Grafana foundation SDK's dashboard types (generated from Grafana's own
// schema): an unknown or misspelt field, a wrong type or a missing required
// field is an error. Grafana itself is not packaged by Debian, so the file
// is not loaded into a running Grafana here.
func TestDashboardMatchesGrafanaSchema(t *testing.T) {
	data := JSON
	if err := strictDashboard(data); err != nil {
		t.Fatalf("botwarden.json against Grafana's dashboard schema: %v", err)
	}
	// The check itself must catch a misspelt panel field.
	bad := strings.Replace(string(data), `"gridPos": {`, `"gridPoz": {"x": 0}, "gridPos": {`, 1)
	if err := strictDashboard([]byte(bad)); err == nil {
		t.Fatal("a misspelt panel field passed the strict decode")
	}
}

// strictDashboard is UnmarshalJSONStrict, whose generated code returns an
// empty (but non-nil) cog.BuildErrors when there is nothing wrong.
func strictDashboard(data []byte) error {
	err := (&gdashboard.Dashboard{}).UnmarshalJSONStrict(data)
	if be, ok := err.(cog.BuildErrors); ok && len(be) == 0 {
		return nil
	}
	return err
}
