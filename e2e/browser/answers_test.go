package browser

import (
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/challenge"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/e2e"
)

// post sends a challenge answer as a browser would (form POST).
func post(t testing.TB, s *stack, from, ua, cookie, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+s.answerPath(), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", ua)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := clientFrom(t, from).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestReplayedAndTamperedBrowserAnswers replays the answer real headless
// Chromium posted (read from its own network log), as it was and altered,
// from the same client with its cookie: every copy is refused, and
// botwarden counts each by reason.
func TestReplayedAndTamperedBrowserAnswers(t *testing.T) {
	e2e.EachGateway(t, func(t *testing.T, kind string) {
		s := newStack(t, kind, nil)
		ctx, posted, after := drivenVisit(t, s, true, "")
		bodies := posted.all()
		if len(bodies) != 1 || bodies[0] == "" {
			t.Fatalf("the browser posted %d answers (%q), want 1", len(bodies), bodies)
		}
		cookie, _ := browserCookie(t, ctx, s)
		ua := after.ua
		form, err := url.ParseQuery(bodies[0])
		if err != nil {
			t.Fatal(err)
		}
		alter := func(k, v string) string {
			f := url.Values{}
			for key, vals := range form {
				f[key] = vals
			}
			f.Set(k, v)
			return f.Encode()
		}
		// rebound is alter with the binding digest recomputed, as a client
		// that knows the scheme would.
		rebound := func(k, v string) string {
			f := url.Values{}
			for key, vals := range form {
				f[key] = vals
			}
			f.Set(k, v)
			f.Set("s_bd", challenge.BindSignals(f.Get("n"), f))
			return f.Encode()
		}
		tk := []byte(form.Get("n"))
		if tk[len(tk)/2] == 'A' { // another base64url character: another byte
			tk[len(tk)/2] = 'B'
		} else {
			tk[len(tk)/2] = 'A'
		}
		counter, _ := strconv.ParseUint(form.Get("c"), 10, 64)
		for _, tc := range []struct {
			name, body string
			status     int
			says       string
		}{
			{"replayed as posted", bodies[0], http.StatusForbidden, "already used"},
			// Edited signals no longer match the digest the page bound them
			// to the ticket with: refused before the replay store is asked.
			{"replayed with clean signals", alter("s_wd", "0"), http.StatusBadRequest, "signals_unbound"},
			{"replayed with clean signals, digest recomputed", rebound("s_wd", "0"), http.StatusForbidden, "already used"},
			{"tampered ticket", alter("n", string(tk)), http.StatusBadRequest, "bad_signature"},
			{"another counter", alter("c", strconv.FormatUint(counter+1, 10)), http.StatusBadRequest, "bad_work"},
		} {
			resp, body := post(t, s, "127.0.0.1", ua, s.cookieName+"="+cookie, tc.body)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.says) || len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("%s: %d %q, want %d with %q and no cookie", tc.name, resp.StatusCode, body, tc.status, tc.says)
			}
		}
		for result, want := range map[string]float64{"failed": 1, "replayed": 2, "signals_unbound": 1, "bad_signature": 1, "bad_work": 1, "passed": 0} {
			if got := s.submissions(result); got != want {
				t.Errorf("botwarden counted %v %s answers, want %v", got, result, want)
			}
		}
	})
}

var (
	ticketRE  = regexp.MustCompile(`name="n" value="([^"]+)"`)
	diffRE    = regexp.MustCompile(`data-difficulty="(\d+)"`)
	refreshRE = regexp.MustCompile(`<noscript><meta http-equiv="refresh" content="(\d+);url=([^"]+)"></noscript>`)
)

// solve is the page's proof of work, in Go.
func solve(ticket string, bits int) uint64 {
	for c := uint64(0); ; c++ {
		sum := sha256.Sum256([]byte(ticket + strconv.FormatUint(c, 10)))
		n := 0
		for _, b := range sum {
			if b == 0 {
				n += 8
				continue
			}
			for b&0x80 == 0 {
				n++
				b <<= 1
			}
			break
		}
		if n >= bits {
			return c
		}
	}
}

// TestExpiredAnswer: an answer posted after the ticket's lifetime is
// refused; the same work posted in time (the control) passes.
func TestExpiredAnswer(t *testing.T) {
	const ttl = 10 * time.Second // the shortest ticket_ttl the config accepts
	e2e.EachGateway(t, func(t *testing.T, kind string) {
		s := newStack(t, kind, func(c *config.Config) { c.Challenge.TicketTTL = ttl })
		ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
		type page struct{ ticket, cookie string }
		fetch := func() page {
			req, _ := http.NewRequest(http.MethodGet, s.url+"/page/1", nil)
			req.Header.Set("User-Agent", ua)
			resp, err := clientFrom(t, "127.0.0.1").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			m, d := ticketRE.FindSubmatch(b), diffRE.FindSubmatch(b)
			if resp.StatusCode != http.StatusForbidden || m == nil || d == nil {
				t.Fatalf("no challenge page: %d", resp.StatusCode)
			}
			bits, _ := strconv.Atoi(string(d[1]))
			tk := string(m[1])
			sc, err := http.ParseSetCookie(resp.Header.Get("Set-Cookie"))
			if err != nil {
				t.Fatal(err)
			}
			return page{ticket: tk + "&c=" + strconv.FormatUint(solve(tk, bits), 10), cookie: sc.Name + "=" + sc.Value}
		}
		// signals are a page's readings, bound to the ticket as the page
		// binds them.
		signals := func(p page) string {
			tk, _, _ := strings.Cut(p.ticket, "&")
			v := url.Values{"s_wd": {"0"}, "s_ua": {ua}, "s_lg": {"en-US"}, "s_pl": {"5"}, "s_ch": {"object"}, "s_ow": {"1200"}, "s_oh": {"900"}}
			v.Set("s_bd", challenge.BindSignals(tk, v))
			return v.Encode()
		}

		inTime := fetch()
		if resp, body := post(t, s, "127.0.0.1", ua, inTime.cookie, "n="+inTime.ticket+"&"+signals(inTime)); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("control answer refused: %d %s", resp.StatusCode, body)
		}
		late := fetch()
		time.Sleep(ttl + 1500*time.Millisecond)
		resp, body := post(t, s, "127.0.0.1", ua, late.cookie, "n="+late.ticket+"&"+signals(late))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "expired") {
			t.Fatalf("late answer: %d %s", resp.StatusCode, body)
		}
		if p, e := s.submissions("passed"), s.submissions("expired"); p != 1 || e != 1 {
			t.Errorf("botwarden counted %v passed and %v expired answers, want 1 and 1", p, e)
		}
	})
}

// loopbackJar sends Secure cookies to loopback over plain http, as curl
// does for localhost (the stack has no TLS; in production the cookie only
// travels over https).
type loopbackJar struct{ *cookiejar.Jar }

func secureURL(u *url.URL) *url.URL { v := *u; v.Scheme = "https"; return &v }

func (j loopbackJar) SetCookies(u *url.URL, c []*http.Cookie) { j.Jar.SetCookies(secureURL(u), c) }
func (j loopbackJar) Cookies(u *url.URL) []*http.Cookie       { return j.Jar.Cookies(secureURL(u)) }

// TestNoJavaScriptClient: a client without JavaScript that keeps cookies
// and follows the page's meta refresh (an RSS reader, a text browser) gets
// the lower-trust no-JS pass after the wait; one that does not wait, or
// does not keep cookies, does not.
func TestNoJavaScriptClient(t *testing.T) {
	e2e.EachGateway(t, func(t *testing.T, kind string) {
		s := newStack(t, kind, nil)
		const ua = "FeedReader/3.1 (+https://feeds.example/)"
		jar, _ := cookiejar.New(nil)
		c := clientFrom(t, "127.0.0.1")
		c.Jar = loopbackJar{jar}
		c.CheckRedirect = nil // follow the 303 back like any client
		get := func(c *http.Client, u string) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("User-Agent", ua)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		status, page := get(c, s.url+"/page/1")
		m := refreshRE.FindStringSubmatch(page)
		if status != http.StatusForbidden || m == nil {
			t.Fatalf("challenge page without a no-JS refresh: %d", status)
		}
		wait, _ := strconv.Atoi(m[1])
		next := s.url + m[2]
		if !strings.Contains(page, "JavaScript is turned off") {
			t.Error("the page does not explain the no-JS path")
		}

		// Too early: asked to wait, not passed.
		if status, body := get(c, next); status != http.StatusForbidden || !strings.Contains(body, "Please wait") {
			t.Fatalf("early follow: %d %q", status, body)
		}
		time.Sleep(time.Duration(wait) * time.Second)
		// Without the cookie the page set: refused, with the reason.
		bare := clientFrom(t, "127.0.0.1")
		if status, body := get(bare, next); status != http.StatusForbidden || !strings.Contains(body, "cookie") {
			t.Fatalf("cookieless follow: %d %q", status, body)
		}
		// As the refresh intends: the pass, then the page.
		status, body := get(c, next)
		if status != http.StatusOK || !strings.Contains(body, "page 1") {
			t.Fatalf("no-JS pass: %d %q", status, body)
		}
		if status, _ := get(c, s.url+"/page/2"); status != http.StatusOK {
			t.Fatalf("next page after the no-JS pass: %d", status)
		}
		for result, want := range map[string]float64{"too_early": 1, "no_cookie": 1, "nojs_passed": 1, "passed": 0} {
			if got := s.submissions(result); got != want {
				t.Errorf("botwarden counted %v %s answers, want %v", got, result, want)
			}
		}
		last := s.entry("/page/2")
		if last.action != detect.ActionAllow || last.jsPassed || last.session == "" || !slices.Contains(last.tags, session.TagNoJS) {
			t.Fatalf("verdict after the no-JS pass: %v", last)
		}
		var claims token.Claims
		for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: strings.TrimPrefix(s.url, "http://")}) {
			if ck.Name == s.cookieName {
				claims = s.open(ck.Value)
			}
		}
		if !claims.Flags.Has(token.ChallengePassed|token.NoJS) || claims.Flags.Has(token.JSChecked) || claims.Flags.Has(token.JSPassed) ||
			claims.SessionID.String() != last.session {
			t.Fatalf("cookie after the no-JS pass: %+v (verdict session %q)", claims, last.session)
		}
	})
}
