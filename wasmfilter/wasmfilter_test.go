package wasmfilter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/wasmfilter/abi"
	"github.com/botwarden/botwarden/wasmfilter/internal/cookietest"
)

const (
	testUA   = "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0 Safari/537.36"
	clientIP = "203.0.113.7"
)

// fixture is a key ring and a fixed request time.
type fixture struct {
	cookietest.Fixture
	now time.Time
}

func newFixture(t testing.TB) fixture {
	return fixture{Fixture: cookietest.New(t, 7), now: time.Unix(1_800_000_000, 0)}
}

// config returns plugin JSON with the fixture's key and the given fields.
func (f fixture) config(t testing.TB, fields map[string]any) []byte { return f.Config(t, fields) }

// cookie seals claims issued 10 s before f.now, valid for an hour, score
// 80, bound to clientIP and testUA, then applies mut.
func (f fixture) cookie(t testing.TB, mut func(*token.Claims)) string {
	return f.Cookie(t, f.now.Add(-10*time.Second), clientIP, testUA, 80, mut)
}

// plugin returns a configured plugin on a fresh fake host whose
// request.time is f.now and source.address is clientIP:port.
func (f fixture) plugin(t testing.TB, fields map[string]any) (*Plugin, *fakeHost) {
	t.Helper()
	h := newFakeHost()
	h.setRequestTime(f.now)
	h.props["source.address"] = []byte(clientIP + ":51000")
	p := NewPlugin(h)
	p.Now = func() time.Time { t.Fatal("WASI clock used although request.time is set"); return time.Time{} }
	if !p.OnConfigure(f.config(t, fields)) {
		t.Fatalf("configuration refused: %v", h.logs)
	}
	return p, h
}

func request(cookie string, extra ...[2]string) [][2]string {
	hs := [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "shop.example"}, {"user-agent", testUA}}
	if cookie != "" {
		hs = append(hs, [2]string{"cookie", "theme=dark; __bw=" + cookie + "; lang=en"})
	}
	return append(hs, extra...)
}

func TestRequestOutcomes(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t) // a ring with another key of the same id
	otherID := func() string {
		return fixture{Fixture: cookietest.New(t, 8), now: f.now}.cookie(t, nil)
	}()
	tampered := cookietest.Tamper(f.cookie(t, nil))

	tests := []struct {
		name    string
		cookie  string
		mut     func(*token.Claims) // for a fixture cookie when cookie == ""
		noCk    bool
		headers [][2]string // replaces the default request when set
		source  *string     // source.address; nil keeps clientIP:51000
		fields  map[string]any
		want    string // counter that must be 1
		pause   bool
		fast    bool
	}{
		{name: "no cookie", noCk: true, want: "cookie.absent"},
		{name: "other cookies only", headers: [][2]string{{"cookie", "a=1; __bwx=2"}, {"user-agent", testUA}}, want: "cookie.absent"},
		{name: "valid, fast path", want: "fastpath.hit", fast: true},
		{name: "valid, JS passed", mut: func(c *token.Claims) { c.Flags = token.JSChecked | token.JSPassed }, want: "fastpath.hit", fast: true},
		{name: "valid, below threshold", mut: func(c *token.Claims) { c.Score = 12 }, want: "fastpath.below_threshold"},
		{name: "valid, score not computed", mut: func(c *token.Claims) { c.Score = 0 }, want: "fastpath.below_threshold"},
		{name: "valid, threshold raised", fields: map[string]any{"score_threshold": 81}, want: "fastpath.below_threshold"},
		{name: "valid but due for revalidation", mut: func(c *token.Claims) { c.IssuedAt = f.now.Add(-61 * time.Second).Unix() }, want: "cookie.stale"},
		{name: "fresh under a longer revalidate", mut: func(c *token.Claims) { c.IssuedAt = f.now.Add(-6 * time.Minute).Unix() },
			fields: map[string]any{"revalidate": "10m"}, want: "fastpath.hit", fast: true},
		{name: "blocked", mut: func(c *token.Claims) { c.Flags = token.Blocked | token.ChallengePassed }, want: "block.local", pause: true},
		{name: "blocked beats stale", mut: func(c *token.Claims) { c.Flags = token.Blocked; c.IssuedAt = f.now.Add(-30 * time.Minute).Unix() },
			want: "block.local", pause: true},
		{name: "malformed", cookie: "not-a-token", want: "cookie.invalid.malformed"},
		{name: "tampered", cookie: tampered, want: "cookie.invalid.tampered"},
		{name: "sealed with another key", cookie: other.cookie(t, nil), want: "cookie.invalid.tampered"},
		{name: "sealed with a key not in the ring", cookie: otherID, want: "cookie.invalid.unknown_key"},
		{name: "expired", mut: func(c *token.Claims) { c.Expiry = f.now.Unix() }, want: "cookie.invalid.expired"},
		{name: "issued in the future", mut: func(c *token.Claims) { c.IssuedAt = f.now.Add(time.Hour).Unix() }, want: "cookie.invalid.not_yet_valid"},
		{name: "other client address", source: ptr("198.51.100.9:4000"), want: "cookie.invalid.unbound"},
		{name: "same /24 is the same client", source: ptr("203.0.113.200:4000"), want: "fastpath.hit", fast: true},
		{name: "other user agent", headers: [][2]string{{"user-agent", "curl/8.5.0"}}, want: "cookie.invalid.unbound"},
		{name: "no source.address", source: ptr(""), want: "cookie.invalid.no_client_ip"},
		{name: "source.address not an address", source: ptr("pipe:/run/envoy.sock"), want: "cookie.invalid.no_client_ip"},
		{name: "source.address without port", source: ptr(clientIP), want: "fastpath.hit", fast: true},
		{name: "IPv4-mapped IPv6 source", source: ptr("[::ffff:203.0.113.7]:443"), want: "fastpath.hit", fast: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, h := f.plugin(t, tc.fields)
			ck := tc.cookie
			if ck == "" && !tc.noCk {
				ck = f.cookie(t, tc.mut)
			}
			h.headers = request(ck)
			if tc.headers != nil {
				h.headers = append(tc.headers, [2]string{"cookie", "__bw=" + ck})
				if tc.headers[0][0] == "cookie" {
					h.headers = tc.headers
				}
			}
			if tc.source != nil {
				delete(h.props, "source.address")
				if *tc.source != "" {
					h.props["source.address"] = []byte(*tc.source)
				}
			}
			action := p.OnRequestHeaders(len(h.headers), false)

			if got := h.counters[MetricPrefix+tc.want]; got != 1 {
				t.Errorf("counter %s = %d, want 1 (all: %v)", tc.want, got, h.counters)
			}
			if tc.pause != (action == abi.ActionPause) {
				t.Errorf("action = %v, want pause=%v", action, tc.pause)
			}
			if tc.pause != (h.local != nil) {
				t.Errorf("local reply = %+v, want one: %v", h.local, tc.pause)
			}
			if tc.pause && (h.local.status != 403 || h.local.body != DefaultConfig().BlockBody) {
				t.Errorf("local reply = %+v, want the 403 block page", h.local)
			}
			marker, hasMarker := h.header("x-botwarden-skip-authz")
			score, hasScore := h.header("x-bot-score")
			if tc.fast {
				if marker != "1" || score != "80" {
					t.Errorf("fast path headers: marker %q score %q; headers %v", marker, score, h.headers)
				}
				if cat, _ := h.header("x-bot-category"); cat != "likely_human" {
					t.Errorf("x-bot-category = %q", cat)
				}
			} else if hasMarker || hasScore {
				t.Errorf("no fast path expected, but headers %v", h.headers)
			}
			if h.counters[MetricPrefix+"filter.error"] != 0 {
				t.Errorf("internal error counted: %v", h.logs)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestJSDetectionHeader(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		flags token.Flags
		want  string
	}{
		{0, ""},
		{token.JSChecked, "failed"},
		{token.JSChecked | token.JSPassed, "passed"},
		{token.JSPassed, ""}, // not meaningful without JSChecked
	} {
		p, h := f.plugin(t, nil)
		h.headers = request(f.cookie(t, func(c *token.Claims) { c.Flags = tc.flags }))
		p.OnRequestHeaders(0, false)
		if got, _ := h.header(HeaderJSDetection); got != tc.want {
			t.Errorf("flags %b: %s = %q, want %q", tc.flags, HeaderJSDetection, got, tc.want)
		}
	}
}

func TestSpoofedHeadersRemoved(t *testing.T) {
	f := newFixture(t)
	fields := map[string]any{
		"skip_header": "x-edge-skip",
		"headers":     map[string]any{"score": "x-score", "category": "x-bot-category", "js_detection": "x-js"},
	}
	client := [][2]string{
		{"x-bot-score", "99"}, {"X-Bot-Score", "98"}, {"x-bot-score", "97"}, // repeated: every copy goes
		{"x-botwarden-skip-authz", "1"}, {"x-botwarden-session", "forged"},
		{"x-edge-skip", "1"}, {"x-score", "99"}, {"x-js", "passed"},
		{HeaderJA4, "t13d1516h2_8daaf6152771_02713d6af862"}, // set by Envoy: kept
		{"x-botnet", "not ours"}, {"accept", "*/*"},
	}
	for _, withCookie := range []bool{false, true} {
		p, h := f.plugin(t, fields)
		ck := ""
		if withCookie {
			ck = f.cookie(t, func(c *token.Claims) { c.Score = 5 }) // valid, no fast path
		}
		// Envoy lower-cases names; the fake host keeps what it is given.
		for _, kv := range client {
			h.headers = append(h.headers, [2]string{strings.ToLower(kv[0]), kv[1]})
		}
		h.headers = append(h.headers, request(ck)...)
		if a := p.OnRequestHeaders(0, false); a != abi.ActionContinue {
			t.Fatalf("action %v", a)
		}
		var names []string
		for _, kv := range h.headers {
			names = append(names, kv[0])
		}
		for _, gone := range []string{"x-bot-score", "x-botwarden-skip-authz", "x-botwarden-session", "x-edge-skip", "x-score", "x-js"} {
			if slices.Contains(names, gone) {
				t.Errorf("cookie %v: %s still present: %v", withCookie, gone, names)
			}
		}
		for _, kept := range []string{HeaderJA4, "x-botnet", "accept", "user-agent"} {
			if !slices.Contains(names, kept) {
				t.Errorf("cookie %v: %s removed: %v", withCookie, kept, names)
			}
		}
		if h.counters[MetricPrefix+"spoofed_headers.removed"] != 1 {
			t.Errorf("spoofed counter = %d", h.counters[MetricPrefix+"spoofed_headers.removed"])
		}
	}
}

func TestFastPathUsesConfiguredNames(t *testing.T) {
	f := newFixture(t)
	p, h := f.plugin(t, map[string]any{
		"skip_header": "x-edge-skip",
		"headers":     map[string]any{"score": "x-score", "category": "x-cat", "js_detection": "x-js"},
	})
	h.headers = request(f.cookie(t, func(c *token.Claims) { c.Flags = token.JSChecked | token.JSPassed; c.Score = 30 }))
	p.OnRequestHeaders(0, false)
	for name, want := range map[string]string{"x-edge-skip": "1", "x-score": "30", "x-cat": "likely_human", "x-js": "passed"} {
		if got, _ := h.header(name); got != want {
			t.Errorf("%s = %q, want %q (headers %v)", name, got, want, h.headers)
		}
	}
}

func TestCookieValues(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   []string
	}{
		{"__bw=abc", []string{"abc"}},
		{"a=1; __bw=abc; b=2", []string{"abc"}},
		{"a=1;__bw=abc", []string{"abc"}},
		{`__bw="abc"`, []string{"abc"}},
		{"__bw=first; __bw=second", []string{"first", "second"}},
		{"__bw=1; __bw=2; __bw=3; __bw=4; __bw=5", []string{"1", "2", "3", "4"}},
		{"__bwx=1; x__bw=2", nil},
		{"__bw", nil},
		{"", nil},
		{";;; ; __bw=v;", []string{"v"}},
		{"__bw=; __bw=\"\"; __bw=x", []string{"x"}},
	} {
		if got := cookieValues(tc.header, "__bw", nil); !slices.Equal(got, tc.want) {
			t.Errorf("cookieValues(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

// TestSeveralCookies: the first cookie that opens and is bound wins, as on
// the server; otherwise the first one's reason is counted.
func TestSeveralCookies(t *testing.T) {
	f := newFixture(t)
	good := f.cookie(t, nil)
	for _, tc := range []struct {
		name    string
		cookie  string
		counter string
	}{
		{"garbage then valid", "__bw=garbage; __bw=" + good, "fastpath.hit"},
		{"tampered then valid", "__bw=" + cookietest.Tamper(good) + "; __bw=" + good, "fastpath.hit"},
		{"four invalid then valid: not tried", "__bw=a; __bw=b; __bw=c; __bw=d; __bw=" + good, "cookie.invalid.malformed"},
		{"tampered then garbage", "__bw=" + cookietest.Tamper(good) + "; __bw=x", "cookie.invalid.tampered"},
	} {
		p, h := f.plugin(t, nil)
		h.headers = [][2]string{{"user-agent", testUA}, {"cookie", tc.cookie}}
		p.OnRequestHeaders(0, false)
		if h.counters[MetricPrefix+tc.counter] != 1 {
			t.Errorf("%s: counters %v, want %s", tc.name, h.counters, tc.counter)
		}
	}
}

func TestCookieInSecondCookieHeader(t *testing.T) {
	f := newFixture(t)
	p, h := f.plugin(t, nil)
	// HTTP/2 clients send cookie crumbs as separate headers.
	h.headers = [][2]string{{"user-agent", testUA}, {"cookie", "a=1"}, {"cookie", "__bw=" + f.cookie(t, nil)}}
	p.OnRequestHeaders(0, false)
	if h.counters[MetricPrefix+"fastpath.hit"] != 1 {
		t.Fatalf("cookie in a second header not found: %v", h.counters)
	}
}

func TestFailureModes(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name      string
		failMode  string
		breakHost func(*fakeHost)
		mut       func(*token.Claims)
		want      abi.Action
		wantReply uint32
	}{
		{name: "headers unreadable, open", failMode: FailOpen, breakHost: func(h *fakeHost) { h.fail["RequestHeaders"] = errInjected }, want: abi.ActionContinue},
		{name: "headers unreadable, closed", failMode: FailClosed, breakHost: func(h *fakeHost) { h.fail["RequestHeaders"] = errInjected }, want: abi.ActionPause, wantReply: 503},
		{name: "remove fails", failMode: FailOpen, breakHost: func(h *fakeHost) {
			h.fail["RemoveRequestHeader"] = errInjected
			h.headers = append(h.headers, [2]string{"x-bot-score", "99"})
		}, want: abi.ActionContinue},
		{name: "replace fails", failMode: FailOpen, breakHost: func(h *fakeHost) { h.fail["ReplaceRequestHeader"] = errInjected }, want: abi.ActionContinue},
		{name: "block reply fails, open", failMode: FailOpen, mut: func(c *token.Claims) { c.Flags = token.Blocked },
			breakHost: func(h *fakeHost) { h.fail["SendLocalResponse"] = errInjected }, want: abi.ActionContinue},
		{name: "block reply fails, closed, reply fails too", failMode: FailClosed, mut: func(c *token.Claims) { c.Flags = token.Blocked },
			breakHost: func(h *fakeHost) { h.fail["SendLocalResponse"] = errInjected }, want: abi.ActionContinue},
		{name: "panic in host, open", failMode: FailOpen, breakHost: func(h *fakeHost) { h.panicOn = "RequestHeaders" }, want: abi.ActionContinue},
		{name: "panic in host, closed", failMode: FailClosed, breakHost: func(h *fakeHost) { h.panicOn = "ReplaceRequestHeader" }, want: abi.ActionPause, wantReply: 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, h := f.plugin(t, map[string]any{"fail_mode": tc.failMode})
			h.headers = request(f.cookie(t, tc.mut))
			tc.breakHost(h)
			got := p.OnRequestHeaders(0, false)
			if got != tc.want {
				t.Errorf("action = %v, want %v", got, tc.want)
			}
			if h.counters[MetricPrefix+"filter.error"] != 1 {
				t.Errorf("filter.error = %d, want 1", h.counters[MetricPrefix+"filter.error"])
			}
			if tc.wantReply != 0 && (h.local == nil || h.local.status != tc.wantReply) {
				t.Errorf("local reply %+v, want %d", h.local, tc.wantReply)
			}
			if tc.wantReply == 0 && h.local != nil {
				t.Errorf("unexpected local reply %+v", h.local)
			}
			if !slices.ContainsFunc(h.logs, func(l string) bool { return strings.HasPrefix(l, "error: botwarden: cookie check failed") }) {
				t.Errorf("no error log line: %v", h.logs)
			}
		})
	}
}

func TestPropertyErrorIsNoClientIP(t *testing.T) {
	f := newFixture(t)
	p, h := f.plugin(t, nil)
	h.headers = request(f.cookie(t, nil))
	// request.time unreadable too: the WASI clock is the fallback.
	h.fail["Property"] = errors.New("host broke")
	p.Now = func() time.Time { return f.now }
	if a := p.OnRequestHeaders(0, false); a != abi.ActionContinue {
		t.Fatalf("action %v", a)
	}
	if h.counters[MetricPrefix+"cookie.invalid.no_client_ip"] != 1 {
		t.Fatalf("counters %v", h.counters)
	}
}

func TestClockFallback(t *testing.T) {
	f := newFixture(t)
	p, h := f.plugin(t, nil)
	delete(h.props, "request.time")
	h.headers = request(f.cookie(t, nil))
	calls := 0
	p.Now = func() time.Time { calls++; return f.now }
	p.OnRequestHeaders(0, false)
	if calls != 1 || h.counters[MetricPrefix+"fastpath.hit"] != 1 {
		t.Fatalf("fallback clock calls %d, counters %v", calls, h.counters)
	}
	// A request.time of the wrong size is not trusted either.
	h.props["request.time"] = []byte{1, 2, 3}
	h.headers = request(f.cookie(t, nil))
	p.OnRequestHeaders(0, false)
	if calls != 2 {
		t.Fatalf("bad request.time used: clock calls %d", calls)
	}
}

func TestUnconfiguredPluginContinues(t *testing.T) {
	h := newFakeHost()
	h.headers = request("x", [2]string{"x-bot-score", "99"})
	p := NewPlugin(h)
	if p.OnRequestHeaders(0, false) != abi.ActionContinue || len(h.counters) != 0 {
		t.Fatal("an unconfigured plugin must do nothing")
	}
}

func TestOnConfigure(t *testing.T) {
	f := newFixture(t)
	h := newFakeHost()
	p := NewPlugin(h)
	if p.OnConfigure([]byte(`{"keys": []}`)) {
		t.Fatal("accepted a configuration without keys")
	}
	if len(h.logs) != 1 || !strings.HasPrefix(h.logs[0], "error: botwarden: invalid plugin configuration: ") || !strings.Contains(h.logs[0], "keys") {
		t.Fatalf("log = %v, want one error line naming the field", h.logs)
	}
	if !p.OnConfigure(f.config(t, map[string]any{"cookie_name": "sess"})) {
		t.Fatalf("refused: %v", h.logs)
	}
	if p.Config().CookieName != "sess" {
		t.Fatalf("config not applied")
	}
	// A refused reconfiguration keeps the running one.
	if p.OnConfigure([]byte(`{"cookie_name": "sess2"}`)) || p.Config().CookieName != "sess" {
		t.Fatalf("bad reconfiguration replaced the configuration: %q", p.Config().CookieName)
	}
	for _, name := range MetricNames() {
		if !slices.Contains(h.ids, name) {
			t.Errorf("metric %s not defined", name)
		}
	}
}

func TestMetricsUnavailable(t *testing.T) {
	f := newFixture(t)
	h := newFakeHost()
	h.defineOK = false
	h.setRequestTime(f.now)
	h.props["source.address"] = []byte(clientIP + ":1")
	p := NewPlugin(h)
	if !p.OnConfigure(f.config(t, nil)) {
		t.Fatal("metrics failure must not fail the configuration")
	}
	h.headers = request(f.cookie(t, nil))
	p.OnRequestHeaders(0, false)
	if v, _ := h.header("x-botwarden-skip-authz"); v != "1" {
		t.Fatal("fast path must work without metrics")
	}
}

func TestLogLevel(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		level string
		debug bool
	}{{"info", false}, {"debug", true}, {"error", false}} {
		p, h := f.plugin(t, map[string]any{"log_level": tc.level})
		h.logs = nil
		h.headers = request("garbage")
		p.OnRequestHeaders(0, false)
		got := slices.ContainsFunc(h.logs, func(l string) bool { return strings.HasPrefix(l, "debug: ") })
		if got != tc.debug {
			t.Errorf("log_level %s: debug lines %v: %v", tc.level, got, h.logs)
		}
		for _, l := range h.logs {
			if strings.Contains(l, "garbage") {
				t.Errorf("cookie content logged: %q", l)
			}
		}
	}
}

func TestInvalidCounterCoversTokenReasons(t *testing.T) {
	for _, err := range []error{token.ErrMalformed, token.ErrUnknownKey, token.ErrTampered, token.ErrExpired, token.ErrNotYet, token.ErrUnbound} {
		r := token.Reason(fmt.Errorf("wrapped: %w", err))
		if invalidCounter(r) == cInvalidOther {
			t.Errorf("token reason %q has no counter of its own", r)
		}
	}
	if invalidCounter("something new") != cInvalidOther {
		t.Error("unknown reasons must count as error")
	}
}

// FuzzOnRequestHeaders: whatever a client sends (cookie, user-agent, header
// names, and whatever source.address holds) the filter neither errors nor
// panics (a recovered panic would count filter.error), pauses only with a
// local reply, and never lets a client-sent reserved header through.
func FuzzOnRequestHeaders(f *testing.F) {
	fx := newFixture(f)
	valid := fx.cookie(f, nil)
	f.Add(valid, testUA, clientIP+":1", "x-bot-score", "99")
	f.Add(cookietest.Tamper(valid), "", "[::1]:80", "x-botwarden-skip-authz", "1")
	f.Add("", "curl/8", "", "cookie", "__bw="+valid)
	f.Add(fx.cookie(f, func(c *token.Claims) { c.Flags = token.Blocked }), testUA, clientIP, "x-botwarden-ja4", "t13d")
	f.Add("", testUA, clientIP, HeaderJSExpected, "1")
	// With js_detection on, a page request: the filter's own marker is the
	// one reserved header it may add besides the fast path's.
	jsd := map[string]any{"js_detection": map[string]any{"enabled": true}}
	f.Fuzz(func(t *testing.T, cookie, ua, source, name, value string) {
		for _, fields := range []map[string]any{nil, jsd} {
			p, h := fx.plugin(t, fields)
			h.headers = [][2]string{{":method", "GET"}, {":path", "/"}, {"accept", "text/html"},
				{"user-agent", ua}, {"cookie", "__bw=" + cookie}, {strings.ToLower(name), value}}
			h.props["source.address"] = []byte(source)
			action := p.OnRequestHeaders(len(h.headers), false)
			if n := h.counters[MetricPrefix+"filter.error"]; n != 0 {
				t.Fatalf("internal error: %v", h.logs)
			}
			if (action == abi.ActionPause) != (h.local != nil) {
				t.Fatalf("action %v with local reply %+v", action, h.local)
			}
			fast := h.counters[MetricPrefix+"fastpath.hit"] == 1
			markers := 0
			for _, kv := range h.headers {
				if kv[0] == HeaderJSExpected && fields != nil && !fast && h.local == nil {
					if markers++; kv[1] != "1" || markers > 1 {
						t.Fatalf("marker %q (%d): %v", kv[1], markers, h.headers)
					}
					continue
				}
				if reserved(kv[0]) && !fast {
					t.Fatalf("reserved header %q left without a fast path: %v", kv[0], h.headers)
				}
			}
		}
	})
}

// TestInjectionRoutes: js_detection's host and path lists decide which
// page requests are eligible; exclusions win.
func TestInjectionRoutes(t *testing.T) {
	f := newFixture(t)
	fields := map[string]any{"js_detection": map[string]any{"enabled": true,
		"hosts":         []string{"shop.example", "*.shop.example", "other.example:8443"},
		"exclude_hosts": []string{"api.shop.example", "*.static.shop.example"},
		"paths":         []string{"/p/", "/cart"},
		"exclude_paths": []string{"/p/raw/"},
	}}
	p, _ := f.plugin(t, fields)
	for _, tc := range []struct {
		authority, path string
		want            bool
	}{
		{"shop.example", "/p/1", true},
		{"Shop.Example:443", "/cart?x=1", true},
		{"www.shop.example", "/p/1", true},
		{"api.shop.example", "/p/1", false},      // excluded host wins
		{"a.static.shop.example", "/p/1", false}, // excluded wildcard
		{"static.shop.example", "/p/1", true},    // the wildcard's apex is not excluded
		{"other.example:8443", "/p/1", true},
		{"other.example", "/p/1", false}, // port in the entry
		{"elsewhere.example", "/p/1", false},
		{"shop.example", "/", false}, // not under paths
		{"shop.example", "/account", false},
		{"shop.example", "/p/raw/1", false}, // excluded path wins
		{"shop.example", "/.well-known/botwarden/jsd.js", false},
	} {
		r := pageRequest{method: "GET", path: tc.path, authority: tc.authority, accept: "text/html"}
		if got := p.wantInjection(&r); got != tc.want {
			t.Errorf("%s%s: eligible %v, want %v", tc.authority, tc.path, got, tc.want)
		}
	}
	// Empty lists: every host and path.
	p, _ = f.plugin(t, map[string]any{"js_detection": map[string]any{"enabled": true}})
	if r := (pageRequest{method: "GET", path: "/x", authority: "any.example:1", accept: "text/html"}); !p.wantInjection(&r) {
		t.Error("empty host and path lists must allow every page")
	}
}

// TestPageRequestEdits: on an eligible page request that does not take the
// fast path the filter sets the js-expected marker, and when the response
// is to be injected it removes accept-encoding (every copy) so that the
// origin answers uncompressed. Other requests keep accept-encoding and get
// no marker; a client's copy of the marker never survives.
func TestPageRequestEdits(t *testing.T) {
	f := newFixture(t)
	on := map[string]any{"js_detection": map[string]any{"enabled": true, "exclude_paths": []string{"/api/"}}}
	keep := map[string]any{"js_detection": map[string]any{"enabled": true, "strip_accept_encoding": false}}
	checked := func(c *token.Claims) { c.Flags = token.JSChecked | token.JSPassed }
	html := [][2]string{{"accept", "text/html"}, {"accept-encoding", "gzip, br"}}
	forged := [2]string{HeaderJSExpected, "1"}
	for _, tc := range []struct {
		name     string
		fields   map[string]any
		cookie   func(*token.Claims) // nil: no cookie
		path     string
		extra    [][2]string
		marker   bool
		encoding int // accept-encoding headers left
	}{
		{name: "page, no cookie", fields: on, extra: html, marker: true},
		{name: "page, cookie without a result", fields: on, cookie: func(*token.Claims) {}, extra: html, marker: true},
		{name: "two accept-encoding headers", fields: on, extra: append(html, [2]string{"accept-encoding", "zstd"}), marker: true},
		{name: "page without accept-encoding", fields: on, extra: html[:1], marker: true},
		{name: "strip_accept_encoding off", fields: keep, extra: html, marker: true, encoding: 1},
		{name: "fast path", fields: on, cookie: checked, extra: html, encoding: 1},
		{name: "result but stale: no injection, still expected", fields: on,
			cookie: func(c *token.Claims) { checked(c); c.IssuedAt = f.now.Add(-2 * time.Minute).Unix() }, extra: html, marker: true, encoding: 1},
		{name: "blocked", fields: on, cookie: func(c *token.Claims) { c.Flags = token.Blocked }, extra: html, encoding: 1},
		{name: "excluded path", fields: on, path: "/api/x", extra: append(html, forged), encoding: 1},
		{name: "an asset", fields: on, extra: [][2]string{{"accept", "*/*"}, {"sec-fetch-dest", "script"}, {"accept-encoding", "gzip"}, forged}, encoding: 1},
		{name: "js_detection off", fields: nil, extra: append(html, forged), encoding: 1},
		{name: "forged marker on a page", fields: on, extra: append(html, forged, forged), marker: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, h := f.plugin(t, tc.fields)
			ck := ""
			if tc.cookie != nil {
				ck = f.cookie(t, tc.cookie)
			}
			h.headers = append(request(ck), tc.extra...)
			if tc.path != "" {
				h.headers[1][1] = tc.path
			}
			p.OnRequestHeaders(len(h.headers), false)
			var markers, encodings int
			for _, kv := range h.headers {
				switch kv[0] {
				case HeaderJSExpected:
					markers++
					if kv[1] != "1" {
						t.Errorf("marker %q", kv[1])
					}
				case "accept-encoding":
					encodings++
				}
			}
			if want := map[bool]int{true: 1}[tc.marker]; markers != want {
				t.Errorf("%d markers, want %d: %v", markers, want, h.headers)
			}
			if encodings != tc.encoding {
				t.Errorf("%d accept-encoding headers left, want %d: %v", encodings, tc.encoding, h.headers)
			}
			removed := tc.encoding == 0 && slices.ContainsFunc(tc.extra, func(kv [2]string) bool { return kv[0] == "accept-encoding" })
			if got := h.counters[MetricPrefix+"jsd.accept_encoding.removed"]; got != map[bool]int64{true: 1}[removed] {
				t.Errorf("jsd.accept_encoding.removed = %d, want removal %v", got, removed)
			}
			if h.counters[MetricPrefix+"filter.error"] != 0 {
				t.Errorf("internal error: %v", h.logs)
			}
		})
	}
}

// TestPageRequestEditFailures: a host error while editing the page
// request is an internal error (fail open: the request goes on to
// ext_authz, whose header_mutation-stripped view lacks only the marker).
func TestPageRequestEditFailures(t *testing.T) {
	f := newFixture(t)
	for _, method := range []string{"ReplaceRequestHeader", "RemoveRequestHeader"} {
		p, h := f.plugin(t, map[string]any{"js_detection": map[string]any{"enabled": true}})
		h.headers = append(request(""), [2]string{"accept", "text/html"}, [2]string{"accept-encoding", "gzip"})
		h.fail[method] = errInjected
		if a := p.OnRequestHeaders(len(h.headers), false); a != abi.ActionContinue {
			t.Errorf("%s failing: action %v", method, a)
		}
		if h.counters[MetricPrefix+"filter.error"] != 1 {
			t.Errorf("%s failing: not counted as an error", method)
		}
	}
}

// TestCollectsAfterBufferedPages: once the pages read and rewritten reach
// collectEvery, the end of a stream collects and starts counting again.
func TestCollectsAfterBufferedPages(t *testing.T) {
	f := newFixture(t)
	p, h := f.plugin(t, map[string]any{"js_detection": map[string]any{"enabled": true, "max_body_bytes": 16 << 20}})
	page := "<html><body>" + strings.Repeat("x", collectEvery/4) + "</body></html>"
	grown := len(page)*2 + len(ScriptTag(DefaultConfig().JSDetection.ScriptURL)) // read, then rewritten
	for i, want := range []int{grown, 0} {                                       // the second page passes collectEvery
		h.stream = uint32(i + 1)
		h.headers = append(request(""), [2]string{"accept", "text/html"})
		p.OnRequestHeaders(0, false)
		h.respHdrs = [][2]string{{":status", "200"}, {"content-type", "text/html"}}
		h.body = []byte(page)
		p.OnResponseHeaders(0, false)
		p.OnResponseBody(len(page), true)
		p.OnStreamDone()
		if p.buffered != want {
			t.Errorf("page %d: buffered %d, want %d", i+1, p.buffered, want)
		}
	}
	if h.counters[MetricPrefix+"jsd.injected"] != 2 {
		t.Errorf("injected %d pages", h.counters[MetricPrefix+"jsd.injected"])
	}
}
