package session

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/internal/configtest"
	"github.com/botwarden/botwarden/internal/metricstest"
)

var t0 = time.Unix(1_800_000_000, 0)

const ua = "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0.0.0"

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Keys = []KeyConfig{{ID: 1, Secret: token.NewKey(1).String()}}
	cfg.ActiveKey = 1
	return cfg
}

func newManager(t *testing.T, cfg Config) (*Manager, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(cfg, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func request(ip, cookie string, at time.Time) *detect.Request {
	h := detect.Headers{"user-agent": ua}
	if cookie != "" {
		h["cookie"] = "other=1; " + cookie
	}
	return &detect.Request{Time: at, ClientIP: netip.MustParseAddr(ip), Headers: h, Method: "GET", Path: "/"}
}

// cookieOf turns a Set-Cookie value into a Cookie header pair.
func cookieOf(t *testing.T, setCookie string) string {
	t.Helper()
	c, err := http.ParseSetCookie(setCookie)
	if err != nil {
		t.Fatal(err)
	}
	return c.Name + "=" + c.Value
}

func issue(t *testing.T, m *Manager, f token.Flags, findings uint16, at time.Time) string {
	t.Helper()
	c := m.Fresh(netip.MustParseAddr("192.0.2.10"), ua, at)
	c.Flags, c.Findings, c.Score = f, findings, 50
	sc, err := m.SetCookie(c, at, IssueNew)
	if err != nil {
		t.Fatal(err)
	}
	return cookieOf(t, sc)
}

func TestEvaluateCookies(t *testing.T) {
	m, reg := newManager(t, testConfig())
	ocfg := testConfig()
	ocfg.Keys[0].ID, ocfg.ActiveKey = 2, 2
	other, _ := newManager(t, ocfg) // a ring without key 1
	good := issue(t, m, 0, 0, t0)
	for _, tc := range []struct {
		name, ip, cookie string
		at               time.Time
		result           string
		session          bool
	}{
		{"absent", "192.0.2.10", "", t0, "absent", false},
		{"valid", "192.0.2.10", good, t0.Add(time.Second), "valid", true},
		{"valid same /24", "192.0.2.99", good, t0, "valid", true},
		{"other network", "198.51.100.10", good, t0, "unbound", false},
		{"expired", "192.0.2.10", good, t0.Add(25 * time.Hour), "expired", false},
		{"garbage", "192.0.2.10", "__bw=%%%garbage", t0, "malformed", false},
		{"other key ring", "192.0.2.10", issue(t, other, 0, 0, t0), t0, "unknown_key", false},
		{"tampered", "192.0.2.10", good[:20] + flip(good[20]) + good[21:], t0, "tampered", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := metricstest.Value(t, m.results.WithLabelValues(tc.result))
			r, v := request(tc.ip, tc.cookie, tc.at), &detect.Verdict{}
			if err := m.Evaluate(context.Background(), r, v); err != nil {
				t.Fatal(err)
			}
			if (v.Session != nil) != tc.session {
				t.Fatalf("session = %+v, want present=%v", v.Session, tc.session)
			}
			if got := metricstest.Value(t, m.results.WithLabelValues(tc.result)) - before; got != 1 {
				t.Fatalf("result %q counted %v times", tc.result, got)
			}
		})
	}
	if !exported(t, reg, "botwarden_session_cookie_total") {
		t.Fatal("metric not exported")
	}
}

func exported(t *testing.T, reg *prometheus.Registry, name string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return true
		}
	}
	return false
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

func TestEvaluateFlags(t *testing.T) {
	m, _ := newManager(t, testConfig())
	headless := EncodeFindings([]string{"headless", "webdriver"})
	for _, tc := range []struct {
		name       string
		flags      token.Flags
		findings   uint16
		prior      func(v *detect.Verdict)
		wantScore  int
		wantSource detect.Source
		wantTags   []string
		js, jsPass bool
		challenge  bool
	}{
		{"plain session", 0, 0, nil, 0, "", nil, false, false, false},
		{"js passed scores human", token.ChallengePassed | token.JSChecked | token.JSPassed, 0,
			func(v *detect.Verdict) { v.Propose(12, detect.SourceML) }, 90, detect.SourceJSDetection, nil, true, true, true},
		{"js passed does not undo certain automation", token.ChallengePassed | token.JSChecked | token.JSPassed, 0,
			func(v *detect.Verdict) { v.Automated(detect.SourceHeuristics, 7, "http-library") }, 1, detect.SourceHeuristics, []string{"http-library"}, true, true, true},
		{"js failed is automated with findings", token.JSChecked, headless, nil, 1, detect.SourceJSDetection,
			[]string{"headless", "webdriver", TagJSFailed}, true, false, false},
		{"blocked", token.JSChecked | token.Blocked, headless, nil, 1, detect.SourceJSDetection,
			[]string{"headless", "webdriver", TagChallengeFailed}, true, false, false},
		{"no-js pass", token.ChallengePassed | token.NoJS, 0, nil, 0, "", []string{TagNoJS}, false, false, true},
		{"js passed flag without checked means nothing", token.JSPassed, 0, nil, 0, "", nil, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, v := request("192.0.2.10", issue(t, m, tc.flags, tc.findings, t0), t0), &detect.Verdict{}
			if tc.prior != nil {
				tc.prior(v)
			}
			if err := m.Evaluate(context.Background(), r, v); err != nil {
				t.Fatal(err)
			}
			if v.Score != tc.wantScore || v.Source != tc.wantSource {
				t.Errorf("score %d/%s, want %d/%s", v.Score, v.Source, tc.wantScore, tc.wantSource)
			}
			if !slices.Equal(v.Tags, tc.wantTags) {
				t.Errorf("tags %v, want %v", v.Tags, tc.wantTags)
			}
			if v.JSDetectionChecked != tc.js || v.JSDetectionPassed != tc.jsPass || v.ChallengePassed != tc.challenge {
				t.Errorf("flags checked=%v passed=%v challenge=%v", v.JSDetectionChecked, v.JSDetectionPassed, v.ChallengePassed)
			}
			if v.Session.NoJS != tc.flags.Has(token.NoJS) || v.Session.Blocked != tc.flags.Has(token.Blocked) {
				t.Errorf("session %+v", v.Session)
			}
		})
	}
}

func TestRevalidate(t *testing.T) {
	m, _ := newManager(t, testConfig())
	ck := issue(t, m, 0, 0, t0)
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{{0, false}, {59 * time.Second, false}, {time.Minute, true}, {time.Hour, true}} {
		r, v := request("192.0.2.10", ck, t0.Add(tc.after)), &detect.Verdict{}
		if err := m.Evaluate(context.Background(), r, v); err != nil {
			t.Fatal(err)
		}
		if v.Session.Revalidate != tc.want {
			t.Errorf("after %v: Revalidate = %v", tc.after, v.Session.Revalidate)
		}
	}
}

// run is the session engine and finisher around a verdict score.
func run(t *testing.T, m *Manager, r *detect.Request, score int, verified bool) *detect.Verdict {
	t.Helper()
	v := &detect.Verdict{}
	if err := m.Evaluate(context.Background(), r, v); err != nil {
		t.Fatal(err)
	}
	v.Propose(score, detect.SourceML)
	if verified {
		v.MarkVerified("googlebot", "search_engine")
	}
	m.Finish(context.Background(), r, v)
	return v
}

func TestFinish(t *testing.T) {
	cfg := testConfig()
	cfg.Domain = "example.com"
	m, reg := newManager(t, cfg)
	fresh := issue(t, m, token.ChallengePassed|token.JSChecked|token.JSPassed, 0, t0)
	failed := issue(t, m, token.JSChecked, 1, t0)

	for _, tc := range []struct {
		name     string
		cookie   string
		at       time.Time
		score    int
		verified bool
		issued   bool
	}{
		{"no cookie: new session", "", t0, 60, false, true},
		{"fresh cookie: nothing", fresh, t0.Add(10 * time.Second), 60, false, false},
		{"revalidation due: refresh", fresh, t0.Add(2 * time.Minute), 60, false, true},
		{"failed session is not refreshed", failed, t0.Add(2 * time.Minute), 60, false, false},
		{"verified bot gets none", "", t0, 60, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request("192.0.2.10", tc.cookie, tc.at)
			v := run(t, m, r, tc.score, tc.verified)
			if (len(v.SetCookies) == 1) != tc.issued || len(v.SetCookies) > 1 {
				t.Fatalf("SetCookies = %q, want issued=%v", v.SetCookies, tc.issued)
			}
			if !tc.issued {
				return
			}
			sc, err := http.ParseSetCookie(v.SetCookies[0])
			if err != nil {
				t.Fatal(err)
			}
			if sc.Name != "__bw" || sc.Path != "/" || sc.Domain != "example.com" || !sc.Secure || !sc.HttpOnly ||
				sc.SameSite != http.SameSiteLaxMode || sc.MaxAge != int(cfg.Lifetime/time.Second) {
				t.Fatalf("cookie attributes: %q", v.SetCookies[0])
			}
			// The new cookie opens for the same client and carries the state.
			next := request("192.0.2.10", sc.Name+"="+sc.Value, tc.at.Add(time.Second))
			nv := &detect.Verdict{}
			if err := m.Evaluate(context.Background(), next, nv); err != nil || nv.Session == nil {
				t.Fatalf("reissued cookie not honoured: %v", err)
			}
			if v.Session != nil {
				if nv.Session.ID != v.Session.ID || nv.Session.JSPassed != v.Session.JSPassed {
					t.Fatalf("state not carried forward: %+v vs %+v", nv.Session, v.Session)
				}
			}
			if nv.Session.Score != v.Score {
				t.Fatalf("cookie score %d, verdict %d", nv.Session.Score, v.Score)
			}
		})
	}
	if !exported(t, reg, "botwarden_session_cookie_issued_total") {
		t.Fatal("issue metric not exported")
	}
}

func TestFinishReissuesOnCategoryChange(t *testing.T) {
	m, _ := newManager(t, testConfig())
	ck := issue(t, m, 0, 0, t0) // score 50: likely human
	v := run(t, m, request("192.0.2.10", ck, t0.Add(time.Second)), 5, false)
	if len(v.SetCookies) != 1 {
		t.Fatalf("a drop to likely_automated did not reissue: %q", v.SetCookies)
	}
}

func TestPending(t *testing.T) {
	m, _ := newManager(t, testConfig())
	r := request("192.0.2.10", "", t0)
	v := run(t, m, r, 20, false)
	c, ok := m.Pending(r, v)
	if !ok || c.SessionID.IsZero() {
		t.Fatal("Pending did not find the cookie the finisher set")
	}
	r2 := request("192.0.2.10", cookieOf(t, v.SetCookies[0]), t0.Add(time.Second))
	c2, ok := m.Pending(r2, &detect.Verdict{})
	if !ok || c2.SessionID != c.SessionID {
		t.Fatal("Pending did not read the request's cookie")
	}
	if _, ok := m.Pending(request("192.0.2.10", "", t0), &detect.Verdict{SetCookies: []string{"__bw=junk; Path=/"}}); ok {
		t.Fatal("Pending accepted junk")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mut   func(c *Config)
		field string
	}{
		{"defaults", func(c *Config) {}, ""},
		{"empty name", func(c *Config) { c.CookieName = "" }, "cookie_name"},
		{"bad name", func(c *Config) { c.CookieName = "a b" }, "cookie_name"},
		{"bad domain", func(c *Config) { c.Domain = "a;b" }, "domain"},
		{"same site", func(c *Config) { c.SameSite = "sometimes" }, "same_site"},
		{"none needs secure", func(c *Config) { c.SameSite = "none"; c.Secure = false }, "same_site"},
		{"lifetime", func(c *Config) { c.Lifetime = time.Second }, "lifetime"},
		{"revalidate", func(c *Config) { c.Revalidate = 0 }, "revalidate"},
		{"revalidate > lifetime", func(c *Config) { c.Revalidate = 48 * time.Hour }, "revalidate"},
		{"v4", func(c *Config) { c.IPv4Prefix = 33 }, "ipv4_prefix"},
		{"v6", func(c *Config) { c.IPv6Prefix = -1 }, "ipv6_prefix"},
		{"score", func(c *Config) { c.PassedScore = 10 }, "passed_score"},
		{"bad key", func(c *Config) { c.Keys = []KeyConfig{{ID: 1, Secret: "short"}}; c.ActiveKey = 1 }, "keys[0].secret"},
		{"active missing", func(c *Config) { c.Keys = []KeyConfig{{ID: 1, Secret: token.NewKey(1).String()}}; c.ActiveKey = 2 }, "active_key"},
	} {
		t.Run(tc.name, func(t *testing.T) { configtest.Check(t, DefaultConfig(), tc.mut, tc.field) })
	}
}

func TestFindings(t *testing.T) {
	tags := []string{"headless", "devtools", "unknown-tag", "product-sub"}
	got := DecodeFindings(EncodeFindings(tags), nil)
	if !slices.Equal(got, []string{"headless", "devtools", "product-sub"}) {
		t.Fatalf("round trip: %v", got)
	}
	if len(findingTags) > 16 {
		t.Fatal("more findings than cookie bits")
	}
	if !KnownFinding("swiftshader") || KnownFinding("nope") {
		t.Fatal("KnownFinding")
	}
}

func TestNilRegistererAndRandomKey(t *testing.T) {
	m, err := New(DefaultConfig(), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := request("192.0.2.10", "", t0)
	v := run(t, m, r, 40, false)
	if len(v.SetCookies) != 1 {
		t.Fatal("no cookie with the random key")
	}
}

func TestSeveralCookiesOfTheName(t *testing.T) {
	m, _ := newManager(t, testConfig())
	good := issue(t, m, token.ChallengePassed, 0, t0)
	stale := "__bw=" + strings.Repeat("A", token.EncodedLen)
	for _, tc := range []struct {
		name, header string
		ok           bool
	}{
		{"stale first", stale + "; " + good, true},
		{"good first", good + "; " + stale, true},
		{"only stale", stale + "; " + stale, false},
		{"empty values", "__bw=; __bw=\"\"; " + good, true},
		{"beyond the try limit", strings.Repeat(stale+"; ", maxCookieTries) + good, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request("192.0.2.10", "", t0)
			r.Headers["cookie"] = tc.header
			_, err := m.ReadRequest(r)
			if (err == nil) != tc.ok {
				t.Fatalf("ReadRequest = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestOpenedCookieRechecked: a cookie read once (and so remembered) is
// still judged afresh on every read: its times against the request's, its
// binding against the client.
func TestOpenedCookieRechecked(t *testing.T) {
	m, _ := newManager(t, testConfig())
	pair := issue(t, m, 0, 0, t0)
	value := pair[len(m.cfg.CookieName)+1:]
	if _, err := m.Read(value, netip.MustParseAddr("192.0.2.10"), ua, t0); err != nil {
		t.Fatalf("first read: %v", err)
	}
	for _, tt := range []struct {
		name string
		ip   string
		at   time.Time
		want error
	}{
		{"again", "192.0.2.10", t0.Add(time.Minute), nil},
		{"expired", "192.0.2.10", t0.Add(m.cfg.Lifetime + time.Second), token.ErrExpired},
		{"before issue", "192.0.2.10", t0.Add(-time.Hour), token.ErrNotYet},
		{"other client", "198.51.100.7", t0.Add(time.Minute), token.ErrUnbound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Read(value, netip.MustParseAddr(tt.ip), ua, tt.at)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read = %v, want %v", err, tt.want)
			}
		})
	}
}
