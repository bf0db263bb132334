// Package challenge serves botwarden's managed and JavaScript challenges:
// the page (a detect.Responder for the managed_challenge and js_challenge
// actions), and the endpoint its answers go to (an http.Handler mounted on
// botwarden's HTTP port under Config.Prefix).
//
// The page collects JavaScript detection signals, solves a SHA-256 proof of
// work bound to a signed ticket, and posts both; the handler verifies the
// ticket (signature, age, client binding, single use), recomputes the work,
// judges the signals and records the result in the session cookie
// (detect/session), then sends the client back where it was going. A
// managed challenge also offers a no-JavaScript path: a meta refresh after
// a short wait that grants a lower-trust pass when the challenge page's
// cookie comes back.
package challenge

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/token"
)

var (
	//go:embed assets/signals.js
	signalsJS string
	//go:embed assets/challenge.js
	challengeJS string
	//go:embed assets/jsd.js
	jsdJS string

	// script is the challenge page's inline script; detectScript is what
	// the injected tag of the invisible detection loads.
	script       = signalsJS + challengeJS
	detectScript = []byte(signalsJS + jsdJS)
	//go:embed assets/page.html
	pageHTML string
	//go:embed assets/message.html
	messageHTML string

	pageTmpl    = template.Must(template.New("page").Parse(pageHTML))
	messageTmpl = template.Must(template.New("message").Parse(messageHTML))
)

// Options are the collaborators of a Challenge.
type Options struct {
	// Fallback renders every denial that is not a challenge (block, 429),
	// and the block page for sessions that failed too often. Required.
	Fallback detect.Responder
	// ClientIP derives the client address of a request to the handler
	// exactly as the authz path derives it (same trusted hops), so the
	// ticket's binding matches. nil uses the TCP peer.
	ClientIP func(*http.Request) netip.Addr
	// Replay remembers used tickets; nil uses an in-process Memory of
	// Config.ReplayCapacity. Several replicas need a shared store.
	Replay ReplayStore
	Logger zerolog.Logger
	// Registerer receives the metrics; nil keeps them unexported.
	Registerer prometheus.Registerer
	// OnAnswer, if set, is told about every answer the handler judged
	// (the analytics store's challenge outcomes). It must not block.
	OnAnswer func(Answer)
}

// Answer is one challenge (or invisible detection) answer and what the
// handler made of it.
type Answer struct {
	Time time.Time
	// Kind is what was answered: page (the interstitial's JavaScript
	// answer), nojs (its no-JavaScript path) or jsd (the invisible
	// detection's readings).
	Kind string
	// Result is the submissions metric's result: passed, nojs_passed,
	// failed, blocked, jsd_passed, jsd_failed, or why it was rejected.
	Result   string
	ClientIP netip.Addr
	Host     string
	Path     string        // the page the challenge stood in front of
	Age      time.Duration // from serving the challenge to the answer (0 when unknown)
}

// Solved reports whether the answer let the client through.
func (a Answer) Solved() bool {
	return a.Result == resultPassed || a.Result == resultNoJSPassed || a.Result == resultJSDPassed
}

// Failed reports whether the answer was judged and did not pass (as
// opposed to rejected before judging: malformed, replayed, expired ...).
func (a Answer) Failed() bool {
	return a.Result == resultFailed || a.Result == resultBlocked || a.Result == resultJSDFailed
}

// Challenge is the challenge Responder and HTTP handler.
type Challenge struct {
	cfg      Config
	sessions *session.Manager
	sign     signer
	fallback detect.Responder
	clientIP func(*http.Request) netip.Addr
	replay   ReplayStore
	log      zerolog.Logger
	onAnswer func(Answer)

	issued      *prometheus.CounterVec
	submissions *prometheus.CounterVec
	signals     *prometheus.CounterVec
	solve       *prometheus.HistogramVec
}

// New builds a Challenge that records results in sessions' cookie.
func New(cfg Config, sessions *session.Manager, opts Options) (*Challenge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	if sessions == nil {
		return nil, fmt.Errorf("challenge: nil session manager")
	}
	if opts.Fallback == nil {
		return nil, fmt.Errorf("challenge: nil fallback responder")
	}
	secrets, err := cfg.secrets()
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	if len(cfg.Secrets) == 0 {
		opts.Logger.Warn().Msg("challenge: no secrets configured; using a random one: tickets will not work across replicas or restarts")
	}
	c := &Challenge{
		cfg: cfg, sessions: sessions, sign: signer{secrets}, fallback: opts.Fallback,
		clientIP: opts.ClientIP, replay: opts.Replay, log: opts.Logger, onAnswer: opts.OnAnswer,
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "botwarden_challenge_issued_total",
			Help: "Challenge pages served, by action (managed_challenge, js_challenge) and whether the no-JS path was offered; 'blocked' counts clients sent the block page after too many failures.",
		}, []string{"kind"}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "botwarden_challenge_submissions_total",
			Help: "Challenge answers received, by result: passed, failed (JS detection), blocked, nojs_passed, or why they were rejected.",
		}, []string{"result"}),
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "botwarden_challenge_js_signal_total",
			Help: "JavaScript detection signals of accepted challenge answers, by signal and result (passed, failed, missing).",
		}, []string{"signal", "result"}),
		solve: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "botwarden_challenge_solve_seconds",
			Help:    "Time from serving a challenge page to accepting its answer, by result.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12), // 50 ms .. ~100 s
		}, []string{"result"}),
	}
	if c.clientIP == nil {
		c.clientIP = peerIP
	}
	if c.replay == nil {
		c.replay = NewMemory(cfg.ReplayCapacity)
	}
	if opts.Registerer != nil {
		for _, col := range []prometheus.Collector{c.issued, c.submissions, c.signals, c.solve} {
			if err := opts.Registerer.Register(col); err != nil {
				return nil, fmt.Errorf("challenge metrics: %w (one Challenge per registry)", err)
			}
		}
	}
	return c, nil
}

// peerIP is the TCP peer of r, for deployments without a proxy in front.
func peerIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// Mount is the path pattern to mount the handler on (Prefix + "/").
func (c *Challenge) Mount() string { return c.cfg.Prefix + "/" }

// Respond implements detect.Responder: the challenge page for the
// challenge actions, the fallback for everything else. A session that
// failed MaxAttempts times gets the block page instead, so a failing client
// is never challenged forever.
func (c *Challenge) Respond(r *detect.Request, v *detect.Verdict) detect.Response {
	if v == nil || (v.EnforcedAction != detect.ActionManagedChallenge && v.EnforcedAction != detect.ActionJSChallenge) {
		return c.fallback.Respond(r, v)
	}
	now := c.sessions.Now(r)
	ua := r.UserAgent()
	claims, ok := c.sessions.Pending(r, v)
	var setCookie string
	if !ok {
		// No finisher cookie (e.g. it is not wired, or the client is a
		// verified bot): the page still needs a session for its tickets.
		claims = c.sessions.Fresh(r.ClientIP, ua, now)
		var err error
		if setCookie, err = c.sessions.SetCookie(claims, now, session.IssueNew); err != nil {
			c.log.Error().Err(err).Msg("challenge: session cookie not issued")
		}
	}
	if claims.Flags.Has(token.Blocked) || int(claims.Attempts) >= c.cfg.MaxAttempts {
		c.issued.WithLabelValues("blocked").Inc()
		bv := *v
		bv.EnforcedAction = detect.ActionBlock
		return c.fallback.Respond(r, &bv)
	}
	difficulty := v.ChallengeDifficulty
	if difficulty <= 0 {
		difficulty = c.cfg.Difficulty
	}
	difficulty = min(difficulty, c.cfg.MaxDifficulty)
	path := returnPath(r.Path, c.cfg.Prefix, c.cfg.MaxReturnPath)
	scfg := c.sessions.Config()
	js := newTicket(kindJS, claims.SessionID, difficulty, r.ClientIP, ua, scfg.IPv4Prefix, scfg.IPv6Prefix, path, now)
	data := pageData{
		Host:       r.Host,
		Action:     c.cfg.Prefix + "/challenge",
		Difficulty: difficulty,
		Ticket:     c.sign.seal(js),
		Ref:        shortRef(r, js),
		Nonce:      cspNonce(),
		Script:     template.JS(script),
	}
	kind := string(v.EnforcedAction)
	if v.EnforcedAction == detect.ActionManagedChallenge && c.cfg.NoJS {
		nj := newTicket(kindNoJS, claims.SessionID, 0, r.ClientIP, ua, scfg.IPv4Prefix, scfg.IPv6Prefix, path, now)
		data.NoJSURL = c.cfg.Prefix + "/nojs?t=" + c.sign.seal(nj)
		data.WaitSeconds = int(math.Ceil(c.cfg.NoJSWait.Seconds()))
		data.Refresh = fmt.Sprintf("%d;url=%s", data.WaitSeconds, data.NoJSURL)
		kind += "+nojs"
	}
	var body bytes.Buffer
	body.Grow(len(pageHTML) + len(script) + 2*len(data.Ticket) + 2*len(data.NoJSURL) + 1024)
	if err := pageTmpl.Execute(&body, data); err != nil {
		c.log.Error().Err(err).Msg("challenge: page not rendered")
		return c.fallback.Respond(r, v)
	}
	c.issued.WithLabelValues(kind).Inc()
	h := pageHeaders(data.Nonce)
	if setCookie != "" {
		h.Add("Set-Cookie", setCookie)
	}
	return detect.Response{Status: c.cfg.Status, Headers: h, Body: body.Bytes()}
}

type pageData struct {
	Host, Action, Ticket, Ref, Nonce string
	Difficulty                       int
	Script                           template.JS
	NoJSURL, Refresh                 string
	WaitSeconds                      int
}

// pageHeaders are the headers of every page this package renders: never
// cached (each carries a one-time ticket), scripts and styles only with the
// page's nonce (and the detection's inline worker from a blob: URL), forms
// only to this origin, never framed.
func pageHeaders(nonce string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
		"'; worker-src blob:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	return h
}

func cspNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// shortRef is what a visitor can quote: the request's RayID, the key the
// site's log explorer finds the request by (as the block page quotes it),
// else the ticket id.
func shortRef(r *detect.Request, t *ticket) string {
	if ray := r.Reference(); ray != "" {
		return ray
	}
	return t.replayKey()
}

// returnPath keeps only a safe same-origin path (with its query) to send
// the client back to: anything that a browser could read as another origin
// ("//host", "/\host", a scheme), or with control characters, becomes "/".
// Over-long paths lose their query, then become "/". Paths under the
// challenge prefix become "/" too (never send a client back to an answer).
func returnPath(p, prefix string, maxLen int) string {
	if i := strings.IndexByte(p, '#'); i >= 0 {
		p = p[:i]
	}
	if len(p) > maxLen {
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
	}
	if p == "" || len(p) > maxLen || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x21 || p[i] == 0x7f {
			return "/"
		}
	}
	if p == prefix || strings.HasPrefix(p, prefix+"/") || strings.HasPrefix(p, prefix+"?") {
		return "/"
	}
	return p
}
