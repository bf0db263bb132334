package challenge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/token"
)

const form = "application/x-www-form-urlencoded"

func TestRespondOtherActionsUseFallback(t *testing.T) {
	h := newHarness(t, nil)
	b := &browser{ip: "192.0.2.1", ua: uaHeadful}
	for _, a := range []detect.Action{detect.ActionBlock, detect.ActionRateLimit, detect.ActionAllow} {
		resp := h.c.Respond(b.request("/"), &detect.Verdict{EnforcedAction: a})
		if string(resp.Body) != "blocked: "+string(a) {
			t.Errorf("%s: body %q, want the fallback's", a, resp.Body)
		}
	}
	if resp := h.c.Respond(b.request("/"), nil); string(resp.Body) != "blocked: " {
		t.Errorf("nil verdict: %q", resp.Body)
	}
}

func TestRespondPage(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		action     detect.Action
		difficulty int
		wantDiff   int
		nojs       bool
	}{
		{detect.ActionManagedChallenge, 0, 8, true},
		{detect.ActionJSChallenge, 12, 12, false},
		{detect.ActionManagedChallenge, 99, 24, true}, // capped at max_difficulty
	} {
		t.Run(string(tc.action), func(t *testing.T) {
			b := &browser{ip: "192.0.2.1", ua: uaHeadful}
			r := b.request("/cart?item=1")
			v := &detect.Verdict{EnforcedAction: tc.action, ChallengeDifficulty: tc.difficulty}
			resp := h.c.Respond(r, v)
			if resp.Status != http.StatusForbidden {
				t.Fatalf("status %d", resp.Status)
			}
			body := string(resp.Body)
			csp := resp.Headers.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'nonce-") ||
				resp.Headers.Get("Cache-Control") != "no-store" {
				t.Fatalf("headers %v", resp.Headers)
			}
			// Self-contained: no external resource of any kind.
			for _, bad := range []string{"http://", "https://", " src=", "<link", "@import"} {
				if strings.Contains(body, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			if m := diffRE.FindStringSubmatch(body); m == nil || m[1] != strconv.Itoa(tc.wantDiff) {
				t.Errorf("difficulty %v, want %d", m, tc.wantDiff)
			}
			if got := strings.Contains(body, `http-equiv="refresh"`); got != tc.nojs {
				t.Errorf("no-JS refresh present=%v, want %v", got, tc.nojs)
			}
			if !strings.Contains(body, "<noscript>") {
				t.Error("no <noscript> explanation")
			}
			// No finisher ran, so the page issues the session itself.
			if len(resp.Headers.Values("Set-Cookie")) != 1 {
				t.Errorf("Set-Cookie %q", resp.Headers.Values("Set-Cookie"))
			}
		})
	}
}

func TestRespondReusesFinisherCookie(t *testing.T) {
	h := newHarness(t, nil)
	b := &browser{ip: "192.0.2.1", ua: uaHeadful}
	p := h.challenge(b, "/", detect.ActionManagedChallenge)
	if got := p.resp.Headers.Values("Set-Cookie"); len(got) != 0 {
		t.Fatalf("page set its own cookie %q although the finisher issued one", got)
	}
	tk, err := h.c.sign.open(p.ticket)
	if err != nil {
		t.Fatal(err)
	}
	if tk.session != h.session(b).SessionID {
		t.Fatal("ticket names another session than the finisher's cookie")
	}
}

func TestPassFlow(t *testing.T) {
	h := newHarness(t, nil)
	b := &browser{ip: "192.0.2.1", ua: uaHeadful}
	p := h.challenge(b, "/cart?item=1", detect.ActionManagedChallenge)
	h.now = h.now.Add(800 * time.Millisecond)
	rec := h.post(b, answer(p.ticket, solve(p.ticket, p.difficulty), headfulSignals()), form)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/cart?item=1" {
		t.Fatalf("answer: %d %q %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	c := h.session(b)
	if !c.Flags.Has(token.ChallengePassed|token.JSChecked|token.JSPassed) || c.Flags.Has(token.NoJS) || c.Attempts != 0 {
		t.Fatalf("session after pass: %+v", c)
	}
	// The next request's verdict: human, JS passed, no challenge needed.
	r := b.request("/cart?item=1")
	r.Time = h.now
	v := &detect.Verdict{}
	v.Propose(12, detect.SourceML)
	if err := h.sm.Evaluate(context.Background(), r, v); err != nil {
		t.Fatal(err)
	}
	if !v.JSDetectionPassed || !v.ChallengePassed || v.Score != 90 || v.Source != detect.SourceJSDetection {
		t.Fatalf("verdict after pass: %+v", v)
	}
	if h.count(resultPassed) != 1 {
		t.Fatal("pass not counted")
	}
	if len(h.answers) != 1 {
		t.Fatalf("answers told: %+v", h.answers)
	}
	if a := h.answers[0]; a.Kind != "page" || a.Result != resultPassed || !a.Solved() || a.Failed() || a.Age != 800*time.Millisecond ||
		a.Path != "/cart?item=1" || a.ClientIP != netip.MustParseAddr("192.0.2.1") {
		t.Fatalf("answer told: %+v", a)
	}
}

func TestHeadlessFailsThenBlocks(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxAttempts = 2 })
	b := &browser{ip: "192.0.2.1", ua: uaHeadless}
	for attempt := 1; attempt <= 2; attempt++ {
		p := h.challenge(b, "/", detect.ActionManagedChallenge)
		if p.ticket == "" {
			t.Fatalf("attempt %d: no challenge page: %s", attempt, p.resp.Body)
		}
		rec := h.post(b, answer(p.ticket, solve(p.ticket, p.difficulty), headlessSignals()), form)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("attempt %d: %d %s", attempt, rec.Code, rec.Body)
		}
		c := h.session(b)
		if !c.Flags.Has(token.JSChecked) || c.Flags.Has(token.JSPassed) || c.Flags.Has(token.ChallengePassed) || int(c.Attempts) != attempt {
			t.Fatalf("attempt %d: session %+v", attempt, c)
		}
		tags := session.DecodeFindings(c.Findings, nil)
		for _, want := range []string{"headless", "webdriver", "swiftshader"} {
			if !slices.Contains(tags, want) {
				t.Errorf("attempt %d: findings %v lack %s", attempt, tags, want)
			}
		}
		if got := c.Flags.Has(token.Blocked); got != (attempt == 2) {
			t.Fatalf("attempt %d: blocked=%v", attempt, got)
		}
		// The verdict now says automated by JS detection, with the tags.
		r := b.request("/")
		r.Time = h.now
		v := &detect.Verdict{}
		if err := h.sm.Evaluate(context.Background(), r, v); err != nil {
			t.Fatal(err)
		}
		if v.Score != 1 || !v.JSDetectionChecked || v.JSDetectionPassed || !v.HasTag("headless") {
			t.Fatalf("verdict: %+v", v)
		}
		// The failed cookie expires after failed_ttl, not the session lifetime.
		if c.Expiry != h.now.Add(time.Hour).Unix() {
			t.Fatalf("failed session expires at %d", c.Expiry)
		}
	}
	if len(h.answers) != 2 || h.answers[0].Result != resultFailed || h.answers[1].Result != resultBlocked ||
		!h.answers[0].Failed() || !h.answers[1].Failed() || h.answers[1].Solved() {
		t.Fatalf("answers told: %+v", h.answers)
	}
	// A policy that keeps challenging gets the block page, not a loop.
	p := h.challenge(b, "/", detect.ActionManagedChallenge)
	if p.ticket != "" || string(p.resp.Body) != "blocked: block" {
		t.Fatalf("third challenge: %s", p.resp.Body)
	}
}

func TestRejections(t *testing.T) {
	h := newHarness(t, nil)
	type setup struct {
		b    *browser
		p    page
		body string
	}
	prepare := func(mut func(s *setup)) setup {
		s := setup{b: &browser{ip: "192.0.2.1", ua: uaHeadful}}
		s.p = h.challenge(s.b, "/x", detect.ActionManagedChallenge)
		s.body = answer(s.p.ticket, solve(s.p.ticket, s.p.difficulty), headfulSignals())
		if mut != nil {
			mut(&s)
		}
		return s
	}
	other := newHarness(t, nil) // other secret
	ob := &browser{ip: "192.0.2.1", ua: uaHeadful}
	foreign := other.challenge(ob, "/", detect.ActionManagedChallenge)

	for _, tc := range []struct {
		name   string
		mut    func(s *setup)
		ctype  string
		status int
		result string
	}{
		{"not a form", nil, "application/json", http.StatusBadRequest, resultMalformed},
		{"garbage", func(s *setup) { s.body = "%%%" }, form, http.StatusBadRequest, resultMalformed},
		{"no counter", func(s *setup) { s.body = "n=" + s.p.ticket }, form, http.StatusBadRequest, resultMalformed},
		{"too large", func(s *setup) { s.body += "&pad=" + strings.Repeat("x", 20<<10) }, form, http.StatusRequestEntityTooLarge, resultTooLarge},
		{"tampered ticket", func(s *setup) {
			// Swap one character for another of the base64url alphabet
			// (flipping a bit could leave the alphabet: '-'^1 is ',', and
			// that is a malformed ticket, not a forged one).
			tk := []byte(s.p.ticket)
			if tk[20] == 'A' {
				tk[20] = 'B'
			} else {
				tk[20] = 'A'
			}
			s.body = answer(string(tk), 0, headfulSignals())
		}, form, http.StatusBadRequest, resultSignature},
		{"forged by another deployment", func(s *setup) {
			s.body = answer(foreign.ticket, solve(foreign.ticket, foreign.difficulty), headfulSignals())
		}, form, http.StatusBadRequest, resultSignature},
		{"wrong work", func(s *setup) {
			c := solve(s.p.ticket, s.p.difficulty)
			for workOK(s.p.ticket, c, s.p.difficulty) {
				c++
			}
			s.body = answer(s.p.ticket, c, headfulSignals())
		}, form, http.StatusBadRequest, resultWork},
		{"expired", func(s *setup) { h.now = h.now.Add(11 * time.Minute) }, form, http.StatusForbidden, resultExpired},
		{"other network", func(s *setup) { s.b.ip = "198.51.100.7" }, form, http.StatusForbidden, resultUnbound},
		{"other user-agent", func(s *setup) { s.b.ua = "curl/8.5.0" }, form, http.StatusForbidden, resultUnbound},
		{"no-JS ticket posted", func(s *setup) {
			u, _ := url.Parse(s.p.nojs)
			s.body = answer(u.Query().Get("t"), 0, headfulSignals())
		}, form, http.StatusBadRequest, resultWrongKind},
		{"signals taken for another ticket", func(s *setup) {
			x := &browser{ip: s.b.ip, ua: s.b.ua, cookie: s.b.cookie}
			other := h.challenge(x, "/y", detect.ActionManagedChallenge)
			sig := headfulSignals()
			sig.Set("s_bd", bindSignals(other.ticket, sig))
			s.body = answer(s.p.ticket, solve(s.p.ticket, s.p.difficulty), sig)
		}, form, http.StatusBadRequest, resultSignalsUnbound},
		{"signals edited after binding", func(s *setup) {
			sig := headfulSignals()
			sig.Set("s_bd", bindSignals(s.p.ticket, sig))
			sig.Set("s_wd", "0")
			sig.Set("s_tp", "")
			sig.Set("s_ua", uaHeadful+" ")
			s.body = answer(s.p.ticket, solve(s.p.ticket, s.p.difficulty), sig)
		}, form, http.StatusBadRequest, resultSignalsUnbound},
		{"signals without binding", func(s *setup) {
			sig := headfulSignals()
			sig.Set("s_bd", "")
			s.body = answer(s.p.ticket, solve(s.p.ticket, s.p.difficulty), sig)
		}, form, http.StatusBadRequest, resultSignalsUnbound},
		{"truncated answer", func(s *setup) { s.body = s.body[:len(s.body)*2/3] }, form, http.StatusBadRequest, resultSignalsUnbound},
		{"oversized signal value", func(s *setup) {
			sig := headfulSignals()
			sig.Set("s_gr", strings.Repeat("x", 5000))
			s.body = answer(s.p.ticket, solve(s.p.ticket, s.p.difficulty), sig)
		}, form, http.StatusRequestEntityTooLarge, resultTooLarge},
		{"cookie of another session", func(s *setup) {
			x := &browser{ip: s.b.ip, ua: s.b.ua}
			h.challenge(x, "/", detect.ActionManagedChallenge)
			s.b.cookie = x.cookie
		}, form, http.StatusForbidden, resultSession},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.now = t0
			s := prepare(tc.mut)
			before := h.count(tc.result)
			rec := h.post(s.b, s.body, tc.ctype)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if h.count(tc.result)-before != 1 {
				t.Fatalf("result %q not counted", tc.result)
			}
			if len(rec.Result().Header.Values("Set-Cookie")) != 0 {
				t.Fatal("a rejected answer set a cookie")
			}
		})
	}
}

// TestSignalResults: every signal gets passed, failed or missing.
func TestSignalResults(t *testing.T) {
	results := func(v url.Values, ua string) map[string]string {
		s, err := ParseSubmission(answer("t", 0, v))
		if err != nil {
			t.Fatal(err)
		}
		j := Evaluate(&s.Signals, ua, 4)
		out := map[string]string{}
		for _, r := range j.Results {
			out[r.Signal] = r.Result
		}
		if len(out) != len(SignalNames()) {
			t.Fatalf("results for %d of %d signals: %v", len(out), len(SignalNames()), out)
		}
		return out
	}
	h := results(headfulSignals(), uaHeadful)
	for _, n := range SignalNames() {
		if h[n] != ResultPassed {
			t.Errorf("headful: %s %s", n, h[n])
		}
	}
	hl := results(headlessSignals(), uaHeadless)
	if hl["webdriver"] != ResultFailed || hl["headless"] != ResultFailed || hl["webgl"] != ResultFailed || hl["tampering"] != ResultPassed {
		t.Errorf("headless: %v", hl)
	}
	sig := headfulSignals()
	sig.Set("s_wst", "timeout")
	sig.Set("s_tp", "err")
	sig.Del("s_mq")
	m := results(sig, uaHeadful)
	if m["worker"] != ResultMissing || m["tampering"] != ResultMissing || m["screen"] != ResultMissing || m["webdriver"] != ResultPassed {
		t.Errorf("partial: %v", m)
	}
	for n, r := range results(url.Values{}, uaHeadful) {
		if r != ResultMissing {
			t.Errorf("no signals: %s %s", n, r)
		}
	}
}

func TestReplayRejected(t *testing.T) {
	h := newHarness(t, nil)
	b := &browser{ip: "192.0.2.1", ua: uaHeadful}
	p := h.challenge(b, "/", detect.ActionManagedChallenge)
	body := answer(p.ticket, solve(p.ticket, p.difficulty), headfulSignals())
	if rec := h.post(b, body, form); rec.Code != http.StatusSeeOther {
		t.Fatalf("first answer: %d %s", rec.Code, rec.Body)
	}
	// The same answer again, from the same client or another one with the
	// same cookie, is refused.
	if rec := h.post(b, body, form); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "already used") {
		t.Fatalf("replay: %d %s", rec.Code, rec.Body)
	}
	if h.count(resultReplayed) != 1 {
		t.Fatal("replay not counted")
	}
}

func TestMethodsAndPaths(t *testing.T) {
	h := newHarness(t, nil)
	b := &browser{ip: "192.0.2.1", ua: uaHeadful}
	for _, tc := range []struct {
		method, target string
		status         int
	}{
		{http.MethodGet, "/.well-known/botwarden/challenge", http.StatusMethodNotAllowed},
		{http.MethodPost, "/.well-known/botwarden/nojs", http.StatusMethodNotAllowed},
		{http.MethodGet, "/.well-known/botwarden/other", http.StatusNotFound},
		{http.MethodGet, "/.well-known/botwarden/nojs", http.StatusBadRequest}, // no ticket
	} {
		req := httptest.NewRequest(tc.method, tc.target, nil)
		if rec := h.do(b, req); rec.Code != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.target, rec.Code, tc.status)
		}
	}
}

func TestNoJSFlow(t *testing.T) {
	h := newHarness(t, nil)
	b := &browser{ip: "192.0.2.1", ua: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
	p := h.challenge(b, "/feed.xml", detect.ActionManagedChallenge)
	if p.nojs == "" {
		t.Fatal("no no-JS link on a managed challenge")
	}
	// Too early: a page that waits, the ticket still usable.
	h.now = h.now.Add(2 * time.Second)
	rec := h.get(b, p.nojs)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), `http-equiv="refresh"`) {
		t.Fatalf("too early: %d %s", rec.Code, rec.Body)
	}
	// Without the cookie: refused with an explanation.
	h.now = h.now.Add(4 * time.Second)
	noCookie := &browser{ip: b.ip, ua: b.ua}
	if rec := h.get(noCookie, p.nojs); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "cookie") {
		t.Fatalf("without cookie: %d %s", rec.Code, rec.Body)
	}
	// With the cookie after the wait: the lower-trust pass.
	rec = h.get(b, p.nojs)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/feed.xml" {
		t.Fatalf("no-JS pass: %d %s", rec.Code, rec.Body)
	}
	c := h.session(b)
	if !c.Flags.Has(token.ChallengePassed|token.NoJS) || c.Flags.Has(token.JSChecked) {
		t.Fatalf("session after no-JS pass: %+v", c)
	}
	// Once only.
	if rec := h.get(b, p.nojs); rec.Code != http.StatusForbidden {
		t.Fatalf("no-JS replay: %d", rec.Code)
	}
	// The verdict: challenge passed, JS not checked, tagged nojs.
	r := b.request("/feed.xml")
	r.Time = h.now
	v := &detect.Verdict{}
	_ = h.sm.Evaluate(context.Background(), r, v)
	if !v.ChallengePassed || v.JSDetectionChecked || v.Session == nil || !v.Session.NoJS || !v.HasTag(session.TagNoJS) {
		t.Fatalf("verdict after no-JS pass: %+v", v)
	}
}

func TestNoJSNotOfferedOnJSChallenge(t *testing.T) {
	h := newHarness(t, nil)
	p := h.challenge(&browser{ip: "192.0.2.1", ua: uaHeadful}, "/login", detect.ActionJSChallenge)
	if p.nojs != "" {
		t.Fatal("js_challenge offered the no-JS path")
	}
	h2 := newHarness(t, func(c *Config) { c.NoJS = false })
	if p := h2.challenge(&browser{ip: "192.0.2.1", ua: uaHeadful}, "/", detect.ActionManagedChallenge); p.nojs != "" {
		t.Fatal("no-JS path offered although disabled")
	}
}

func TestReturnPath(t *testing.T) {
	const pre = "/.well-known/botwarden"
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/a/b?c=d&e=f", "/a/b?c=d&e=f"},
		{"/a#frag", "/a"},
		{"", "/"},
		{"relative", "/"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"/a\r\nSet-Cookie: x", "/"},
		{"/a b", "/"},
		{pre + "/challenge", "/"},
		{pre, "/"},
		{pre + "x/ok", pre + "x/ok"},
		{"/long?" + strings.Repeat("q", 3000), "/long"},
		{"/" + strings.Repeat("p", 3000), "/"},
	} {
		if got := returnPath(tc.in, pre, 2048); got != tc.want {
			t.Errorf("returnPath(%.40q) = %.40q, want %.40q", tc.in, got, tc.want)
		}
	}
}

func TestEvaluate(t *testing.T) {
	parse := func(v url.Values) Signals {
		s, err := ParseSubmission(answer("t", 0, v))
		if err != nil {
			t.Fatal(err)
		}
		return s.Signals
	}
	mod := func(base url.Values, kv ...string) url.Values {
		v := url.Values{}
		for k, x := range base {
			v[k] = x
		}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	firefox := "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	for _, tc := range []struct {
		name   string
		sig    url.Values
		ua     string
		passed bool
		tags   []string
	}{
		{"headful chromium", headfulSignals(), uaHeadful, true, nil},
		{"headful in a VM (software GL)", mod(headfulSignals(), "s_gr", "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device))"), uaHeadful, true, []string{"swiftshader"}},
		{"pdf plugins off (BotD #135)", mod(headfulSignals(), "s_pl", "0"), uaHeadful, true, []string{"no-plugins"}},
		{"firefox", mod(headfulSignals(), "s_ua", firefox, "s_wua", firefox, "s_br", "n/a", "s_wbr", "n/a", "s_pf", "n/a", "s_ch", "undefined", "s_ps", "20100101"), firefox, true, nil},
		{"headless chromium", headlessSignals(), uaHeadless, false, []string{"webdriver", "headless", "swiftshader"}},
		{"headless, UA overridden in the page only", mod(headlessSignals(), "s_ua", uaHeadful, "s_av", "5.0"), uaHeadful, false, []string{"webdriver", "headless", "worker-mismatch", "swiftshader"}},
		{"headless, UA overridden everywhere", mod(headlessSignals(), "s_ua", uaHeadful, "s_wua", uaHeadful, "s_av", "5.0"), uaHeadful, false, []string{"webdriver", "swiftshader"}},
		{"webdriver hidden, UA patched in headers only", mod(headfulSignals(), "s_ua", uaHeadless, "s_wua", uaHeadless), uaHeadful, false, []string{"headless", "ua-mismatch"}},
		{"stealth: webdriver getter replaced", mod(headfulSignals(), "s_tp", "getter:webdriver,stack:webdriver"), uaHeadful, false, []string{"tampered"}},
		{"stealth: languages patched in the page only", mod(headfulSignals(), "s_lg", "de-DE,de"), uaHeadful, false, []string{"worker-mismatch"}},
		{"stealth: WebGL vendor patched in the page only", mod(headfulSignals(), "s_gr", "Intel Iris OpenGL Engine", "s_wgr", "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device))"), uaHeadful, false, []string{"worker-mismatch"}},
		{"no WebGL in the worker is no mismatch", mod(headfulSignals(), "s_gr", "ANGLE (Intel)", "s_wgr", "none"), uaHeadful, true, nil},
		{"worker timed out", mod(headfulSignals(), "s_wst", "timeout", "s_wua", ""), uaHeadful, true, nil},
		{"screen size redefined", mod(headfulSignals(), "s_mq", "0"), uaHeadful, true, []string{"window-size"}},
		{"synthetic clicks", mod(headfulSignals(), "s_evu", "3"), uaHeadful, false, []string{"synthetic-events"}},
		{"devtools side effect", mod(headfulSignals(), "s_dt", "1"), uaHeadful, false, []string{"devtools"}},
		{"selenium globals", mod(headfulSignals(), "s_ag", "$cdc_asdjflasutopfhvcZLmcfl_"), uaHeadful, false, []string{"automation"}},
		{"no signals at all", url.Values{}, uaHeadful, false, []string{"js-signals-missing"}},
		{"many soft signals", mod(headfulSignals(), "s_pl", "0", "s_lg", "", "s_ow", "0", "s_oh", "0"), uaHeadful, false,
			[]string{"no-plugins", "no-languages", "window-size"}},
		{"old headless permissions", mod(headfulSignals(), "s_np", "denied", "s_pq", "prompt", "s_ch", "undefined"), uaHeadful, false,
			[]string{"permissions-inconsistent", "no-window-chrome"}},
		{"UA-CH on a Firefox UA", mod(headfulSignals(), "s_ua", firefox, "s_wua", firefox), firefox, true, []string{"ua-mismatch"}},
		{"platform mismatch", mod(headfulSignals(), "s_pf", "Windows"), uaHeadful, true, []string{"ua-mismatch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := parse(tc.sig)
			j := Evaluate(&s, tc.ua, 4)
			if j.Passed != tc.passed || !slices.Equal(j.Tags, tc.tags) {
				t.Fatalf("Evaluate = %+v, want passed=%v tags=%v", j, tc.passed, tc.tags)
			}
			for _, tag := range j.Tags {
				if !session.KnownFinding(tag) {
					t.Errorf("tag %q has no cookie bit", tag)
				}
			}
		})
	}
}

func TestParseSubmission(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{
		{"minimal", "n=abc&c=12", true},
		{"no ticket", "c=12", false},
		{"empty ticket", "n=&c=1", false},
		{"two tickets", "n=a&n=b&c=1", false},
		{"negative counter", "n=a&c=-1", false},
		{"huge counter", "n=a&c=99999999999999999999999", false},
		{"two counters", "n=a&c=1&c=2", false},
		{"repeated signal", "n=a&c=1&s_wd=0&s_wd=1", false},
		{"bad escape", "n=a&c=1&s_ua=%zz", false},
		{"too many fields", "n=a&c=1" + manyFields(80), false},
		{"ticket too long", "n=" + strings.Repeat("A", maxTicketLen+1) + "&c=1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSubmission(tc.body)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	s, err := ParseSubmission("n=a&c=7&s_ua=" + strings.Repeat("u", 2000) + "&s_pl=abc&s_wd=1")
	if err != nil || len(s.Signals.UserAgent) != maxValueLen || s.Signals.Plugins != -1 || s.Signals.Webdriver != "1" || s.Counter != 7 || !s.Signals.Present {
		t.Fatalf("parsed %+v, %v", s, err)
	}
}

func manyFields(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("&f" + strconv.Itoa(i) + "=1")
	}
	return b.String()
}
