package challenge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/internal/metricstest"
)

// Readings taken from Debian Chromium 156 on this machine (see
// e2e/browser): headful without automation under Xvfb, and chromedp's
// default headless.
const (
	uaHeadful  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
	uaHeadless = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"
)

func headfulSignals() url.Values {
	return url.Values{
		"s_wd": {"0"}, "s_ua": {uaHeadful}, "s_av": {strings.TrimPrefix(uaHeadful, "Mozilla/")},
		"s_br": {"Not:A-Brand/8,Chromium/156"}, "s_pf": {"Linux"}, "s_mob": {"0"}, "s_ch": {"object"},
		"s_pl": {"5"}, "s_mt": {"2"}, "s_lg": {"en-US,en"}, "s_np": {"default"}, "s_pq": {"prompt"},
		"s_ps": {"20030107"}, "s_hc": {"2"}, "s_tz": {"UTC"}, "s_sw": {"1280"}, "s_sh": {"1024"},
		"s_aw": {"1280"}, "s_ah": {"1024"}, "s_ow": {"1050"}, "s_oh": {"1004"}, "s_iw": {"1050"}, "s_ih": {"861"},
		"s_gv": {"none"}, "s_gr": {"none"}, "s_ag": {""}, "s_dt": {"0"}, "s_ms": {"94"},
		"s_npf": {"Linux x86_64"}, "s_dpr": {"1"}, "s_mq": {"1"}, "s_tp": {""},
		"s_wst": {"ok"}, "s_wua": {uaHeadful}, "s_wlg": {"en-US,en"}, "s_whc": {"2"}, "s_wpf": {"Linux x86_64"},
		"s_wbr": {"Not:A-Brand/8,Chromium/156"}, "s_wgr": {"none"}, "s_evt": {"0"}, "s_evu": {"0"},
	}
}

func headlessSignals() url.Values {
	v := headfulSignals()
	v.Set("s_wd", "1")
	v.Set("s_ua", uaHeadless)
	v.Set("s_wua", uaHeadless)
	v.Set("s_av", strings.TrimPrefix(uaHeadless, "Mozilla/"))
	v.Set("s_gv", "Google Inc. (Google)")
	v.Set("s_gr", "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)")
	for k, x := range map[string]string{"s_sw": "800", "s_sh": "600", "s_aw": "800", "s_ah": "600", "s_ow": "780", "s_oh": "580", "s_iw": "780", "s_ih": "437"} {
		v.Set(k, x)
	}
	return v
}

var t0 = time.Unix(1_800_000_000, 0)

// harness wires a session Manager and a Challenge with a settable clock,
// the way the server does, and plays the client's side.
type harness struct {
	t   testing.TB
	now time.Time
	sm  *session.Manager
	c   *Challenge
	reg *prometheus.Registry
	// answers is what Options.OnAnswer was told.
	answers []Answer
}

type blockPage struct{}

func (blockPage) Respond(_ *detect.Request, v *detect.Verdict) detect.Response {
	var a detect.Action
	if v != nil {
		a = v.EnforcedAction
	}
	return detect.Response{Status: http.StatusForbidden, Body: []byte("blocked: " + string(a))}
}

func newHarness(t testing.TB, mut func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, now: t0, reg: prometheus.NewRegistry()}
	scfg := session.DefaultConfig()
	scfg.Keys = []session.KeyConfig{{ID: 1, Secret: token.NewKey(1).String()}}
	scfg.ActiveKey = 1
	var err error
	if h.sm, err = session.New(scfg, zerolog.Nop(), h.reg); err != nil {
		t.Fatal(err)
	}
	h.sm.SetClock(func() time.Time { return h.now })
	cfg := DefaultConfig()
	cfg.Difficulty = 8 // the work is checked with one hash whatever the difficulty
	if mut != nil {
		mut(&cfg)
	}
	mem := NewMemory(cfg.ReplayCapacity)
	mem.now = func() time.Time { return h.now }
	h.c, err = New(cfg, h.sm, Options{
		Fallback: blockPage{}, Replay: mem, Logger: zerolog.Nop(), Registerer: h.reg,
		ClientIP: func(r *http.Request) netip.Addr { return peerIP(r) },
		OnAnswer: func(a Answer) { h.answers = append(h.answers, a) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// browser is one client: address, UA and cookie jar of one cookie.
type browser struct {
	ip, ua string
	cookie string // name=value
}

func (b *browser) request(path string) *detect.Request {
	h := detect.Headers{"user-agent": b.ua}
	if b.cookie != "" {
		h["cookie"] = b.cookie
	}
	return &detect.Request{ClientIP: netip.MustParseAddr(b.ip), Host: "shop.example", Method: "GET", Path: path, Headers: h}
}

// keep stores the session cookie of Set-Cookie headers.
func (b *browser) keep(t testing.TB, setCookies []string) {
	t.Helper()
	for _, sc := range setCookies {
		c, err := http.ParseSetCookie(sc)
		if err != nil {
			t.Fatal(err)
		}
		if c.Name == "__bw" {
			b.cookie = c.Name + "=" + c.Value
		}
	}
}

var (
	ticketRE = regexp.MustCompile(`name="n" value="([^"]+)"`)
	nojsRE   = regexp.MustCompile(`<a href="(/\.well-known/botwarden/nojs\?t=[^"]+)"`)
	diffRE   = regexp.MustCompile(`data-difficulty="(\d+)"`)
)

// page is a challenge page as the browser sees it.
type page struct {
	resp       detect.Response
	ticket     string
	nojs       string
	difficulty int
}

// challenge has the browser ask for path and get a challenge for action.
func (h *harness) challenge(b *browser, path string, action detect.Action) page {
	h.t.Helper()
	r := b.request(path)
	r.Time = h.now
	v := &detect.Verdict{Action: action, EnforcedAction: action}
	if err := h.sm.Evaluate(context.Background(), r, v); err != nil {
		h.t.Fatal(err)
	}
	h.sm.Finish(context.Background(), r, v)
	resp := h.c.Respond(r, v)
	b.keep(h.t, v.SetCookies)
	b.keep(h.t, resp.Headers.Values("Set-Cookie"))
	p := page{resp: resp}
	if m := ticketRE.FindSubmatch(resp.Body); m != nil {
		p.ticket = string(m[1])
	}
	if m := nojsRE.FindSubmatch(resp.Body); m != nil {
		p.nojs = strings.ReplaceAll(string(m[1]), "&amp;", "&")
	}
	if m := diffRE.FindSubmatch(resp.Body); m != nil {
		p.difficulty, _ = strconv.Atoi(string(m[1]))
	}
	return p
}

// answer builds the form the page's script would post, its signals bound
// to ticket as the page binds them.
func answer(ticket string, counter uint64, signals url.Values) string {
	f := url.Values{"n": {ticket}, "c": {strconv.FormatUint(counter, 10)}}
	for k, v := range signals {
		f[k] = v
	}
	if len(signals) > 0 && !signals.Has("s_bd") {
		f.Set("s_bd", bindSignals(ticket, signals))
	}
	return f.Encode()
}

// bindSignals is the digest the page posts.
func bindSignals(ticket string, signals url.Values) string { return BindSignals(ticket, signals) }

// solve finds a proof-of-work counter for ticket at bits.
func solve(ticket string, bits int) uint64 {
	for c := uint64(0); ; c++ {
		if workOK(ticket, c, bits) {
			return c
		}
	}
}

// post sends a body to the handler as browser b.
func (h *harness) post(b *browser, body, contentType string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/.well-known/botwarden/challenge", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return h.do(b, req)
}

func (h *harness) get(b *browser, target string) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.do(b, httptest.NewRequest(http.MethodGet, target, nil))
}

func (h *harness) do(b *browser, req *http.Request) *httptest.ResponseRecorder {
	req.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(b.ip), 40000).String()
	req.Header.Set("User-Agent", b.ua)
	if b.cookie != "" {
		req.Header.Set("Cookie", b.cookie)
	}
	rec := httptest.NewRecorder()
	h.c.ServeHTTP(rec, req)
	b.keep(h.t, rec.Result().Header.Values("Set-Cookie"))
	return rec
}

// session returns what the browser's cookie says now.
func (h *harness) session(b *browser) token.Claims {
	h.t.Helper()
	r := b.request("/")
	r.Time = h.now
	c, err := h.sm.ReadRequest(r)
	if err != nil {
		h.t.Fatalf("browser cookie: %v", err)
	}
	return c
}

func (h *harness) count(result string) float64 {
	h.t.Helper()
	return metricstest.Value(h.t, h.c.submissions.WithLabelValues(result))
}

func verdictFor(a detect.Action) *detect.Verdict {
	return &detect.Verdict{Action: a, EnforcedAction: a}
}
