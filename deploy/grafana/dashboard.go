package grafana

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// JSON is the dashboard file, botwarden.json.
//
//go:embed botwarden.json
var JSON []byte

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

func parse() (dashboard, error) {
	var d dashboard
	if err := json.Unmarshal(JSON, &d); err != nil {
		return d, fmt.Errorf("botwarden.json: %w", err)
	}
	return d, nil
}

// Query is one panel query.
type Query struct {
	Panel string // the panel's title
	Expr  string // PromQL with Grafana's variables in it
}

// Queries returns every panel query of the dashboard, rows' panels included.
func Queries() ([]Query, error) {
	d, err := parse()
	if err != nil {
		return nil, err
	}
	return queries(d), nil
}

func queries(d dashboard) []Query {
	var out []Query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, Query{p.Title, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// Expand replaces the Grafana variables the queries use ($__rate_interval,
// $__interval, $__range, $job) the way Grafana would before sending them to
// Prometheus, with rate as the rate window and job as the job regex.
func Expand(expr, rate, job string) string {
	return strings.NewReplacer(
		"$__rate_interval", rate, "$__interval", rate, "$__range", "6h",
		"${job}", job, "$job", job,
	).Replace(expr)
}
