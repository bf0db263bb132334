// Package browser holds end-to-end tests of the session cookie and the
// managed challenge with real Chromium (Debian's chromium, headless and
// headful under Xvfb) and plain HTTP clients.
//
// The stack is botwarden's real decision path: the session engine and
// finisher, the CEL policy, the ext_authz gRPC server over loopback and the
// challenge responder and endpoint. In front of it stands a small gateway
// that applies CheckResponses the way Envoy does (reference/envoy.md §1.3:
// ok → upstream with response_headers_to_add; denied → the status, headers
// and body of denied_response) and routes /.well-known/botwarden/ to the
// challenge endpoint, as envoy/ configs do.
package browser

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/challenge"
	"github.com/botwarden/botwarden/detect/policy"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/extauthz"
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

// record is what the stack decided for one checked request.
type record struct {
	at        time.Time
	path      string
	ua        string
	client    netip.Addr
	action    detect.Action
	rule      string
	score     int
	source    detect.Source
	tags      []string
	jsChecked bool
	jsPassed  bool
	challenge bool
	session   string
	nojs      bool
}

// recorder is a detect.Finisher that keeps every verdict.
type recorder struct {
	mu   sync.Mutex
	recs []record
}

func (rc *recorder) Finish(_ context.Context, r *detect.Request, v *detect.Verdict) {
	rec := record{
		at: time.Now(), path: r.Path, ua: r.UserAgent(), client: r.ClientIP, action: v.EnforcedAction, rule: v.RuleID,
		score: v.Score, source: v.Source, tags: append([]string(nil), v.Tags...),
		jsChecked: v.JSDetectionChecked, jsPassed: v.JSDetectionPassed, challenge: v.ChallengePassed,
	}
	if r.Session != nil {
		rec.session, rec.nojs = r.Session.ID, r.Session.NoJS
	}
	rc.mu.Lock()
	rc.recs = append(rc.recs, rec)
	rc.mu.Unlock()
}

func (rc *recorder) all() []record {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]record(nil), rc.recs...)
}

// forUA returns the records of one client (by user-agent).
func (rc *recorder) forUA(ua string) []record {
	var out []record
	for _, r := range rc.all() {
		if r.ua == ua {
			out = append(out, r)
		}
	}
	return out
}

// stack is botwarden plus the gateway and an origin, all on loopback.
type stack struct {
	t        testing.TB
	url      string // the gateway, http://127.0.0.1:port
	sessions *session.Manager
	rec      *recorder
	origin   *origin
	gw       *gateway
	// difficulty is the challenge's default proof-of-work difficulty.
	difficulty int
}

// newStack starts everything; it stops with the test.
func newStack(t testing.TB, mutChallenge func(*challenge.Config)) *stack {
	t.Helper()
	log := zerolog.Nop()
	if os.Getenv("E2E_LOG") != "" {
		log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	scfg := session.DefaultConfig()
	scfg.Keys = []session.KeyConfig{{ID: 1, Secret: token.NewKey(1).String()}}
	scfg.ActiveKey = 1
	sm, err := session.New(scfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ccfg := challenge.DefaultConfig()
	if mutChallenge != nil {
		mutChallenge(&ccfg)
	}
	ch, err := challenge.New(ccfg, sm, challenge.Options{Fallback: extauthz.BlockResponder{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	pfile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pfile, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	pcfg := policy.DefaultConfig()
	pcfg.File, pcfg.Watch = pfile, false
	dec, err := policy.New(pcfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	pipe := &detect.Pipeline{
		Engines:   []detect.Engine{sm},
		Decider:   dec,
		Finishers: []detect.Finisher{sm, rec},
		Budget:    time.Second, // a loaded CI machine must not turn checks into fallbacks
	}
	authz, err := extauthz.New(pipe, extauthz.Options{Config: extauthz.DefaultConfig(), Responder: ch, Logger: log})
	if err != nil {
		t.Fatal(err)
	}

	// ext_authz over real gRPC on loopback.
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	authz.Register(gs)
	go func() { _ = gs.Serve(gl) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	s := &stack{t: t, sessions: sm, rec: rec, origin: &origin{}, difficulty: ccfg.Difficulty}
	gw := &gateway{authz: authv3.NewAuthorizationClient(conn), challenge: ch, prefix: ccfg.Prefix, origin: s.origin}
	s.gw = gw
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(hl) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.url = "http://" + hl.Addr().String()
	return s
}

// gateway applies ext_authz decisions as Envoy does.
type gateway struct {
	authz     authv3.AuthorizationClient
	challenge http.Handler
	prefix    string
	origin    http.Handler

	mu      sync.Mutex
	answers []answer // challenge answers as browsers posted them
}

// answer is one POST to the challenge endpoint, kept to be replayed.
type answer struct {
	body, ua, cookie string
}

func (g *gateway) keepAnswer(r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	g.mu.Lock()
	g.answers = append(g.answers, answer{body: string(body), ua: r.UserAgent(), cookie: r.Header.Get("Cookie")})
	g.mu.Unlock()
}

func (g *gateway) posted() []answer {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]answer(nil), g.answers...)
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The challenge endpoint is routed to botwarden's HTTP port and not
	// checked (the route disables ext_authz).
	if strings.HasPrefix(r.URL.Path, g.prefix+"/") {
		if r.Method == http.MethodPost {
			g.keepAnswer(r)
		}
		g.challenge.ServeHTTP(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second) // Envoy's timeout, generous for CI
	defer cancel()
	resp, err := g.authz.Check(ctx, checkRequest(r))
	if err != nil {
		// failure_mode_allow: false, status_on_error default 403.
		http.Error(w, "ext_authz error: "+err.Error(), http.StatusForbidden)
		return
	}
	if codes.Code(resp.GetStatus().GetCode()) == codes.OK {
		ok := resp.GetOkResponse()
		for _, h := range ok.GetHeaders() { // append unset/false → overwrite
			r.Header.Set(h.GetHeader().GetKey(), h.GetHeader().GetValue())
		}
		for _, name := range ok.GetHeadersToRemove() {
			r.Header.Del(name)
		}
		for _, h := range ok.GetResponseHeadersToAdd() {
			w.Header().Add(h.GetHeader().GetKey(), h.GetHeader().GetValue())
		}
		g.origin.ServeHTTP(w, r)
		return
	}
	d := resp.GetDeniedResponse()
	for _, h := range d.GetHeaders() {
		if h.GetAppend().GetValue() {
			continue // Envoy drops append=true headers on a denial
		}
		w.Header().Add(h.GetHeader().GetKey(), h.GetHeader().GetValue())
	}
	status := int(d.GetStatus().GetCode())
	if status == 0 {
		status = http.StatusForbidden
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, d.GetBody())
}

// checkRequest builds the CheckRequest Envoy would send: source is the TCP
// peer, headers lower-case with duplicates joined by ",".
func checkRequest(r *http.Request) *authv3.CheckRequest {
	peer, _ := netip.ParseAddrPort(r.RemoteAddr)
	h := map[string]string{}
	for k, v := range r.Header {
		h[strings.ToLower(k)] = strings.Join(v, ",")
	}
	h["x-forwarded-proto"] = "http"
	h["x-request-id"] = strconv.FormatInt(time.Now().UnixNano(), 36)
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: peer.Addr().String(), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(peer.Port())}},
		}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: h["x-request-id"], Method: r.Method, Headers: h, Path: r.URL.RequestURI(), Host: r.Host,
			Scheme: "http", Protocol: r.Proto,
		}},
	}}
}

// origin is the protected site: numbered pages that each lead to the next
// (a visitor reading 20 pages), and a record of what it served.
type origin struct {
	mu     sync.Mutex
	served []string
	cookie map[string]string // the session cookie each user-agent sent
}

// pages is how many pages a visit reads after the first one.
const pages = 20

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.served = append(o.served, r.URL.RequestURI())
	if c, err := r.Cookie("__bw"); err == nil {
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

func (o *origin) servedPaths() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.served...)
}

func (o *origin) cookieOf(ua string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cookie[ua]
}
