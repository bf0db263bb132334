package readmetest

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type sample struct {
	File     string        `yaml:"file"`
	Debounce time.Duration `yaml:"debounce"`
	Hosts    []string      `yaml:"hosts"`
	Limit    struct {
		MaxKeys int `yaml:"max_keys"`
	} `yaml:"limit"`
	Ignored int `yaml:"-"`
}

func sampleDefaults() sample {
	s := sample{Debounce: 250 * time.Millisecond}
	s.Limit.MaxKeys = 64
	return s
}

const goodReadme = "# x\n\n## Configuration\n\n" +
	"| field | default | meaning |\n|---|---|---|\n" +
	"| `file` | `\"\"` | the file |\n" +
	"| `debounce` | `250ms` | quiet time |\n" +
	"| `hosts` | `[]` | hosts |\n" +
	"| `limit.max_keys` | `64` | keys |\n\n" +
	"## Metrics\n\n| metric | labels |\n|---|---|\n| `botwarden_x_total` | `result`: ok, error |\n\n" +
	"## Detection IDs and tags\n\n| id | meaning |\n|---|---|\n| `4001` | a rule |\n\nTags: `some-tag`.\n"

func TestSection(t *testing.T) {
	doc := "## A\none\n```\n## not a heading\n```\n## B\ntwo\n"
	if got := Section(doc, "A"); !strings.Contains(got, "one") || !strings.Contains(got, "not a heading") || strings.Contains(got, "two") {
		t.Fatalf("Section(A) = %q", got)
	}
	if got := Section(doc, "C"); got != "" {
		t.Fatalf("Section(C) = %q", got)
	}
}

func register(reg prometheus.Registerer) error {
	return reg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_x_total", Help: `a "quoted" help`}, []string{"result"}))
}

// failing lists the sections problems complains about.
func failing(readme string, facts Facts) []string {
	var out []string
	for _, err := range problems(readme, facts) {
		part, _, _ := strings.Cut(err.Error(), ":")
		if !slices.Contains(out, part) {
			out = append(out, part)
		}
	}
	return out
}

func TestCheck(t *testing.T) {
	facts := Facts{Config: sampleDefaults(), Register: register, DetectionIDs: []int{4001}, Tags: []string{"some-tag"}}
	tests := []struct {
		name   string
		readme string
		facts  Facts
		want   []string // the parts that must fail
	}{
		{"matches", goodReadme, facts, nil},
		{"wrong default", strings.Replace(goodReadme, "`250ms`", "`1s`", 1), facts, []string{HeadingConfig}},
		{"default not in backticks", strings.Replace(goodReadme, "`64`", "64", 1), facts, []string{HeadingConfig}},
		{"missing field row", strings.Replace(goodReadme, "| `hosts` | `[]` | hosts |\n", "", 1), facts, []string{HeadingConfig}},
		{"row for no field", strings.Replace(goodReadme, "| `file`", "| `gone` | `1` | x |\n| `file`", 1), facts, []string{HeadingConfig}},
		{"metric missing", strings.Replace(goodReadme, "botwarden_x_total", "botwarden_y_total", 1), facts, []string{HeadingMetrics}},
		{"label missing", strings.Replace(goodReadme, "`result`: ok", "ok", 1), facts, []string{HeadingMetrics}},
		{"id missing", strings.Replace(goodReadme, "`4001`", "`4002`", 1), facts, []string{HeadingIDs}},
		{"tag missing", strings.Replace(goodReadme, "`some-tag`", "some-tag", 1), facts, []string{HeadingIDs}},
		{"no sections", "# x\n", facts, []string{"no \"## Configuration\" section", "no \"## Metrics\" section", "no \"## Detection IDs and tags\" section"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failing(tt.readme, tt.facts); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("failed parts = %v, want %v", got, tt.want)
			}
		})
	}
}

type jsonSample struct {
	Name    string `json:"name"`
	Headers struct {
		Score string `json:"score"`
	} `json:"headers"`
}

func TestCheckJSONTags(t *testing.T) {
	var def jsonSample
	def.Name, def.Headers.Score = "__bw", "x-bot-score"
	facts := Facts{Config: def, ConfigTag: "json"}
	readme := "## Configuration\n\n| field | default | meaning |\n|---|---|---|\n" +
		"| `name` | `\"__bw\"` | cookie |\n| `headers.score` | `\"x-bot-score\"` | header |\n"
	if errs := problems(readme, facts); len(errs) != 0 {
		t.Fatalf("problems: %v", errs)
	}
	if errs := problems(strings.Replace(readme, "x-bot-score", "x-score", 1), facts); len(errs) != 1 {
		t.Fatalf("a wrong JSON default: problems %v, want one", errs)
	}
}

func TestParseDesc(t *testing.T) {
	d := prometheus.NewDesc("botwarden_a_b", `help with "quotes", commas {and braces}`, []string{"x", "y"}, prometheus.Labels{"k": "v"})
	m, err := parseDesc(d)
	if err != nil {
		t.Fatal(err)
	}
	if m.name != "botwarden_a_b" || !reflect.DeepEqual(m.labels, []string{"x", "y"}) {
		t.Fatalf("parseDesc = %+v", m)
	}
}

func TestShow(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{time.Minute, "`1m`"},
		{90 * time.Minute, "`1h30m`"},
		{250 * time.Millisecond, "`250ms`"},
		{[]string{"a", "b"}, "`[a, b]`"},
		{"", "`\"\"`"},
		{true, "`true`"},
	}
	for _, tt := range tests {
		if got := show(reflect.ValueOf(tt.v)); got != tt.want {
			t.Errorf("show(%v) = %s, want %s", tt.v, got, tt.want)
		}
	}
}
