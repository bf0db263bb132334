// Package session carries a client's state between requests in a sealed
// cookie (see detect/token): the Manager is the detect.Engine that reads the
// cookie into Verdict.Session and the verdict's JS/challenge flags, and the
// detect.Finisher that issues and refreshes it.
//
// Like Netacea's _mitata and Cloudflare's __cf_bm, the cookie is trusted on
// its own only for a revalidation interval; after that its state still
// counts, but Session.Revalidate asks the reputation engine to look the
// client up again, and the cookie is reissued with the fresh verdict.
package session

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/netip"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/token"
)

// Issue reasons, the label of botwarden_session_cookie_issued_total.
const (
	IssueNew             = "new"
	IssueRefresh         = "refresh"
	IssueChallengePassed = "challenge_passed"
	IssueChallengeFailed = "challenge_failed"
	IssueNoJSPassed      = "nojs_passed"
)

// Tags the engine adds.
const (
	TagJSFailed        = "js-detection-failed"
	TagChallengeFailed = "challenge-failed"
	TagNoJS            = "nojs"
	// TagForeignSession: the request carried a genuine session cookie
	// issued to another client (address prefix or UA): copied from
	// elsewhere, or a person whose address changed. The ML engine weighs it.
	TagForeignSession = "session-foreign"
)

// Manager reads and writes the session cookie. It is safe for concurrent
// use and holds no per-request state.
type Manager struct {
	cfg    Config
	ring   *token.Ring
	cookie cookieFormat
	log    zerolog.Logger
	now    func() time.Time
	// opened remembers the claims of cookies that opened, by value: a
	// returning client sends the same cookie on every request, and the
	// engine and the finisher both read it, so most reads would otherwise
	// decrypt a value already decrypted. Only genuine values get in (a
	// forged one never opens), and the ring's keys never change, so a
	// value's claims stay what decryption gives; their times are checked
	// again on every read.
	opened *lru.Cache[string, token.Claims]

	results *prometheus.CounterVec
	issued  *prometheus.CounterVec
	// absent and valid are results' children for the two outcomes of
	// nearly every request, resolved once so Evaluate does no label lookup;
	// issuedBy holds issued's children for the known reasons, for the same
	// reason (a cookie is issued on every first visit).
	absent, valid prometheus.Counter
	issuedBy      map[string]prometheus.Counter
}

// New builds a Manager. reg may be nil (metrics are then kept but not
// exported).
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	ring, err := cfg.ring()
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if len(cfg.Keys) == 0 {
		log.Warn().Msg("session: no keys configured; using a random key: cookies will not survive a restart or be shared by replicas")
	}
	ss, _ := sameSite(cfg.SameSite) // validated
	opened, err := lru.New[string, token.Claims](openedCookies)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	m := &Manager{
		cfg: cfg, ring: ring, log: log, now: time.Now, opened: opened,
		cookie: newCookieFormat(http.Cookie{
			Name: cfg.CookieName, Path: "/", Domain: cfg.Domain, Secure: cfg.Secure, HttpOnly: cfg.HTTPOnly, SameSite: ss,
		}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "botwarden_session_cookie_total",
			Help: "Session cookies seen on requests, by result (absent, valid, malformed, unknown_key, tampered, expired, not_yet_valid, unbound).",
		}, []string{"result"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "botwarden_session_cookie_issued_total",
			Help: "Session cookies issued, by reason (new, refresh, challenge_passed, challenge_failed, nojs_passed).",
		}, []string{"reason"}),
	}
	m.absent, m.valid = m.results.WithLabelValues("absent"), m.results.WithLabelValues("valid")
	m.issuedBy = make(map[string]prometheus.Counter)
	for _, reason := range []string{IssueNew, IssueRefresh, IssueChallengePassed, IssueChallengeFailed, IssueNoJSPassed} {
		m.issuedBy[reason] = m.issued.WithLabelValues(reason)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.results, m.issued} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("session metrics: %w (one Manager per registry)", err)
			}
		}
	}
	return m, nil
}

// Config returns the configuration the Manager runs with.
func (m *Manager) Config() Config { return m.cfg }

// SetClock replaces the clock used when a request carries no time (tests).
func (m *Manager) SetClock(now func() time.Time) { m.now = now }

// Now returns the request's time, or the clock's when it has none.
func (m *Manager) Now(r *detect.Request) time.Time {
	if r != nil && !r.Time.IsZero() {
		return r.Time
	}
	return m.now()
}

// Read opens a cookie value and checks that it is bound to this client.
// Errors wrap the token package's reasons (token.Reason names them).
func (m *Manager) Read(value string, clientIP netip.Addr, ua string, now time.Time) (token.Claims, error) {
	c, err := m.Open(value, now)
	if err != nil {
		return c, err
	}
	if err := c.Bound(clientIP, ua, m.cfg.IPv4Prefix, m.cfg.IPv6Prefix); err != nil {
		return c, err
	}
	return c, nil
}

// Open decodes a cookie value without checking the client binding (for
// tools and tests that inspect a cookie).
func (m *Manager) Open(value string, now time.Time) (token.Claims, error) {
	if c, ok := m.opened.Get(value); ok {
		return c, c.ValidAt(now)
	}
	c, err := m.ring.Open(value, now)
	if err == nil {
		// The value may point into a reused request buffer: keep a copy.
		m.opened.Add(strings.Clone(value), c)
	}
	return c, err
}

// openedCookies bounds Manager.opened: the clients active at once on one
// replica, at about 200 bytes each.
const openedCookies = 8192

// ReadRequest is Read for the session cookie of r. A missing cookie gives
// ErrNoCookie. When the header carries the name more than once (a stale
// host-only cookie beside a Domain one, say), the first that reads wins and
// otherwise the first one's error is returned.
func (m *Manager) ReadRequest(r *detect.Request) (token.Claims, error) {
	return m.readRequest(r, m.Now(r))
}

// readRequest is ReadRequest at the request time now, for callers that
// have already read it.
func (m *Manager) readRequest(r *detect.Request, now time.Time) (token.Claims, error) {
	var first error
	for v := range cookieValues(r.Headers.Get("cookie"), m.cfg.CookieName) {
		c, err := m.Read(v, r.ClientIP, r.UserAgent(), now)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		return token.Claims{}, ErrNoCookie
	}
	return token.Claims{}, first
}

// maxCookieTries bounds how many same-named cookies are tried: a header
// stuffed with copies must not cost more than a few failed opens.
const maxCookieTries = 4

// cookieValues yields the non-empty values of cookie name in a Cookie
// header, at most maxCookieTries of them.
func cookieValues(header, name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		n := 0
		for k, v := range detect.CookiePairs(header) {
			if k != name || v == "" {
				continue
			}
			n++
			if !yield(v) || n == maxCookieTries {
				return
			}
		}
	}
}

// ErrNoCookie says the request carried no session cookie.
var ErrNoCookie = errors.New("session: no cookie")

// Fresh returns claims for a new session of this client, issued at now.
func (m *Manager) Fresh(clientIP netip.Addr, ua string, now time.Time) token.Claims {
	c := token.Claims{SessionID: token.NewSessionID()}
	m.Renew(&c, clientIP, ua, now)
	return c
}

// Renew restarts c's lifetime at now and rebinds it to the client.
func (m *Manager) Renew(c *token.Claims, clientIP netip.Addr, ua string, now time.Time) {
	c.IssuedAt = now.Unix()
	c.Expiry = now.Add(m.cfg.Lifetime).Unix()
	c.Bind(clientIP, ua, m.cfg.IPv4Prefix, m.cfg.IPv6Prefix)
}

// SetCookie seals c and returns the Set-Cookie header value; Max-Age runs
// to c.Expiry. reason labels the issue metric.
func (m *Manager) SetCookie(c token.Claims, now time.Time, reason string) (string, error) {
	val, err := m.ring.Seal(c)
	if err != nil {
		return "", fmt.Errorf("session: seal: %w", err)
	}
	if n, ok := m.issuedBy[reason]; ok {
		n.Inc()
	} else {
		m.issued.WithLabelValues(reason).Inc()
	}
	return m.cookie.format(val, max(int(c.Expiry-now.Unix()), 1)), nil
}

// Pending returns the session this verdict is about to give the client: the
// one in v.SetCookies (a cookie the finisher just issued), else the one the
// request carried. ok is false when there is neither.
func (m *Manager) Pending(r *detect.Request, v *detect.Verdict) (c token.Claims, ok bool) {
	now := m.Now(r)
	prefix := m.cfg.CookieName + "="
	for i := len(v.SetCookies) - 1; i >= 0; i-- {
		val, found := strings.CutPrefix(v.SetCookies[i], prefix)
		if !found {
			continue
		}
		val, _, _ = strings.Cut(val, ";")
		if c, err := m.ring.Open(val, now); err == nil {
			return c, true
		}
	}
	c, err := m.ReadRequest(r)
	return c, err == nil
}

// Name implements detect.Engine.
func (m *Manager) Name() string { return "session" }

// Evaluate implements detect.Engine: a valid, bound cookie becomes
// v.Session and sets the verdict's challenge and JS flags; anything else is
// counted by reason and ignored (the request is judged as if cookieless).
func (m *Manager) Evaluate(_ context.Context, r *detect.Request, v *detect.Verdict) error {
	now := m.Now(r)
	c, err := m.readRequest(r, now)
	switch {
	case errors.Is(err, ErrNoCookie):
		m.absent.Inc()
		return nil
	case err != nil:
		reason := token.Reason(err)
		m.results.WithLabelValues(reason).Inc()
		if errors.Is(err, token.ErrUnbound) {
			v.AddTags(TagForeignSession)
		}
		m.log.Debug().Err(err).Str("reason", reason).Str("client", r.ClientIP.String()).Msg("session cookie ignored")
		return nil
	}
	m.valid.Inc()
	s := &detect.Session{
		ID:              c.SessionID.String(),
		IssuedAt:        time.Unix(c.IssuedAt, 0),
		ExpiresAt:       time.Unix(c.Expiry, 0),
		Score:           int(c.Score),
		ChallengePassed: c.Flags.Has(token.ChallengePassed),
		JSChecked:       c.Flags.Has(token.JSChecked),
		JSPassed:        c.Flags.Has(token.JSChecked | token.JSPassed),
		NoJS:            c.Flags.Has(token.NoJS),
		Blocked:         c.Flags.Has(token.Blocked),
		Revalidate:      now.Sub(time.Unix(c.IssuedAt, 0)) >= m.cfg.Revalidate,
	}
	v.Session = s
	m.apply(s, c.Findings, v)
	return nil
}

// apply turns what the cookie proves into evidence. A JS detection failure
// or a block is certain automation (score 1, which nothing raises again); a
// passed JS challenge makes the client likely human unless an engine finds
// automation.
func (m *Manager) apply(s *detect.Session, findings uint16, v *detect.Verdict) {
	v.ChallengePassed = v.ChallengePassed || s.ChallengePassed
	v.JSDetectionChecked = v.JSDetectionChecked || s.JSChecked
	v.JSDetectionPassed = v.JSDetectionPassed || s.JSPassed
	var buf [8]string
	switch {
	case s.Blocked:
		v.Automated(detect.SourceJSDetection, IDChallengeFailed, append(DecodeFindings(findings, buf[:0]), TagChallengeFailed)...)
	case s.JSChecked && !s.JSPassed:
		v.Automated(detect.SourceJSDetection, IDJSDetectionFailed, append(DecodeFindings(findings, buf[:0]), TagJSFailed)...)
	case s.JSPassed && s.ChallengePassed:
		v.Override(m.cfg.PassedScore, detect.SourceJSDetection)
	case s.NoJS:
		v.AddTags(TagNoJS)
	}
}

// Finish implements detect.Finisher: it gives a cookie to a client without
// a valid one, and reissues one whose revalidation interval has passed or
// whose score category changed, carrying its session id and flags forward.
// Failed and blocked sessions are not refreshed: they expire on the date
// the challenge set, and the client is then challenged afresh.
func (m *Manager) Finish(_ context.Context, r *detect.Request, v *detect.Verdict) {
	if v.Verified && !m.cfg.IssueToVerifiedBots {
		return
	}
	now := m.Now(r)
	ua := r.UserAgent()
	var c token.Claims
	reason := IssueRefresh
	if s := v.Session; s == nil {
		c = m.Fresh(r.ClientIP, ua, now)
		reason = IssueNew
	} else {
		if s.Blocked || (s.JSChecked && !s.JSPassed) {
			return
		}
		if !s.Revalidate && detect.CategoryOf(s.Score) == detect.CategoryOf(v.Score) {
			return
		}
		var err error
		if c, err = m.readRequest(r, now); err != nil {
			return // cannot happen: the engine just read it
		}
		m.Renew(&c, r.ClientIP, ua, now)
	}
	c.Score = uint8(min(max(v.Score, 0), detect.ScoreMax))
	sc, err := m.SetCookie(c, now, reason)
	if err != nil {
		m.log.Error().Err(err).Msg("session cookie not issued")
		return
	}
	v.SetCookies = append(v.SetCookies, sc)
}
