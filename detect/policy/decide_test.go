package policy

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ratelimit"
	"github.com/botwarden/botwarden/internal/metricstest"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// newDecider writes src to a policy file and builds a Decider on it with a
// fresh registry and a frozen clock (src "" uses the embedded default).
func newDecider(t testing.TB, src string, opts ...Option) (*Decider, *prometheus.Registry) {
	t.Helper()
	cfg := DefaultConfig()
	if src != "" {
		cfg.File = filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(cfg.File, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	opts = append([]Option{WithClock(func() time.Time { return t0 })}, opts...)
	d, err := New(cfg, zerolog.Nop(), reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d, reg
}

// browser is a typical browser navigation.
func browser() *detect.Request {
	return &detect.Request{
		ClientIP: netip.MustParseAddr("198.51.100.7"),
		Method:   "GET", Scheme: "https", Host: "shop.example.com", Path: "/products/42?ref=home", Protocol: "HTTP/2",
		Headers: detect.Headers{
			"user-agent":      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
			"accept-language": "en-GB,en;q=0.9",
			"sec-ch-ua":       `"Chromium";v="126", "Not.A/Brand";v="24"`,
			"sec-fetch-mode":  "navigate",
			"cookie":          "theme=dark; cart=abc",
			detect.HeaderJA4:  "t13d1516h2_8daaf6152771_02713d6af862",
		},
	}
}

func decide(d *Decider, r *detect.Request, v *detect.Verdict) *detect.Verdict {
	d.Decide(context.Background(), r, v)
	return v
}

type want struct {
	action, enforced detect.Action
	rule             string
	mode             detect.Mode
}

func check(t *testing.T, v *detect.Verdict, w want) {
	t.Helper()
	if w.mode == "" {
		w.mode = detect.ModeMitigate
	}
	if v.Action != w.action || v.EnforcedAction != w.enforced || v.RuleID != w.rule || v.Mode != w.mode {
		t.Fatalf("got action %s enforced %s rule %s mode %s; want %+v", v.Action, v.EnforcedAction, v.RuleID, v.Mode, w)
	}
}

func TestDefaultPolicy(t *testing.T) {
	d, _ := newDecider(t, "")
	verified := &detect.Verdict{Score: 1, Source: detect.SourceHeuristics}
	verified.MarkVerified("googlebot", "search_engine")
	tests := []struct {
		name string
		path string
		v    *detect.Verdict
		sess *detect.Session
		want want
	}{
		{"human", "/products/42", &detect.Verdict{Score: 87}, nil, want{detect.ActionAllow, detect.ActionAllow, DefaultRuleID, ""}},
		{"not computed", "/", &detect.Verdict{}, nil, want{detect.ActionAllow, detect.ActionAllow, DefaultRuleID, ""}},
		{"verified bot", "/", verified, nil, want{detect.ActionAllow, detect.ActionAllow, "bot_fight.verified_bot", ""}},
		{"automated", "/", &detect.Verdict{Score: 1}, nil, want{detect.ActionBlock, detect.ActionBlock, "bot_fight.definitely_automated", ""}},
		{"likely automated", "/", &detect.Verdict{Score: 12}, nil, want{detect.ActionManagedChallenge, detect.ActionManagedChallenge, "bot_fight.likely_automated", ""}},
		{"score 29", "/", &detect.Verdict{Score: 29}, nil, want{detect.ActionManagedChallenge, detect.ActionManagedChallenge, "bot_fight.likely_automated", ""}},
		{"score 30", "/", &detect.Verdict{Score: 30}, nil, want{detect.ActionAllow, detect.ActionAllow, DefaultRuleID, ""}},
		{"challenge passed in verdict", "/", &detect.Verdict{Score: 12, ChallengePassed: true}, nil, want{detect.ActionAllow, detect.ActionAllow, DefaultRuleID, ""}},
		{"challenge passed in session", "/", &detect.Verdict{Score: 12}, &detect.Session{ID: "s", ChallengePassed: true}, want{detect.ActionAllow, detect.ActionAllow, DefaultRuleID, ""}},
		{"static resource", "/assets/app.JS?v=3", &detect.Verdict{Score: 1}, nil, want{detect.ActionSkip, detect.ActionAllow, "bot_fight.static_resource", ""}},
		{"well-known", "/.well-known/security.txt", &detect.Verdict{Score: 1}, nil, want{detect.ActionSkip, detect.ActionAllow, "bot_fight.static_resource", ""}},
		{"extension in a directory is not static", "/v1.js/users", &detect.Verdict{Score: 1}, nil, want{detect.ActionBlock, detect.ActionBlock, "bot_fight.definitely_automated", ""}},
		{"exempt: challenge set aside", "/", &detect.Verdict{Score: 12, Reputation: detect.Reputation{Found: true, Exempt: true}}, nil, want{detect.ActionAllow, detect.ActionAllow, ExemptRuleID, ""}},
		{"exempt: block stays", "/", &detect.Verdict{Score: 1, Reputation: detect.Reputation{Found: true, Exempt: true}}, nil, want{detect.ActionBlock, detect.ActionBlock, "bot_fight.definitely_automated", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := browser()
			r.Path, tt.v.Session = tt.path, tt.sess
			check(t, decide(d, r, tt.v), tt.want)
		})
	}
}

// TestRequireJSDetectionOnRoutes: the README's checkout-needs-js rule.
func TestRequireJSDetectionOnRoutes(t *testing.T) {
	d, _ := newDecider(t, `
rules:
  - id: checkout-needs-js
    expression: (http.path_only == '/login' || http.path_only.startsWith('/checkout')) && !bot.js_detection.passed
    action: managed_challenge
`)
	tests := []struct {
		name, path string
		v          *detect.Verdict
		sess       *detect.Session
		want       want
	}{
		{"checkout without a result", "/checkout/pay", &detect.Verdict{Score: 92}, nil, want{detect.ActionManagedChallenge, detect.ActionManagedChallenge, "checkout-needs-js", ""}},
		{"login with a failed result", "/login", &detect.Verdict{Score: 92, JSDetectionChecked: true}, nil, want{detect.ActionManagedChallenge, detect.ActionManagedChallenge, "checkout-needs-js", ""}},
		{"checkout, passed in the session", "/checkout", &detect.Verdict{Score: 92}, &detect.Session{ID: "s", JSPassed: true}, want{detect.ActionAllow, detect.ActionAllow, DefaultRuleID, ""}},
		{"checkout, passed in the verdict", "/checkout", &detect.Verdict{Score: 92, JSDetectionChecked: true, JSDetectionPassed: true}, nil, want{detect.ActionAllow, detect.ActionAllow, DefaultRuleID, ""}},
		{"another page without a result", "/products/1", &detect.Verdict{Score: 92}, nil, want{detect.ActionAllow, detect.ActionAllow, DefaultRuleID, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := browser()
			r.Path, tt.v.Session = tt.path, tt.sess
			check(t, decide(d, r, tt.v), tt.want)
		})
	}
}

const aiPolicy = `
presets: [bot_fight, allow_ai_user, allow_ai_search, block_ai_training]
`

func TestAIPresets(t *testing.T) {
	d, _ := newDecider(t, aiPolicy)
	tests := []struct {
		name string
		v    detect.Verdict
		want want
	}{
		{"verified training crawler is blocked", detect.Verdict{Score: 1, Verified: true, VerifiedCategory: "ai_crawler", AI: true, AICategory: "ai_crawler"},
			want{detect.ActionBlock, detect.ActionBlock, "block_ai_training.ai_crawler", ""}},
		{"unverified AI search bot is allowed", detect.Verdict{Score: 1, AI: true, AICategory: "ai_search"},
			want{detect.ActionAllow, detect.ActionAllow, "allow_ai_search.ai_search", ""}},
		{"spoofed AI search bot is not", detect.Verdict{Score: 1, AI: true, AICategory: "ai_search", Tags: []string{"spoofed-oai-searchbot"}},
			want{detect.ActionBlock, detect.ActionBlock, "bot_fight.definitely_automated", ""}},
		{"user-triggered agent is allowed", detect.Verdict{Score: 1, AI: true, AICategory: "ai_assistant"},
			want{detect.ActionAllow, detect.ActionAllow, "allow_ai_user.ai_assistant", ""}},
		{"other verified bots still pass", detect.Verdict{Score: 1, Verified: true, VerifiedCategory: "search_engine"},
			want{detect.ActionAllow, detect.ActionAllow, "bot_fight.verified_bot", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.v
			check(t, decide(d, browser(), &v), tt.want)
		})
	}
	// Without an AI preset, a verified AI crawler is just a verified bot.
	d2, _ := newDecider(t, "")
	v := detect.Verdict{Score: 1, Verified: true, VerifiedCategory: "ai_crawler", AICategory: "ai_crawler"}
	check(t, decide(d2, browser(), &v), want{detect.ActionAllow, detect.ActionAllow, "bot_fight.verified_bot", ""})
}

const modePolicy = `
mode: mitigate
hosts:
  quiet.example.com: monitor
  "*.example.com": inject
  "*.deep.example.com": mitigate
  "[2001:db8::1]": monitor
rules:
  - {id: block-all, expression: "true", action: block}
`

func TestModes(t *testing.T) {
	d, reg := newDecider(t, modePolicy)
	tests := []struct {
		host  string
		route map[string]string
		mode  detect.Mode
	}{
		{"other.org", nil, detect.ModeMitigate},
		{"quiet.example.com", nil, detect.ModeMonitor},
		{"Quiet.Example.com:8443", nil, detect.ModeMonitor},
		{"quiet.example.com.", nil, detect.ModeMonitor},
		{"a.example.com", nil, detect.ModeInject},
		{"a.b.example.com", nil, detect.ModeInject},
		{"example.com", nil, detect.ModeMitigate}, // *.example.com needs a label before it
		{"x.deep.example.com", nil, detect.ModeMitigate},
		{"[2001:db8::1]:443", nil, detect.ModeMonitor},
		{"quiet.example.com", map[string]string{ContextKeyMode: "mitigate"}, detect.ModeMitigate},
		{"other.org", map[string]string{ContextKeyMode: "monitor"}, detect.ModeMonitor},
	}
	for _, tt := range tests {
		r := browser()
		r.Host, r.ContextExtensions = tt.host, tt.route
		v := decide(d, r, &detect.Verdict{Score: 90})
		enforced := detect.ActionAllow
		if tt.mode == detect.ModeMitigate {
			enforced = detect.ActionBlock
		}
		if v.Mode != tt.mode || v.Action != detect.ActionBlock || v.EnforcedAction != enforced || v.Errors != 0 {
			t.Errorf("host %s route %v: mode %s action %s enforced %s errors %d; want mode %s", tt.host, tt.route, v.Mode, v.Action, v.EnforcedAction, v.Errors, tt.mode)
		}
	}
	// An unknown mode on the route is ignored, counted, and the host decides.
	r := browser()
	r.Host, r.ContextExtensions = "quiet.example.com", map[string]string{ContextKeyMode: "enforce"}
	v := decide(d, r, &detect.Verdict{})
	if v.Mode != detect.ModeMonitor || v.Errors != 1 {
		t.Fatalf("bad route mode: %s errors %d", v.Mode, v.Errors)
	}
	if got := metricstest.Sum(t, reg, "botwarden_policy_route_mode_errors_total", nil); got != 1 {
		t.Fatalf("route mode errors metric = %v", got)
	}
}

const semanticsPolicy = `
rules:
  - {id: tag-curl, expression: "http.user_agent.startsWith('curl/')", action: log}
  - {id: tag-dc, expression: "ip.datacenter", action: log}
  - {id: skip-health, expression: "http.path == '/healthz'", action: skip}
  - {id: off, expression: "true", action: block, enabled: false}
  - {id: needs-header, expression: "http.headers['x-required'] == 'yes'", action: block}
  - {id: js-route, expression: "route.name == 'checkout' && !bot.js_detection.passed", action: js_challenge, challenge: {difficulty: 20}}
  - {id: internal, expression: "ip.in_cidr(ip.src, ['10.0.0.0/8', 'fd00::/8'])", action: allow}
  - {id: block-curl, expression: "http.user_agent.startsWith('curl/')", action: block}
  - {id: block-curl-again, expression: "http.user_agent.startsWith('curl/')", action: managed_challenge}
`

func TestRuleSemantics(t *testing.T) {
	d, reg := newDecider(t, semanticsPolicy)
	curl := func() *detect.Request {
		r := browser()
		r.Headers = detect.Headers{"user-agent": "curl/8.5.0", "x-required": "no"}
		return r
	}

	// log rules tag and continue; the first terminating rule wins.
	v := decide(d, curl(), &detect.Verdict{IP: detect.IPInfo{Datacenter: true}})
	check(t, v, want{detect.ActionBlock, detect.ActionBlock, "block-curl", ""})
	if !v.HasTag("rule:tag-curl") || !v.HasTag("rule:tag-dc") || v.Errors != 0 {
		t.Fatalf("tags %v errors %d", v.Tags, v.Errors)
	}

	// skip stops before any later rule.
	r := curl()
	r.Path = "/healthz"
	v = decide(d, r, &detect.Verdict{})
	check(t, v, want{detect.ActionSkip, detect.ActionAllow, "skip-health", ""})

	// A rule that fails at run time (missing header) is skipped and counted.
	r = curl()
	delete(r.Headers, "x-required")
	v = decide(d, r, &detect.Verdict{})
	check(t, v, want{detect.ActionBlock, detect.ActionBlock, "block-curl", ""})
	if v.Errors != 1 {
		t.Fatalf("errors %d, want 1", v.Errors)
	}
	if got := metricstest.Sum(t, reg, "botwarden_policy_rule_errors_total", map[string]string{"rule": "needs-header"}); got != 1 {
		t.Fatalf("rule errors metric = %v", got)
	}

	// Challenge difficulty comes from the rule.
	r = browser()
	r.ContextExtensions = map[string]string{ContextKeyRoute: "checkout"}
	r.Headers["x-required"] = "no"
	v = decide(d, r, &detect.Verdict{Score: 80})
	check(t, v, want{detect.ActionJSChallenge, detect.ActionJSChallenge, "js-route", ""})
	if v.ChallengeDifficulty != 20 {
		t.Fatalf("difficulty %d", v.ChallengeDifficulty)
	}
	check(t, decide(d, r, &detect.Verdict{Score: 80, Session: &detect.Session{ID: "s1", JSChecked: true, JSPassed: true}}), want{detect.ActionAllow, detect.ActionAllow, DefaultRuleID, ""})

	// CIDR lists, IPv4-mapped addresses included; a curl UA from inside is allowed first.
	for _, ip := range []string{"10.9.8.7", "::ffff:10.1.1.1", "fd00::5"} {
		r = curl()
		r.ClientIP = netip.MustParseAddr(ip)
		check(t, decide(d, r, &detect.Verdict{}), want{detect.ActionAllow, detect.ActionAllow, "internal", ""})
	}

	// Hits are counted per rule and action, including the default.
	if got := metricstest.Sum(t, reg, "botwarden_policy_rule_hits_total", map[string]string{"rule": "block-curl", "action": "block"}); got != 2 {
		t.Fatalf("block-curl hits = %v", got)
	}
	if got := metricstest.Sum(t, reg, "botwarden_policy_rule_hits_total", map[string]string{"rule": "default", "action": "allow"}); got != 1 {
		t.Fatalf("default hits = %v", got)
	}
	if got := metricstest.Sum(t, reg, "botwarden_policy_rule_hits_total", map[string]string{"rule": "tag-curl", "action": "log"}); got < 1 {
		t.Fatalf("log hits = %v", got)
	}
}

func TestCostLimitStopsPathologicalRules(t *testing.T) {
	src := `
rules:
  - id: explode
    expression: "bot.tags.all(a, bot.tags.all(b, bot.tags.all(c, a + b + c != 'x')))"
    action: block
  - {id: after, expression: "true", action: managed_challenge}
`
	d, reg := newDecider(t, src)
	v := &detect.Verdict{}
	for i := range 1000 {
		v.Tags = append(v.Tags, strings.Repeat("t", i%7+1)+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	// 10^9 iterations without a limit; the cost limit stops it early.
	decide(d, browser(), v)
	check(t, v, want{detect.ActionManagedChallenge, detect.ActionManagedChallenge, "after", ""})
	if v.Errors != 1 || metricstest.Sum(t, reg, "botwarden_policy_rule_errors_total", map[string]string{"rule": "explode"}) != 1 {
		t.Fatalf("errors %d", v.Errors)
	}
}

func TestDecideHonoursCancelledContext(t *testing.T) {
	src := `
rules:
  - {id: loop, expression: "bot.tags.all(t, t == '')", action: block}
`
	d, reg := newDecider(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v := &detect.Verdict{Tags: make([]string, 10_000)}
	d.Decide(ctx, browser(), v)
	// Evaluated to the end, the rule would block; interrupted, it does not
	// match. Out of time is not a rule error: nothing is counted against the rule.
	if got := metricstest.Sum(t, reg, "botwarden_policy_rule_errors_total", map[string]string{"rule": "loop"}); got != 0 || v.Errors != 0 {
		t.Fatalf("errors metric %v, verdict errors %d", got, v.Errors)
	}
	if v.Action != detect.ActionAllow {
		t.Fatalf("action %s", v.Action)
	}
}

const limitPolicy = `
rules:
  - id: per-ip
    expression: "http.path_only == '/ip'"
    action: rate_limit
    rate_limit: {key: ip, requests: 2, period: 1m}
  - id: per-session
    expression: "http.path_only == '/session'"
    action: rate_limit
    rate_limit: {key: session, requests: 2, period: 1m}
  - id: per-ja4
    expression: "http.path_only == '/ja4'"
    action: rate_limit
    rate_limit: {key: ja4, requests: 2, period: 1m}
  - id: per-key
    expression: "http.path_only == '/api'"
    action: block
    rate_limit: {key: "header:X-Api-Key", requests: 2, period: 1m}
  - id: per-expr
    expression: "http.path_only == '/expr'"
    action: rate_limit
    rate_limit: {key_expression: "http.cookies[?'tenant'].orValue('')", requests: 2, period: 1m}
  - id: fallthrough
    expression: "true"
    action: log
`

func TestRateLimitRules(t *testing.T) {
	type call struct {
		path    string
		mutate  func(r *detect.Request, v *detect.Verdict)
		limited bool
	}
	ip := func(s string) func(r *detect.Request, v *detect.Verdict) {
		return func(r *detect.Request, _ *detect.Verdict) { r.ClientIP = netip.MustParseAddr(s) }
	}
	session := func(id string) func(r *detect.Request, v *detect.Verdict) {
		return func(_ *detect.Request, v *detect.Verdict) { v.Session = &detect.Session{ID: id} }
	}
	header := func(k, val string) func(r *detect.Request, v *detect.Verdict) {
		return func(r *detect.Request, _ *detect.Verdict) { r.Headers[k] = val }
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{"ip", []call{{"/ip", nil, false}, {"/ip", nil, false}, {"/ip", nil, true}, {"/ip", ip("203.0.113.1"), false}}},
		{"session", []call{{"/session", session("a"), false}, {"/session", session("a"), false}, {"/session", session("a"), true}, {"/session", session("b"), false},
			// No session: the client IP is the key.
			{"/session", nil, false}, {"/session", nil, false}, {"/session", nil, true}}},
		{"ja4 falls back to ip", []call{{"/ja4", nil, false}, {"/ja4", nil, false}, {"/ja4", nil, true},
			{"/ja4", func(r *detect.Request, _ *detect.Verdict) { delete(r.Headers, detect.HeaderJA4) }, false}}},
		{"header", []call{{"/api", header("x-api-key", "k1"), false}, {"/api", header("x-api-key", "k1"), false}, {"/api", header("x-api-key", "k1"), true},
			{"/api", header("x-api-key", "k2"), false}, {"/api", header("x-api-key", strings.Repeat("z", 70_000)), false}}},
		{"expression", []call{{"/expr", header("cookie", "tenant=t1"), false}, {"/expr", header("cookie", "tenant=t1"), false},
			{"/expr", header("cookie", "tenant=t1"), true}, {"/expr", header("cookie", "tenant=t2"), false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := newDecider(t, limitPolicy)
			for i, c := range tt.calls {
				r, v := browser(), &detect.Verdict{Score: 90}
				r.Path = c.path
				if c.mutate != nil {
					c.mutate(r, v)
				}
				v = decide(d, r, v)
				if c.limited {
					if v.Action != detect.ActionRateLimit && v.Action != detect.ActionBlock || v.RetryAfter <= 0 || v.RetryAfter > 30*time.Second {
						t.Fatalf("call %d: want limited, got %s rule %s retry %s", i, v.Action, v.RuleID, v.RetryAfter)
					}
					continue
				}
				// Under the limit the rule does not match: evaluation went on to the log rule.
				if v.Action != detect.ActionAllow || v.RuleID != DefaultRuleID || !v.HasTag("rule:fallthrough") || v.RetryAfter != 0 || v.Errors != 0 {
					t.Fatalf("call %d: want allowed, got %s rule %s tags %v errors %d", i, v.Action, v.RuleID, v.Tags, v.Errors)
				}
			}
		})
	}
}

// failingLimiter is a shared backend that is down.
type failingLimiter struct{ calls int }

func (f *failingLimiter) Allow(context.Context, string, ratelimit.Limit, time.Time) (ratelimit.Result, error) {
	f.calls++
	return ratelimit.Result{}, errors.New("redis: connection refused")
}

// recordingLimiter keeps the keys it was asked about.
type recordingLimiter struct{ keys []string }

func (l *recordingLimiter) Allow(_ context.Context, key string, _ ratelimit.Limit, _ time.Time) (ratelimit.Result, error) {
	l.keys = append(l.keys, key)
	return ratelimit.Result{Allowed: true}, nil
}

func TestLimiterFailureFailsOpen(t *testing.T) {
	f := &failingLimiter{}
	d, reg := newDecider(t, limitPolicy, WithLimiter(f))
	for range 3 {
		r := browser()
		r.Path = "/ip"
		v := decide(d, r, &detect.Verdict{Score: 90})
		check(t, v, want{detect.ActionAllow, detect.ActionAllow, DefaultRuleID, ""})
		if v.Errors != 1 {
			t.Fatalf("errors %d", v.Errors)
		}
	}
	if f.calls != 3 || metricstest.Sum(t, reg, "botwarden_policy_ratelimit_errors_total", nil) != 3 {
		t.Fatalf("calls %d", f.calls)
	}
}

func TestBucketKeys(t *testing.T) {
	l := &recordingLimiter{}
	d, _ := newDecider(t, limitPolicy, WithLimiter(l))
	for _, c := range []struct {
		path   string
		mutate func(r *detect.Request, v *detect.Verdict)
	}{
		{"/ip", nil},
		{"/session", func(_ *detect.Request, v *detect.Verdict) { v.Session = &detect.Session{ID: "sess-1"} }},
		{"/ja4", nil},
		{"/api", func(r *detect.Request, _ *detect.Verdict) { r.Headers["x-api-key"] = strings.Repeat("k", 500) }},
		{"/expr", func(r *detect.Request, _ *detect.Verdict) { r.Headers["cookie"] = "tenant=acme" }},
		{"/ip", func(r *detect.Request, _ *detect.Verdict) {
			r.ClientIP = netip.Addr{}
			r.PeerIP = netip.MustParseAddr("::ffff:192.0.2.9")
		}},
	} {
		r, v := browser(), &detect.Verdict{}
		r.Path = c.path
		if c.mutate != nil {
			c.mutate(r, v)
		}
		decide(d, r, v)
	}
	want := []string{
		"per-ip|ip:198.51.100.7",
		"per-session|session:sess-1",
		"per-ja4|ja4:t13d1516h2_8daaf6152771_02713d6af862",
		"per-key|header:sha256:",
		"per-expr|expr:acme",
		"per-ip|ip:192.0.2.9",
	}
	if len(l.keys) != len(want) {
		t.Fatalf("keys %v", l.keys)
	}
	for i, w := range want {
		if !strings.HasPrefix(l.keys[i], w) || len(l.keys[i]) > len(w)+64 {
			t.Errorf("key %d = %q, want prefix %q", i, l.keys[i], w)
		}
	}
}

func TestMonitorAndInjectNeverDeny(t *testing.T) {
	for _, mode := range []detect.Mode{detect.ModeMonitor, detect.ModeInject} {
		d, _ := newDecider(t, "mode: "+string(mode)+"\npresets: [bot_fight]\n")
		for _, score := range []int{1, 10} {
			v := decide(d, browser(), &detect.Verdict{Score: score})
			if !v.Action.Denies() || v.EnforcedAction != detect.ActionAllow || v.Mode != mode {
				t.Errorf("%s score %d: action %s enforced %s", mode, score, v.Action, v.EnforcedAction)
			}
		}
	}
}

func TestNewFailsOnBadPolicy(t *testing.T) {
	cfg := DefaultConfig()
	cfg.File = filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(cfg.File, []byte("rules:\n  - {id: a, expression: 'x', action: block}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(cfg, zerolog.Nop(), nil)
	var le *LoadError
	if !errors.As(err, &le) || le.Problems[0].Rule != "a" {
		t.Fatalf("want LoadError for rule a, got %v", err)
	}
	cfg.File = ""
	cfg.Debounce = time.Hour
	if _, err := New(cfg, zerolog.Nop(), nil); err == nil || !strings.Contains(err.Error(), "debounce") {
		t.Fatalf("bad config accepted: %v", err)
	}
}
