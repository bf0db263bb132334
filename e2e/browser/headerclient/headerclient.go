// Package headerclient is the "browser-header HTTP client" adversary of
// issue 13: a Go net/http client with a cookie jar that sends a current
// Chrome's navigation headers, in Chrome's order, keeps every cookie,
// follows the site's product links at one to two pages a second, and never
// runs JavaScript — what a scraper built on net/http (or on a header-order
// fork of it) does. The header profile is the repository's own: the
// Chromium navigation of detect/ml/corpus (the "browser-headers" bot of the
// training corpus), so the adversary and the model agree on what a real
// Chrome sends.
//
// The e2e tests run it through the plain ext_authz stack (e2e/browser) and
// through the stack whose Wasm filter injects the invisible detection
// script (e2e/wasm), and read the verdicts from the gateway's access log
// (Recorder). Shop is the origin both use.
package headerclient

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect/ml/corpus"
)

// ChromeUA is a current Chrome on Windows: Chromium 156, the release
// detect/ml/corpus calls current.
const ChromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"

// Header is one request header, in wire order.
type Header struct{ Name, Value string }

// ChromeNavigation returns the headers Chrome sends for a top-level
// navigation on a secure origin, in its order, as detect/ml/corpus
// generates them for ua, without the corpus's placeholder cookie and
// referer (the jar and the crawl supply the real ones) and without the
// gateway-set JA4 header. Sec-Fetch-Site is "none": Crawler sets it per
// request. It fails if the corpus has no ordered secure Chrome profile.
func ChromeNavigation(ua string) ([]Header, error) {
	for seed := uint64(0); seed < 64; seed++ {
		e := corpus.BrowserRequest(seed, ua, corpus.KindNavigate)
		// The corpus gives half its examples an unordered map; take an
		// ordered one over HTTPS (client hints and Sec-Fetch-* are only
		// sent to secure origins) with Chrome's default US-English
		// Accept-Language.
		if e.Scheme != "https" || e.HeaderOrder == nil || e.Headers["sec-ch-ua"] == "" || e.Headers["accept-language"] != "en-US,en;q=0.9" {
			continue
		}
		var out []Header
		for _, name := range e.HeaderOrder {
			switch name {
			case "cookie", "referer", "x-botwarden-ja4":
				continue
			case "sec-fetch-site":
				out = append(out, Header{name, "none"})
				continue
			}
			out = append(out, Header{name, e.Headers[name]})
		}
		return out, nil
	}
	return nil, fmt.Errorf("headerclient: detect/ml/corpus has no ordered HTTPS Chrome navigation for %q", ua)
}

// Transport writes HTTP/1.1 requests with their headers in a fixed order
// (net/http's own transport sorts them), one connection per request.
// Chrome over HTTP/1.1 starts with Host and Connection, then the
// navigation headers; the cookie goes where Chrome puts it (after
// Accept-Language). The wire order reaches Envoy with encode_raw_headers;
// the in-repo gateway keeps headers in a Go map and loses it.
type Transport struct {
	// Order is the header names (lower case) in wire order; headers of the
	// request not listed follow, sorted.
	Order []string
	// TLS, if set, is used for https URLs (ALPN http/1.1).
	TLS *tls.Config
	// Dial connects; nil: a net.Dialer on loopback.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	dial := t.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		port := "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(req.URL.Hostname(), port)
	}
	conn, err := dial(req.Context(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("headerclient: dial %s: %w", addr, err)
	}
	if req.URL.Scheme == "https" {
		cfg := &tls.Config{}
		if t.TLS != nil {
			cfg = t.TLS.Clone()
		}
		cfg.ServerName, cfg.NextProtos = req.URL.Hostname(), []string{"http/1.1"}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(req.Context()); err != nil {
			conn.Close()
			return nil, fmt.Errorf("headerclient: TLS handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	if dl, ok := req.Context().Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n", req.Method, req.URL.RequestURI(), req.Host)
	written := map[string]bool{"host": true, "connection": true}
	writeName := func(name string) {
		for _, v := range req.Header.Values(name) {
			fmt.Fprintf(w, "%s: %s\r\n", wireName(name), v)
		}
		written[name] = true
	}
	for _, name := range t.Order {
		writeName(name)
	}
	var rest []string
	for k := range req.Header {
		if lk := strings.ToLower(k); !written[lk] {
			rest = append(rest, lk)
		}
	}
	slices.Sort(rest)
	for _, name := range rest {
		writeName(name)
	}
	w.WriteString("\r\n")
	if err := w.Flush(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("headerclient: write request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("headerclient: read response: %w", err)
	}
	body := io.ReadCloser(&connBody{resp.Body, conn})
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			body.Close()
			return nil, fmt.Errorf("headerclient: gzip body: %w", err)
		}
		body = &connBody{zr, body}
		resp.Header.Del("Content-Encoding")
	default:
		// Chrome offers br and zstd too; no server here sends them.
		body.Close()
		return nil, fmt.Errorf("headerclient: unsupported Content-Encoding %q", enc)
	}
	resp.Body = body
	return resp, nil
}

// wireName is how Chrome spells a header over HTTP/1.1: client hints and
// priority in lower case, the others canonical.
func wireName(name string) string {
	if strings.HasPrefix(name, "sec-ch-") || name == "priority" {
		return name
	}
	return http.CanonicalHeaderKey(name)
}

// connBody closes the connection (or the inner reader) with the body.
type connBody struct {
	io.Reader
	c io.Closer
}

func (b *connBody) Close() error { return b.c.Close() }

// Visit is one request of a crawl.
type Visit struct {
	At     time.Time
	Path   string
	Status int
	// Outcome: "page" (the site's page), "challenged" (botwarden's
	// challenge page), "blocked" (any other 403), or "status N".
	Outcome string
	// Scripts are the script URLs of the page: what a browser would run
	// and this client never fetches.
	Scripts []string
}

// Crawler is the adversary: a cookie jar, Chrome's navigation headers,
// a residential-looking address in x-forwarded-for (the gateway trusts
// one hop in front of it), and a frontier of the links it has read.
type Crawler struct {
	Base    string // the gateway, http(s)://127.0.0.1:port
	Addr    string // the client address it claims (x-forwarded-for)
	Headers []Header
	// Interval is the time between the starts of two requests (1–2
	// pages a second: 500 ms–1 s).
	Interval time.Duration
	HTTP     *http.Client
}

// New returns a crawler of base from addr, with Chrome's headers for ua,
// its own cookie jar, and tlsCfg for an https base (nil for http).
func New(base, addr, ua string, interval time.Duration, tlsCfg *tls.Config) (*Crawler, error) {
	hs, err := ChromeNavigation(ua)
	if err != nil {
		return nil, err
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	order := make([]string, 0, len(hs)+3)
	for _, h := range hs {
		order = append(order, h.Name)
		// Chrome sends the referer after the fetch metadata, the cookie
		// after accept-language (detect/ml/corpus's Chrome order).
		if h.Name == "sec-fetch-dest" {
			order = append(order, "referer")
		}
		if h.Name == "accept-language" {
			order = append(order, "cookie")
		}
	}
	order = append(order, "x-forwarded-for")
	return &Crawler{Base: base, Addr: addr, Headers: hs, Interval: interval, HTTP: &http.Client{
		Timeout: 10 * time.Second, Jar: jar,
		Transport: &Transport{Order: order, TLS: tlsCfg},
		// A navigation follows redirects as a browser does; none is
		// expected here.
	}}, nil
}

var (
	reHref   = regexp.MustCompile(`href="(/products/[0-9]+)"`)
	reScript = regexp.MustCompile(`<script[^>]*\ssrc="([^"]+)"`)
)

// Crawl fetches start, then the product links it read, breadth first, for
// n requests at c.Interval: a scraper with a frontier keeps going after a
// page that has no links (a challenge) with the links it already has.
func (c *Crawler) Crawl(ctx context.Context, start string, n int) []Visit {
	frontier, seen := []string{start}, map[string]bool{start: true}
	var visits []Visit
	referer := ""
	next := time.Now()
	for len(visits) < n && len(frontier) > 0 {
		select {
		case <-ctx.Done():
			return visits
		case <-time.After(time.Until(next)):
		}
		next = time.Now().Add(c.Interval)
		path := frontier[0]
		frontier = frontier[1:]
		v, body := c.get(ctx, path, referer)
		visits = append(visits, v)
		if v.Outcome != "page" {
			continue
		}
		referer = c.Base + path
		for _, m := range reHref.FindAllStringSubmatch(body, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				frontier = append(frontier, m[1])
			}
		}
	}
	return visits
}

func (c *Crawler) get(ctx context.Context, path, referer string) (Visit, string) {
	v := Visit{At: time.Now(), Path: path}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		v.Outcome = err.Error()
		return v, ""
	}
	for _, h := range c.Headers {
		req.Header.Set(h.Name, h.Value)
	}
	if referer != "" {
		// A click on a link of the same site.
		req.Header.Set("sec-fetch-site", "same-origin")
		req.Header.Set("referer", referer)
	}
	req.Header.Set("x-forwarded-for", c.Addr)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		v.Outcome = err.Error()
		return v, ""
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	body := string(raw)
	v.Status = resp.StatusCode
	for _, m := range reScript.FindAllStringSubmatch(body, -1) {
		v.Scripts = append(v.Scripts, m[1])
	}
	switch {
	case resp.StatusCode == http.StatusOK && strings.Contains(body, shopMark):
		v.Outcome = "page"
	case resp.StatusCode == http.StatusForbidden && strings.Contains(body, "/.well-known/botwarden/challenge"):
		v.Outcome = "challenged"
	case resp.StatusCode == http.StatusForbidden:
		v.Outcome = "blocked"
	default:
		v.Outcome = fmt.Sprintf("status %d", resp.StatusCode)
	}
	return v, body
}

// Cookies returns the cookies the jar holds for the crawler's base.
func (c *Crawler) Cookies() []*http.Cookie {
	u, err := url.Parse(c.Base)
	if err != nil {
		return nil
	}
	return c.HTTP.Jar.Cookies(u)
}
