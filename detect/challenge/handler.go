package challenge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/token"
)

// Results of a submission (the metric labels).
const (
	resultPassed     = "passed"
	resultFailed     = "failed"
	resultBlocked    = "blocked"
	resultNoJSPassed = "nojs_passed"
	resultMalformed  = "malformed"
	resultSignature  = "bad_signature"
	resultExpired    = "expired"
	resultWrongKind  = "wrong_path"
	resultUnbound    = "unbound"
	resultWork       = "bad_work"
	resultReplayed   = "replayed"
	resultSession    = "session_mismatch"
	resultNoCookie   = "no_cookie"
	resultTooEarly   = "too_early"
	resultStoreError = "store_error"
	resultTooLarge   = "too_large"
	// resultSignalsUnbound: the signals' digest does not cover this
	// ticket: readings taken for another ticket, or edited.
	resultSignalsUnbound = "signals_unbound"
	// The invisible detection's results (its answers are counted with the
	// same rejection reasons).
	resultJSDPassed = "jsd_passed"
	resultJSDFailed = "jsd_failed"
)

// ServeHTTP implements http.Handler for Prefix+"/challenge" (POST, the
// JavaScript answer) and Prefix+"/nojs" (GET, the no-JavaScript path).
func (c *Challenge) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	switch hr.URL.Path {
	case c.cfg.Prefix + "/challenge":
		if hr.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		c.serveSubmit(w, hr)
	case c.cfg.Prefix + "/jsd.js":
		if hr.Method != http.MethodGet && hr.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(detectScript)
	case c.cfg.Prefix + "/jsd/ticket", c.cfg.Prefix + "/jsd":
		if hr.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if strings.HasSuffix(hr.URL.Path, "/ticket") {
			c.serveJSDTicket(w, hr)
		} else {
			c.serveJSD(w, hr)
		}
	case c.cfg.Prefix + "/nojs":
		if hr.Method != http.MethodGet && hr.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		c.serveNoJS(w, hr)
	default:
		http.NotFound(w, hr)
	}
}

// client is what the handler knows about the requester.
type client struct {
	ip     netip.Addr
	ua     string
	cookie string
	now    time.Time
}

func (c *Challenge) client(hr *http.Request) client {
	cl := client{ip: c.clientIP(hr), ua: hr.Header.Get("User-Agent"), now: c.sessions.Now(nil)}
	if ck, err := hr.Cookie(c.sessions.Config().CookieName); err == nil {
		cl.cookie = ck.Value
	}
	return cl
}

// outcome is the result of checking one answer.
type outcome struct {
	result    string
	path      string // where the client goes next
	setCookie string
	tags      []string
	age       time.Duration // since the ticket was issued
	err       error
}

func (c *Challenge) serveSubmit(w http.ResponseWriter, hr *http.Request) {
	if mt, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		c.finish(w, hr, outcome{result: resultMalformed, path: "/", err: fmt.Errorf("content-type %q", mt)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, hr.Body, c.cfg.MaxBodyBytes))
	if err != nil {
		c.finish(w, hr, outcome{result: resultTooLarge, path: "/", err: err})
		return
	}
	c.finish(w, hr, c.verify(hr.Context(), string(body), kindJS, c.client(hr)))
}

// serveJSDTicket gives the invisible detection a ticket bound to this
// client and its session (a fresh session when the request has none).
func (c *Challenge) serveJSDTicket(w http.ResponseWriter, hr *http.Request) {
	cl := c.client(hr)
	claims, err := c.sessions.Read(cl.cookie, cl.ip, cl.ua, cl.now)
	if err != nil {
		claims = c.sessions.Fresh(cl.ip, cl.ua, cl.now)
		sc, err := c.sessions.SetCookie(claims, cl.now, session.IssueNew)
		if err != nil {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Add("Set-Cookie", sc)
	}
	scfg := c.sessions.Config()
	t := newTicket(kindJSD, claims.SessionID, 0, cl.ip, cl.ua, scfg.IPv4Prefix, scfg.IPv6Prefix, "/", cl.now)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, c.sign.seal(t))
}

// serveJSD records the invisible detection's readings in the session
// cookie: 204 with the cookie when accepted (passed or failed), otherwise
// the refusal, counted by reason like a challenge answer.
func (c *Challenge) serveJSD(w http.ResponseWriter, hr *http.Request) {
	var o outcome
	if mt, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		o = outcome{result: resultMalformed, err: fmt.Errorf("content-type %q", mt)}
	} else if body, err := io.ReadAll(http.MaxBytesReader(w, hr.Body, c.cfg.MaxBodyBytes)); err != nil {
		o = outcome{result: resultTooLarge, err: err}
	} else {
		o = c.verify(hr.Context(), string(body), kindJSD, c.client(hr))
	}
	c.submissions.WithLabelValues(o.result).Inc()
	c.tell("jsd", hr, o)
	c.log.Debug().Str("result", o.result).Strs("tags", o.tags).AnErr("reason", o.err).Msg("js detection answer")
	w.Header().Set("Cache-Control", "no-store")
	switch o.result {
	case resultJSDPassed, resultJSDFailed:
		w.Header().Add("Set-Cookie", o.setCookie)
		w.WriteHeader(http.StatusNoContent)
	case resultStoreError:
		http.Error(w, o.result, http.StatusServiceUnavailable)
	case resultTooLarge:
		http.Error(w, o.result, http.StatusRequestEntityTooLarge)
	default:
		http.Error(w, o.result, http.StatusBadRequest)
	}
}

// verify checks a JavaScript answer and decides the new session state.
// Order matters: everything cheap and stateless first, the replay store
// only for answers that are otherwise valid (so garbage cannot fill it).
func (c *Challenge) verify(ctx context.Context, body string, k kind, cl client) outcome {
	sub, err := ParseSubmission(body)
	if err != nil {
		return outcome{result: resultMalformed, path: "/", err: err}
	}
	t, o, ok := c.openTicket(sub.Ticket, k, cl)
	if !ok {
		return o
	}
	if !workOK(sub.Ticket, sub.Counter, t.difficulty) {
		return outcome{result: resultWork, path: t.path, age: o.age}
	}
	if sub.Signals.oversized {
		return outcome{result: resultTooLarge, path: t.path, age: o.age}
	}
	if sub.Signals.Present && !sub.Signals.Bound() {
		return outcome{result: resultSignalsUnbound, path: t.path, age: o.age}
	}
	claims, err := c.sessions.Read(cl.cookie, cl.ip, cl.ua, cl.now)
	switch {
	case err == nil && claims.SessionID != t.session:
		return outcome{result: resultSession, path: t.path, age: o.age}
	case err != nil:
		// The challenge page's cookie did not come back (blocked cookies,
		// a new browser): start the session the ticket was issued for.
		claims = c.sessions.Fresh(cl.ip, cl.ua, cl.now)
		claims.SessionID = t.session
	}
	if claims.Flags.Has(token.Blocked) {
		return outcome{result: resultBlocked, path: t.path, age: o.age}
	}
	if o, ok := c.use(ctx, &t, o); !ok {
		return o
	}
	j := Evaluate(&sub.Signals, cl.ua, c.cfg.FailWeight)
	o.tags = j.Tags
	for _, r := range j.Results {
		c.signals.WithLabelValues(r.Signal, r.Result).Inc()
	}
	c.sessions.Renew(&claims, cl.ip, cl.ua, cl.now)
	claims.Findings = session.EncodeFindings(j.Tags)
	reason := session.IssueChallengePassed
	if k == kindJSD {
		// The invisible detection records its result only: no challenge
		// pass, no attempt counted, the score left to the next verdict
		// (a failure makes the session certainly automated).
		o.result = resultJSDPassed
		if j.Passed {
			claims.Flags |= token.JSChecked | token.JSPassed
		} else {
			o.result = resultJSDFailed
			reason = session.IssueChallengeFailed
			claims.Flags = claims.Flags&^(token.ChallengePassed|token.JSPassed) | token.JSChecked
			claims.Expiry = cl.now.Add(c.cfg.FailedTTL).Unix()
			claims.Score = detect.ScoreAutomated
		}
		if o.setCookie, err = c.sessions.SetCookie(claims, cl.now, reason); err != nil {
			return outcome{result: resultStoreError, path: t.path, err: err}
		}
		return o
	}
	if j.Passed {
		o.result = resultPassed
		claims.Flags = claims.Flags&^(token.NoJS|token.Blocked) | token.ChallengePassed | token.JSChecked | token.JSPassed
		claims.Attempts = 0
		claims.Score = uint8(c.sessions.Config().PassedScore)
	} else {
		o.result = resultFailed
		reason = session.IssueChallengeFailed
		claims.Flags = claims.Flags&^(token.NoJS|token.ChallengePassed|token.JSPassed) | token.JSChecked
		if claims.Attempts < 255 {
			claims.Attempts++
		}
		if int(claims.Attempts) >= c.cfg.MaxAttempts {
			claims.Flags |= token.Blocked
			o.result = resultBlocked
		}
		claims.Expiry = cl.now.Add(c.cfg.FailedTTL).Unix()
		claims.Score = detect.ScoreAutomated
	}
	if o.setCookie, err = c.sessions.SetCookie(claims, cl.now, reason); err != nil {
		return outcome{result: resultStoreError, path: t.path, err: err}
	}
	return o
}

// openTicket verifies a ticket's signature, kind, age and binding.
func (c *Challenge) openTicket(s string, k kind, cl client) (ticket, outcome, bool) {
	t, err := c.sign.open(s)
	switch {
	case errors.Is(err, errTicketSignature):
		return t, outcome{result: resultSignature, path: "/", err: err}, false
	case err != nil:
		return t, outcome{result: resultMalformed, path: "/", err: err}, false
	}
	o := outcome{path: t.path, age: cl.now.Sub(t.issued)}
	scfg := c.sessions.Config()
	if err := t.check(k, cl.ip, cl.ua, scfg.IPv4Prefix, scfg.IPv6Prefix, c.cfg.TicketTTL, cl.now); err != nil {
		o.err = err
		switch {
		case errors.Is(err, errTicketKind):
			o.result = resultWrongKind
		case errors.Is(err, errTicketExpired):
			o.result = resultExpired
		default:
			o.result = resultUnbound
		}
		return t, o, false
	}
	return t, o, true
}

// use consumes the ticket in the replay store.
func (c *Challenge) use(ctx context.Context, t *ticket, o outcome) (outcome, bool) {
	fresh, err := c.replay.Use(ctx, t.replayKey(), t.expires(c.cfg.TicketTTL))
	switch {
	case err != nil:
		o.result, o.err = resultStoreError, err
		return o, false
	case !fresh:
		o.result = resultReplayed
		return o, false
	}
	return o, true
}

// serveNoJS grants the lower-trust no-JavaScript pass: the ticket is valid
// and old enough (the wait), and the cookie set with the challenge page
// came back with the session the ticket names.
func (c *Challenge) serveNoJS(w http.ResponseWriter, hr *http.Request) {
	cl := c.client(hr)
	raw := hr.URL.Query().Get("t")
	t, o, ok := c.openTicket(raw, kindNoJS, cl)
	if !ok {
		c.finish(w, hr, o)
		return
	}
	if o.age < c.cfg.NoJSWait {
		o.result = resultTooEarly
		c.finish(w, hr, o)
		return
	}
	claims, err := c.sessions.Read(cl.cookie, cl.ip, cl.ua, cl.now)
	switch {
	case err != nil:
		o.result, o.err = resultNoCookie, err
	case claims.SessionID != t.session:
		o.result = resultSession
	case claims.Flags.Has(token.Blocked) || int(claims.Attempts) >= c.cfg.MaxAttempts:
		o.result = resultBlocked
	}
	if o.result != "" {
		c.finish(w, hr, o)
		return
	}
	if o, ok = c.use(hr.Context(), &t, o); !ok {
		c.finish(w, hr, o)
		return
	}
	c.sessions.Renew(&claims, cl.ip, cl.ua, cl.now)
	claims.Flags |= token.ChallengePassed | token.NoJS
	o.result = resultNoJSPassed
	if o.setCookie, err = c.sessions.SetCookie(claims, cl.now, session.IssueNoJSPassed); err != nil {
		o.result, o.err = resultStoreError, err
	}
	c.finish(w, hr, o)
}

// tell hands the answer to Options.OnAnswer.
func (c *Challenge) tell(kind string, hr *http.Request, o outcome) {
	if c.onAnswer == nil {
		return
	}
	c.onAnswer(Answer{Time: c.sessions.Now(nil), Kind: kind, Result: o.result, ClientIP: c.clientIP(hr),
		Host: hr.Host, Path: o.path, Age: o.age})
}

// finish counts the outcome and answers: back to the page the client asked
// for when the answer was accepted (passed or failed: the next request's
// verdict decides what it sees), otherwise a short page saying why, with a
// way forward.
func (c *Challenge) finish(w http.ResponseWriter, hr *http.Request, o outcome) {
	c.submissions.WithLabelValues(o.result).Inc()
	kind := "page"
	if hr.URL.Path == c.cfg.Prefix+"/nojs" {
		kind = "nojs"
	}
	c.tell(kind, hr, o)
	ev := c.log.Debug()
	switch o.result {
	case resultPassed, resultFailed, resultBlocked, resultNoJSPassed:
		c.solve.WithLabelValues(o.result).Observe(o.age.Seconds())
		ev = c.log.Info()
	}
	ev.Str("result", o.result).Strs("tags", o.tags).Dur("age", o.age).AnErr("reason", o.err).
		Str("client", c.clientIP(hr).String()).Msg("challenge answer")

	if o.setCookie != "" {
		w.Header().Add("Set-Cookie", o.setCookie)
	}
	switch o.result {
	case resultPassed, resultFailed, resultNoJSPassed:
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Location", o.path)
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	m := message{Title: "This answer could not be accepted", Link: o.path, LinkText: "Go back to the page and try again"}
	status := http.StatusForbidden
	switch o.result {
	case resultBlocked:
		m.Title, m.Link = "Access denied", ""
		m.Text = "This browser failed the site's automated-traffic check too many times. Please try again later."
		if o.setCookie != "" { // the last failed attempt: let the next request show the block page
			w.Header().Set("Location", o.path)
			w.WriteHeader(http.StatusSeeOther)
			return
		}
	case resultTooEarly:
		wait := max(c.cfg.NoJSWait-o.age, time.Second)
		secs := int((wait + time.Second - 1) / time.Second)
		m.Title = "Please wait a moment"
		m.Text = fmt.Sprintf("This page continues on its own in %d seconds.", secs)
		m.Refresh = fmt.Sprintf("%d;url=%s", secs, hr.URL.RequestURI())
		m.Link, m.LinkText = "", ""
	case resultNoCookie, resultSession:
		m.Text = "Your browser did not send back the cookie this site set a moment ago. Please enable cookies for this site, then go back and try again."
	case resultExpired:
		m.Text = "The check took too long and expired."
	case resultReplayed:
		m.Text = "This answer was already used. Each check can be answered once."
	case resultStoreError:
		status = http.StatusServiceUnavailable
		m.Text = "The site could not record the result just now."
	case resultTooLarge:
		status = http.StatusRequestEntityTooLarge
		m.Text = "The answer was too large."
	default:
		status = http.StatusBadRequest
		if o.result == resultUnbound {
			status = http.StatusForbidden
		}
		m.Text = "The answer did not match the check this site gave (" + o.result + ")."
	}
	m.Nonce = cspNonce()
	var body bytes.Buffer
	if err := messageTmpl.Execute(&body, m); err != nil {
		http.Error(w, m.Title, status)
		return
	}
	for k, v := range pageHeaders(m.Nonce) {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

type message struct {
	Title, Text, Link, LinkText, Refresh, Nonce string
}
