package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/detect"
)

func TestCompileExample(t *testing.T) {
	p, err := LoadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode() != detect.ModeMitigate {
		t.Fatalf("mode %s", p.Mode())
	}
	// AI presets run before bot_fight whatever the listed order.
	if got := strings.Join(p.Presets(), ","); got != "block_ai_training,allow_ai_search,bot_fight" {
		t.Fatalf("preset order %s", got)
	}
	rules := p.Rules()
	if rules[0].ID != "health-checks" || rules[len(rules)-1].ID != "bot_fight.likely_automated" {
		t.Fatalf("rule order: first %s last %s", rules[0].ID, rules[len(rules)-1].ID)
	}
	var disabled, limited int
	for _, r := range rules {
		if !r.Enabled {
			disabled++
		}
		if r.RateLimit != "" {
			limited++
		}
	}
	if disabled != 1 || limited != 2 || len(p.rules) != len(rules)-1 {
		t.Fatalf("disabled %d limited %d enabled %d of %d", disabled, limited, len(p.rules), len(rules))
	}
	if err := Validate("testdata/example.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultAndPresetsCompile(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if p.Source() != DefaultSource || p.Mode() != detect.ModeMitigate || len(p.Presets()) != 1 || p.Presets()[0] != "bot_fight" {
		t.Fatalf("default policy: %s %s %v", p.Source(), p.Mode(), p.Presets())
	}
	names := PresetNames()
	if len(names) != 4 {
		t.Fatalf("presets: %v", names)
	}
	for _, n := range names {
		if _, err := Compile([]byte("presets: ["+n+"]"), n); err != nil {
			t.Errorf("preset %s: %v", n, err)
		}
	}
}

// Each case is a policy with problems and the substrings the error must
// contain: the rule id, the field, the line, the cause.
func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level field", "mode: monitor\nrulez: []\n", []string{"line 2", "field rulez not found in the policy"}},
		{"typo in a rule field", "rules:\n  - id: a\n    expresion: 'true'\n    action: block\n", []string{"line 3", "field expresion not found in a rule"}},
		{"typo in rate_limit", "rules:\n  - id: a\n    expression: 'true'\n    action: rate_limit\n    rate_limit: {key: ip, request: 5, period: 1m}\n", []string{"line 5", "field request not found in rate_limit"}},
		{"wrong type", "mode: [monitor]\n", []string{"line 1", "cannot unmarshal"}},
		{"bad mode", "mode: enforce\n", []string{"mode", `"enforce" is not one of monitor, inject, mitigate`}},
		{"bad host mode", "hosts: {a.example.com: block}\n", []string{"hosts.a.example.com", `"block"`}},
		{"bad host pattern", "hosts: {'https://a.example.com/': monitor}\n", []string{"hosts.https://a.example.com/", "not a host name"}},
		{"version", "version: 2\n", []string{"version", "unsupported version 2"}},
		{"unknown preset", "presets: [bot_fihgt]\n", []string{"presets", `unknown preset "bot_fihgt"`, "bot_fight"}},
		{"preset twice", "presets: [bot_fight, bot_fight]\n", []string{"listed twice"}},
		{"two documents", "mode: monitor\n---\nmode: inject\n", []string{"line 2", "more than one YAML document"}},
		{"missing id", "rules:\n  - expression: 'true'\n    action: block\n", []string{"line 2", "id", "required"}},
		{"bad id", "rules:\n  - id: 'a b'\n    expression: 'true'\n    action: block\n", []string{`rule "a b" id`, "letters, digits"}},
		{"reserved id", "rules:\n  - id: default\n    expression: 'true'\n    action: block\n", []string{"reserved"}},
		{"duplicate id", "rules:\n  - {id: a, expression: 'true', action: log}\n  - {id: a, expression: 'true', action: log}\n", []string{`rule "a" id (line 3): duplicate`}},
		{"unknown action", "rules:\n  - {id: a, expression: 'true', action: deny}\n", []string{`rule "a" action (line 2)`, `"deny" is not one of allow, block`}},
		{"missing expression", "rules:\n  - {id: a, action: block}\n", []string{`rule "a" expression`, "required"}},
		{"not bool", "rules:\n  - {id: a, expression: 'bot.score', action: block}\n", []string{`rule "a" expression`, "must return bool, returns int"}},
		{"undeclared", "rules:\n  - {id: a, expression: 'bot.scroe < 30', action: block}\n", []string{`rule "a" expression`, "undefined field 'scroe'"}},
		{"syntax", "rules:\n  - {id: a, expression: 'bot.score <', action: block}\n", []string{`rule "a" expression`, "Syntax error"}},
		{"bad cidr literal", "rules:\n  - {id: a, expression: \"ip.in_cidr(ip.src, ['10.0.0.0/8', '10.0.0.0/40'])\", action: block}\n", []string{"10.0.0.0/40", "out of range"}},
		{"bad regex literal", "rules:\n  - {id: a, expression: \"http.path.matches('[')\", action: block}\n", []string{`rule "a" expression`, "missing closing ]"}},
		{"rate_limit action needs a limit", "rules:\n  - {id: a, expression: 'true', action: rate_limit}\n", []string{"rate_limit", "required for action rate_limit"}},
		{"limit on allow", "rules:\n  - {id: a, expression: 'true', action: allow, rate_limit: {requests: 1, period: 1s}}\n", []string{"cannot allow or skip"}},
		{"bad limit", "rules:\n  - {id: a, expression: 'true', action: rate_limit, rate_limit: {requests: 0, period: 0s}}\n", []string{"rate_limit.requests", "rate_limit.period"}},
		{"bad key", "rules:\n  - {id: a, expression: 'true', action: rate_limit, rate_limit: {key: cookie, requests: 1, period: 1s}}\n", []string{"rate_limit.key", `"cookie" is not ip, session, ja4 or header:<name>`}},
		{"empty header key", "rules:\n  - {id: a, expression: 'true', action: rate_limit, rate_limit: {key: 'header:', requests: 1, period: 1s}}\n", []string{"needs a header name"}},
		{"key and expression", "rules:\n  - {id: a, expression: 'true', action: rate_limit, rate_limit: {key: ip, key_expression: 'ip.src', requests: 1, period: 1s}}\n", []string{"not both"}},
		{"key expression not string", "rules:\n  - {id: a, expression: 'true', action: rate_limit, rate_limit: {key_expression: 'bot.score', requests: 1, period: 1s}}\n", []string{"rate_limit.key_expression", "must return string"}},
		{"challenge on block", "rules:\n  - {id: a, expression: 'true', action: block, challenge: {difficulty: 10}}\n", []string{"only for managed_challenge"}},
		{"difficulty", "rules:\n  - {id: a, expression: 'true', action: managed_challenge, challenge: {difficulty: 99}}\n", []string{"challenge.difficulty", "got 99"}},
		{"too many rules", "rules:\n" + strings.Repeat("  - {id: r, expression: 'true', action: log}\n", maxRules+1), []string{"1001 rules, more than the 1000 allowed"}},
		{"disabled rules are still checked", "rules:\n  - {id: a, expression: 'nope', action: block, enabled: false}\n", []string{`rule "a" expression`, "undeclared reference to 'nope'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]byte(tt.yaml), "test.yaml")
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestCompileReportsEveryBadRule(t *testing.T) {
	src := `
rules:
  - id: good
    expression: bot.score < 30
    action: block
  - id: first-bad
    expression: bot.scor < 30
    action: block
  - id: second-bad
    expression: http.path.startsWith(1)
    action: managed_challenge
  - id: third-bad
    expression: "true"
    action: blok
`
	_, err := Compile([]byte(src), "multi.yaml")
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("want *LoadError, got %v", err)
	}
	got := map[string]int{}
	for _, p := range le.Problems {
		got[p.Rule] = p.Line
	}
	want := map[string]int{"first-bad": 6, "second-bad": 9, "third-bad": 12}
	for id, line := range want {
		if got[id] != line {
			t.Errorf("rule %s: problem at line %d, want %d (all: %v)", id, got[id], line, le.Problems)
		}
	}
	if _, ok := got["good"]; ok || len(le.Problems) != 3 {
		t.Errorf("problems: %v", le.Problems)
	}
	if !strings.HasPrefix(err.Error(), "policy multi.yaml: 3 problems") {
		t.Errorf("summary: %s", err)
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("#"+strings.Repeat("x", maxFileSize+10)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Validate(big); err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Fatalf("oversized file: %v", err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadFile(empty)
	if err != nil || p.Mode() != detect.ModeMitigate || len(p.Rules()) != 0 {
		t.Fatalf("empty file is an empty mitigate policy: %v %v", p, err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Debounce = -1
	c.RateLimit.Shards = 0
	err := c.Validate()
	for _, f := range []string{"debounce", "rate_limit.shards"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("error does not name %s: %v", f, err)
		}
	}
}
