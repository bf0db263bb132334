package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"sync"
	"time"
)

// ChromeUA is the user agent a Visitor sends unless told otherwise; its
// Sec-CH-UA headers agree with it.
const ChromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// Visitor is one client of a gateway: a real Chrome's header set, sent
// from Addr (in x-forwarded-for, for a gateway trusting one hop in front),
// with a cookie jar like a browser's (the session cookie botwarden issues
// comes back), recording every answer in order. Safe for concurrent use.
type Visitor struct {
	Addr string
	ua   string // SetUA changes it
	url  string
	hc   *http.Client

	mu   sync.Mutex
	sent []Answer
}

// Answer is what one request of a Visitor got.
type Answer struct {
	At     time.Time // when it was sent
	Method string
	Path   string
	Status int // 0: the request failed
}

// NewVisitor returns a visitor behind addr of the gateway at url.
func NewVisitor(addr, url string) *Visitor {
	jar, _ := cookiejar.New(nil)
	return &Visitor{Addr: addr, ua: ChromeUA, url: url,
		hc: &http.Client{Timeout: 10 * time.Second, Jar: jar, Transport: &http.Transport{Proxy: nil}}}
}

// Get fetches path and returns its status (0 when the request failed).
func (v *Visitor) Get(path string) int {
	s, _ := v.Do(http.MethodGet, path, nil)
	return s
}

// Do sends one request (a POST as a form) with a real Chrome's navigation
// headers and records its answer; the body is read and discarded.
func (v *Visitor) Do(method, path string, body io.Reader) (int, error) {
	a := Answer{At: time.Now(), Method: method, Path: path}
	req, err := http.NewRequestWithContext(context.Background(), method, v.url+path, body)
	if err != nil {
		return 0, err
	}
	v.mu.Lock()
	ua := v.ua
	v.mu.Unlock()
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8")
	req.Header.Set("Accept-Language", "en-GB,en;q=0.9")
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	req.Header.Set("Sec-CH-UA", `"Chromium";v="131", "Not_A Brand";v="24"`)
	req.Header.Set("Sec-CH-UA-Platform", `"Linux"`)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("X-Forwarded-For", v.Addr)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := v.hc.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		a.Status = resp.StatusCode
	} else {
		err = fmt.Errorf("%s %s: %w", method, path, err)
	}
	v.mu.Lock()
	v.sent = append(v.sent, a)
	v.mu.Unlock()
	return a.Status, err
}

// SetUA changes the user agent of the next requests.
func (v *Visitor) SetUA(ua string) {
	v.mu.Lock()
	v.ua = ua
	v.mu.Unlock()
}

// FirstBlocked is the index of the first 403 answer, or -1.
func (v *Visitor) FirstBlocked() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, a := range v.sent {
		if a.Status == http.StatusForbidden {
			return i
		}
	}
	return -1
}

// Answers returns every answer so far, in order.
func (v *Visitor) Answers() []Answer {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Answer(nil), v.sent...)
}
