// Package fetch sends one HTTP request the way the end-to-end tests want to
// see a gateway's answer: straight to the address (no proxy from the
// environment), the body as sent (no transparent gzip) and redirects
// returned rather than followed, since a redirect is often the verdict under
// test.
//
// It is its own package because both package e2e and the internal tests of
// e2e/gateway use it, and e2e imports e2e/gateway.
package fetch

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Timeout bounds one request, so a gateway that hangs fails the test
// instead of stalling it.
const Timeout = 15 * time.Second

// Do sends req and returns the response, whose body it has read (returned
// as a string) and closed. A request that cannot be sent or read fails t.
func Do(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       Timeout,
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body of %s %s: %v", req.Method, req.URL, err)
	}
	return resp, string(body)
}
