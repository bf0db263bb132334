package challenge

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/token"
)

// TestInvisibleDetection: the script the Wasm filter's tag loads, its
// ticket, and its answer recorded in the session cookie without any
// challenge; bad answers refused and counted.
func TestInvisibleDetection(t *testing.T) {
	h := newHarness(t, nil)
	pre := "/.well-known/botwarden"
	js := h.do(&browser{ip: "192.0.2.1", ua: uaHeadful}, httptest.NewRequest(http.MethodGet, pre+"/jsd.js", nil))
	if js.Code != 200 || !strings.Contains(js.Body.String(), "bwSignals") || !strings.Contains(js.Header().Get("Content-Type"), "javascript") {
		t.Fatalf("jsd.js: %d %s", js.Code, js.Header())
	}
	ticket := func(b *browser) string {
		rec := h.do(b, httptest.NewRequest(http.MethodPost, pre+"/jsd/ticket", nil))
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Fatalf("ticket: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	answer := func(b *browser, tk string, sig url.Values) *httptest.ResponseRecorder {
		f := url.Values{"n": {tk}, "c": {"0"}}
		for k, v := range sig {
			f[k] = v
		}
		f.Set("s_bd", BindSignals(tk, sig))
		req := httptest.NewRequest(http.MethodPost, pre+"/jsd", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return h.do(b, req)
	}

	// A browser on its first page: no cookie yet; the ticket request
	// starts its session, the answer records a passed detection.
	b := &browser{ip: "192.0.2.1", ua: uaHeadful}
	tk := ticket(b)
	if b.cookie == "" {
		t.Fatal("no session cookie with the ticket")
	}
	sid := h.session(b).SessionID
	if rec := answer(b, tk, headfulSignals()); rec.Code != http.StatusNoContent {
		t.Fatalf("answer: %d %s", rec.Code, rec.Body)
	}
	c := h.session(b)
	if c.SessionID != sid || !c.Flags.Has(token.JSChecked|token.JSPassed) || c.Flags.Has(token.ChallengePassed) {
		t.Fatalf("cookie after a passed detection: %+v", c)
	}
	// The next request carries the result (the session engine reads it).
	r := b.request("/next")
	v := &detect.Verdict{}
	if err := h.sm.Evaluate(t.Context(), r, v); err != nil || !v.JSDetectionChecked || !v.JSDetectionPassed {
		t.Fatalf("next request: checked %v passed %v (%v)", v.JSDetectionChecked, v.JSDetectionPassed, err)
	}
	if h.count(resultJSDPassed) != 1 {
		t.Error("jsd_passed not counted")
	}
	// The same answer again: replayed.
	if rec := answer(b, tk, headfulSignals()); rec.Code != http.StatusBadRequest || h.count(resultReplayed) != 1 {
		t.Errorf("replay: %d %s", rec.Code, rec.Body)
	}

	// Headless Chromium: recorded as failed, the session then certainly
	// automated.
	hb := &browser{ip: "192.0.2.9", ua: uaHeadless}
	if rec := answer(hb, ticket(hb), headlessSignals()); rec.Code != http.StatusNoContent {
		t.Fatalf("headless answer: %d %s", rec.Code, rec.Body)
	}
	if c := h.session(hb); !c.Flags.Has(token.JSChecked) || c.Flags.Has(token.JSPassed) || c.Score != 1 {
		t.Fatalf("headless cookie: %+v", c)
	}
	v = &detect.Verdict{}
	_ = h.sm.Evaluate(t.Context(), hb.request("/next"), v)
	if v.Score != detect.ScoreAutomated || !v.HasTag("headless") {
		t.Errorf("headless next request: score %d tags %v", v.Score, v.Tags)
	}

	// Refusals, each counted by reason.
	other := &browser{ip: "192.0.2.1", ua: uaHeadful}
	otk := ticket(other)
	for _, tc := range []struct {
		name   string
		b      *browser
		tk     string
		sig    url.Values
		result string
	}{
		{"another address", &browser{ip: "198.51.100.1", ua: uaHeadful, cookie: other.cookie}, otk, headfulSignals(), resultUnbound},
		{"a challenge ticket", other, h.challenge(other, "/", detect.ActionManagedChallenge).ticket, headfulSignals(), resultWrongKind},
		{"forged", other, otk[:len(otk)-2] + "AA", headfulSignals(), resultSignature},
	} {
		before := h.count(tc.result)
		if rec := answer(tc.b, tc.tk, tc.sig); rec.Code < 400 || h.count(tc.result) != before+1 {
			t.Errorf("%s: %d %s (%s counted %v→%v)", tc.name, rec.Code, rec.Body, tc.result, before, h.count(tc.result))
		}
	}
	// Signals bound to another ticket.
	sig := headfulSignals()
	f := url.Values{"n": {otk}, "c": {"0"}}
	for k, v := range sig {
		f[k] = v
	}
	f.Set("s_bd", BindSignals(ticket(other), sig))
	req := httptest.NewRequest(http.MethodPost, pre+"/jsd", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if rec := h.do(other, req); rec.Code != http.StatusBadRequest || h.count(resultSignalsUnbound) != 1 {
		t.Errorf("signals of another ticket: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do(other, httptest.NewRequest(http.MethodGet, pre+"/jsd", nil)); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /jsd: %d", rec.Code)
	}
}
