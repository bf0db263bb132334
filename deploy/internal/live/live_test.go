package live

import (
	"strings"
	"testing"
)

// TestCheckCatchesMistakes: the query check fails for each kind of mistake
// a dashboard or alert rule makes, against a live botwarden's exports.
func TestCheckCatchesMistakes(t *testing.T) {
	bw := Start(t)
	bw.Traffic(t, 1)
	e := bw.Exports(t)
	cases := []struct{ query, wantErr string }{
		{`sum(rate(botwarden_checks_total[5m]))`, ""},
		{`histogram_quantile(0.99, sum by (le) (rate(botwarden_decision_seconds_bucket{job="x"}[5m])))`, ""},
		{`up{job="botwarden"} == 0`, ""},
		{`rate(botwarden_check_total[5m])`, "does not export botwarden_check_total"},
		{`rate(botwarden_checks_total{verdict="block"}[5m])`, `no label "verdict"`},
		{`sum by (reason) (rate(botwarden_checks_total[5m]))`, `no label "reason"`},
		{`rate(botwarden_decision_seconds[5m])`, "does not export botwarden_decision_seconds"},
		{`a / on(engine) rate(botwarden_checks_total[5m])`, "does not export a"},
		{`rate(botwarden_checks_total[5m]`, "parse"},
	}
	for _, c := range cases {
		err := e.Check(c.query)
		if c.wantErr == "" && err != nil {
			t.Errorf("%s: %v", c.query, err)
		}
		if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: err %v, want %q", c.query, err, c.wantErr)
		}
	}
}
