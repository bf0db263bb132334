package behavior

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"

	"github.com/botwarden/botwarden/accesslog"
	"github.com/botwarden/botwarden/config"
	analysis "github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/e2e"
	"github.com/botwarden/botwarden/e2e/gateway"
	"github.com/botwarden/botwarden/extauthz"
)

// testPolicy blocks what the behavioural analysis convicted (score < 30)
// and nothing else, so that every block here is the loop's doing.
const testPolicy = `version: 1
mode: mitigate
rules:
  - id: behavioural
    expression: bot.reputation.found && bot.reputation.score < 30
    action: block
`

// behaviourTags are the tags the analysis publishes.
var behaviourTags = []string{analysis.TagRate, analysis.TagBurst, analysis.TagCrawl, analysis.TagNoAssets, analysis.TagProbing,
	analysis.TagLoginFailures, analysis.TagAccounts, analysis.TagEnumeration, analysis.TagUARotation, analysis.TagIPRotation,
	analysis.TagRegular, analysis.TagChallenge, analysis.TagRobots, analysis.TagAnomaly}

// stack is botwarden's real server (e2e.StartBotwarden: ext_authz, ALS
// receiver, analysis and reputation store as `botwarden serve` wires them)
// behind the e2e gateway running envoy/envoy-http.yaml, in front of a
// small shop. What botwarden decided is read back from the gateway's
// access log (the ext_authz dynamic metadata of every request).
type stack struct {
	url string
	mu  sync.Mutex
	log map[netip.Addr][]logged
}

// logged is one request as the gateway's access log tells it.
type logged struct {
	path   string
	status int
	tags   []string // BotTags: the reputation verdict's tags are merged in
	action string
}

func newStack(t *testing.T, kind string) *stack {
	t.Helper()
	bw := e2e.StartBotwarden(t, func(c *config.Config) {
		e2e.Policy(t, testPolicy)(c)
		// As the gateway's connection manager below: one trusted hop in
		// front (the test clients stand for the internet behind a load
		// balancer that appends their address).
		c.ExtAuthz.ClientIP = extauthz.ClientIPConfig{UseExternalAddress: true, UseXFF: true, XFFNumTrustedHops: 1, PeerFallback: true}
	})
	shop := httptest.NewServer(origin{})
	t.Cleanup(shop.Close)
	st := &stack{log: map[netip.Addr][]logged{}}
	one := uint32(1)
	gw := e2e.StartGateway(t, kind, bw, &e2e.Origin{Addr: strings.TrimPrefix(shop.URL, "http://")},
		gateway.Options{XFFNumTrustedHops: &one, Tap: gateway.AccessLoggerFunc(st.tap)})
	st.url = gw.URL()
	return st
}

// tapLimits bound what the tap keeps of an entry.
var tapLimits = accesslog.Limits{MaxValueBytes: 8192, MaxHeaders: 64, MaxTags: 32, MaxClockSkew: time.Hour, MaxDuration: 24 * time.Hour}

// tap reads every access-log entry the gateway produces, with the same
// conversion botwarden's receiver applies.
func (s *stack) tap(e *accesslogv3.HTTPAccessLogEntry) {
	ev, _, err := accesslog.Convert(e, "", "", time.Now(), tapLimits)
	if err != nil || !ev.ClientIP.IsValid() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log[ev.ClientIP] = append(s.log[ev.ClientIP], logged{path: ev.Path, status: ev.Status, tags: ev.BotTags, action: ev.Action})
}

// requests returns what the gateway logged for addr, in order.
func (s *stack) requests(addr string) []logged {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]logged(nil), s.log[netip.MustParseAddr(addr)]...)
}

// statuses returns what the gateway answered addr, in order.
func (s *stack) statuses(addr string) []int {
	var out []int
	for _, l := range s.requests(addr) {
		out = append(out, l.status)
	}
	return out
}

// behaviourTagsOf returns the behavioural tags botwarden attached to addr's
// requests.
func (s *stack) behaviourTagsOf(addr string) []string {
	var out []string
	for _, l := range s.requests(addr) {
		for _, tag := range l.tags {
			if slices.Contains(behaviourTags, tag) && !slices.Contains(out, tag) {
				out = append(out, tag)
			}
		}
	}
	return out
}

// origin is a small shop: pages, their assets, and a login that refuses.
type origin struct{}

func (origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/static/"):
		ct := map[string]string{".css": "text/css", ".js": "text/javascript", ".png": "image/png", ".woff2": "font/woff2"}[filepath.Ext(p)]
		w.Header().Set("Content-Type", ct)
		_, _ = io.WriteString(w, strings.Repeat("x", 256))
	case p == "/login" && r.Method == http.MethodPost:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "<p>wrong password</p>")
	case p == "/catalog":
		// Links to every product, as a crawler's starting point.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!doctype html><html><body><ul>")
		for i := range 150 {
			fmt.Fprintf(w, `<li><a href="/product/%d">product %d</a></li>`, 2000+i, 2000+i)
		}
		_, _ = io.WriteString(w, "</ul></body></html>")
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><link rel=stylesheet href="/static/site.css"><script src="/static/app.js"></script></head><body><h1>%s</h1><img src="/static/logo.png"></body></html>`, p)
	}
}

// client returns a visitor behind addr that keeps cookies (the session
// cookie botwarden issues) like a browser.
func (s *stack) client(addr string) *e2e.Visitor { return e2e.NewVisitor(addr, s.url) }

// do sends one request of c and fails the test (not at once) when it
// cannot be sent.
func do(t *testing.T, c *e2e.Visitor, method, path string, body io.Reader) int {
	status, err := c.Do(method, path, body)
	if err != nil {
		t.Error(err)
	}
	return status
}
