package browser

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/e2e"
	"github.com/botwarden/botwarden/e2e/gateway"
	"github.com/botwarden/botwarden/internal/metricstest"
)

// testPolicy challenges every client that has not passed a challenge (an
// Anubis-style "challenge everyone" site), and blocks sessions whose
// JavaScript detection failed — the rule issue 4 names. Static files (the
// browser's /favicon.ico) pass, as in the bot_fight preset.
const testPolicy = `version: 1
mode: mitigate
rules:
  - id: static_resource
    expression: bot.static_resource
    action: skip
  - id: js_failed
    expression: bot.js_detection.checked && !bot.js_detection.passed
    action: block
  - id: challenge_new_visitors
    expression: "!bot.challenge.passed"
    action: managed_challenge
`

// challengeOnlyPolicy has no js_failed rule: a client failing the
// JavaScript detection is challenged again until the challenge's
// max_attempts blocks it.
const challengeOnlyPolicy = `version: 1
mode: mitigate
rules:
  - id: static_resource
    expression: bot.static_resource
    action: skip
  - id: challenge_new_visitors
    expression: "!bot.challenge.passed"
    action: managed_challenge
`

// logged is one request as the gateway's access log tells it, with what
// ext_authz decided (its dynamic metadata) when the request was checked.
type logged struct {
	at       time.Time // the request's start
	method   string
	path     string // with the query
	ua       string
	client   netip.Addr // the downstream address the gateway derived
	status   int
	checked  bool // ext_authz metadata present (the challenge route is not checked)
	action   detect.Action
	rule     string
	score    int
	source   string
	tags     []string
	jsPassed bool
	session  string
	verdict  netip.Addr // the client address botwarden judged
}

func (l logged) String() string {
	if !l.checked {
		return fmt.Sprintf("%s %s → %d (unchecked)", l.method, l.path, l.status)
	}
	return fmt.Sprintf("%s %s → %d: %s by %q, score %d (%s), tags %v, js passed %t, session %q, client %s",
		l.method, l.path, l.status, l.action, l.rule, l.score, l.source, l.tags, l.jsPassed, l.session, l.verdict)
}

// stack is botwarden behind the e2e gateway in front of the pages origin.
type stack struct {
	t      testing.TB
	url    string // the gateway, http://127.0.0.1:port
	bw     *e2e.Botwarden
	origin *origin
	// keys opens session cookies: the ring botwarden was configured with.
	keys       *token.Ring
	cookieName string
	// prefix is the challenge route; difficulty its default proof of work.
	prefix     string
	difficulty int

	mu  sync.Mutex
	log []logged
}

// newStack starts botwarden (the test policy, a fixed session key, then
// mutate) and a gateway of kind; everything stops with the test.
func newStack(t *testing.T, kind string, mutate func(*config.Config)) *stack {
	t.Helper()
	key := token.NewKey(1)
	keys, err := token.NewRing([]token.Key{key}, key.ID)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, keys: keys, origin: &origin{}}
	policy := e2e.Policy(t, testPolicy)
	s.bw = e2e.StartBotwarden(t, func(c *config.Config) {
		policy(c)
		c.Session.Keys = []session.KeyConfig{{ID: key.ID, Secret: key.String()}}
		c.Session.ActiveKey = key.ID
		if mutate != nil {
			mutate(c)
		}
		s.cookieName, s.prefix, s.difficulty = c.Session.CookieName, c.Challenge.Prefix, c.Challenge.Difficulty
		s.origin.cookieName = c.Session.CookieName
	})
	site := httptest.NewServer(s.origin)
	t.Cleanup(site.Close)
	gw := e2e.StartGateway(t, kind, s.bw, &e2e.Origin{Addr: strings.TrimPrefix(site.URL, "http://")},
		gateway.Options{Tap: gateway.AccessLoggerFunc(s.tap)})
	s.url = gw.URL()
	return s
}

// tap keeps every access-log entry the gateway produces.
func (s *stack) tap(e *accesslogv3.HTTPAccessLogEntry) {
	cp, req := e.GetCommonProperties(), e.GetRequest()
	l := logged{
		at:     cp.GetStartTime().AsTime(),
		method: req.GetRequestMethod().String(),
		path:   req.GetPath(),
		ua:     req.GetUserAgent(),
		status: int(e.GetResponse().GetResponseCode().GetValue()),
	}
	l.client, _ = netip.ParseAddr(cp.GetDownstreamRemoteAddress().GetSocketAddress().GetAddress())
	if md, ok := cp.GetMetadata().GetFilterMetadata()[gateway.MetadataNamespace]; ok {
		f := md.GetFields()
		l.checked = true
		l.action = detect.Action(f[detect.FieldEnforcedAction].GetStringValue())
		l.rule = f[detect.FieldRuleID].GetStringValue()
		l.score = int(f[detect.FieldBotScore].GetNumberValue())
		l.source = f[detect.FieldBotScoreSrc].GetStringValue()
		l.jsPassed = f[detect.FieldJSDetectionPassed].GetStringValue() == detect.JSDetectionResultPassed
		l.session = f[detect.FieldSessionID].GetStringValue()
		l.verdict, _ = netip.ParseAddr(f[detect.FieldClientIP].GetStringValue())
		for _, v := range f[detect.FieldBotTags].GetListValue().GetValues() {
			l.tags = append(l.tags, v.GetStringValue())
		}
	}
	s.mu.Lock()
	s.log = append(s.log, l)
	s.mu.Unlock()
}

// requests returns the logged requests in the order they started (entries
// arrive when requests end, and from Envoy in batches).
func (s *stack) requests() []logged {
	s.mu.Lock()
	out := slices.Clone(s.log)
	s.mu.Unlock()
	slices.SortStableFunc(out, func(a, b logged) int { return a.at.Compare(b.at) })
	return out
}

// entry waits for the access-log entry of the request for path (tests give
// each request of their own a unique path).
func (s *stack) entry(path string) logged {
	s.t.Helper()
	var got logged
	waitFor(s.t, 10*time.Second, "the access-log entry of "+path, func() bool {
		for _, l := range s.requests() {
			if l.path == path {
				got = l
				return true
			}
		}
		return false
	})
	return got
}

// answerPath is where challenge answers are posted.
func (s *stack) answerPath() string { return s.prefix + "/challenge" }

// counter reads one of botwarden's /metrics counters.
func (s *stack) counter(name, label, value string) float64 {
	s.t.Helper()
	return metricstest.Sum(s.t, s.bw.Server.Registry(), name, map[string]string{label: value})
}

// submissions is how many challenge answers ended with result.
func (s *stack) submissions(result string) float64 {
	s.t.Helper()
	return s.counter("botwarden_challenge_submissions_total", "result", result)
}

// open opens a session cookie value with botwarden's key.
func (s *stack) open(value string) token.Claims {
	s.t.Helper()
	c, err := s.keys.Open(value, time.Now())
	if err != nil {
		s.t.Fatalf("session cookie does not open with the configured key: %v", err)
	}
	return c
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clientFrom is an HTTP client whose connections leave from local address
// from, and which does not follow redirects. The gateway is the edge
// (use_remote_address, no trusted hops), so from is the client address it
// derives and botwarden judges: 127.0.0.0/8 is all loopback on Linux.
func clientFrom(t testing.TB, from string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// origin is the protected site: numbered pages that each lead to the next
// (a visitor reading 20 pages), and a record of what it served.
type origin struct {
	cookieName string
	mu         sync.Mutex
	served     []string
	cookie     map[string]string // the session cookie each user-agent sent
}

// pages is how many pages a visit reads after the first one.
const pages = 20

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.served = append(o.served, r.URL.RequestURI())
	if c, err := r.Cookie(o.cookieName); err == nil {
		if o.cookie == nil {
			o.cookie = map[string]string{}
		}
		o.cookie[r.UserAgent()] = c.Value
	}
	o.mu.Unlock()
	n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/page/"))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	next := ""
	if n > 0 && n <= pages {
		// Follow the link shortly after load, as a reader clicking on.
		next = fmt.Sprintf(`<a id="next" href="/page/%d">next</a><script>setTimeout(function(){location.href="/page/%d"},30)</script>`, n+1, n+1)
	}
	fmt.Fprintf(w, "<!doctype html><html><head><title>page %d</title></head><body><h1 id=\"title\">page %d</h1>%s</body></html>", n, n, next)
}

// pagesServed returns the /page/ URIs the origin served (not the
// browser's /favicon.ico).
func (o *origin) pagesServed() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, p := range o.served {
		if strings.HasPrefix(p, "/page/") {
			out = append(out, p)
		}
	}
	return out
}

func (o *origin) cookieOf(ua string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cookie[ua]
}
