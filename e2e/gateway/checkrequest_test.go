package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestCheckRequestAsEnvoyBuildsIt: the CheckRequest as Envoy fills it in
// (docs/envoy.md, "What Envoy sends: the CheckRequest").
func TestCheckRequestAsEnvoyBuildsIt(t *testing.T) {
	r := newRig(t, Options{}, nil)
	resp, _ := r.do(t, "GET", "/shop/item?id=7&b=2",
		"User-Agent", "Mozilla/5.0 test",
		"Accept", "text/html",
		"Accept", "application/xhtml+xml", // a repeated header
		"Authorization", "Bearer secret",
		"X-Bot-Score", "99", // spoofed verdict
		"X-Botwarden-Ja4", "t13d_spoofed", // spoofed fingerprint
		"X-Forwarded-For", "203.0.113.9", // client-sent, untrusted
	)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	req := r.authz.last(t)
	a := req.GetAttributes()
	h := a.GetRequest().GetHttp()
	hd := h.GetHeaders()

	for name, want := range map[string]string{
		":method": "GET", ":path": "/shop/item?id=7&b=2", ":scheme": "http",
		"user-agent": "Mozilla/5.0 test",
		"accept":     "text/html,application/xhtml+xml", // duplicates joined with ","
		// use_remote_address: the peer is appended; the client's entry stays
		"x-forwarded-for":   "203.0.113.9,127.0.0.1",
		"x-forwarded-proto": "http",
		"x-envoy-internal":  "true", // loopback is internal
	} {
		if hd[name] != want {
			t.Errorf("headers[%s] = %q, want %q", name, hd[name], want)
		}
	}
	if hd[":authority"] != h.GetHost() || h.GetHost() == "" {
		t.Errorf(":authority %q vs host %q", hd[":authority"], h.GetHost())
	}
	for _, gone := range []string{"authorization", "x-bot-score", "x-botwarden-ja4"} {
		if _, ok := hd[gone]; ok {
			t.Errorf("headers[%s] must not reach ext_authz (disallowed or stripped by header_mutation)", gone)
		}
	}
	if h.GetPath() != "/shop/item?id=7&b=2" || h.GetQuery() != "" || h.GetFragment() != "" {
		t.Errorf("path/query/fragment = %q/%q/%q: the query stays in path", h.GetPath(), h.GetQuery(), h.GetFragment())
	}
	if h.GetMethod() != "GET" || h.GetScheme() != "http" || h.GetProtocol() != "HTTP/1.1" {
		t.Errorf("method/scheme/protocol = %s/%s/%s", h.GetMethod(), h.GetScheme(), h.GetProtocol())
	}
	// The id is Envoy's numeric stream id, not x-request-id (generated here).
	if _, err := strconv.ParseUint(h.GetId(), 10, 64); err != nil || h.GetId() == hd["x-request-id"] {
		t.Errorf("id %q (x-request-id %q): want a uint64 stream id", h.GetId(), hd["x-request-id"])
	}
	if len(hd["x-request-id"]) != 36 {
		t.Errorf("x-request-id %q: want a generated UUID", hd["x-request-id"])
	}
	// source is the L4 peer, not the x-forwarded-for client.
	src := a.GetSource().GetAddress().GetSocketAddress()
	if src.GetAddress() != "127.0.0.1" || src.GetPortValue() == 0 {
		t.Errorf("source = %v, want the TCP peer", src)
	}
	if a.GetDestination().GetAddress().GetSocketAddress().GetPortValue() == 0 {
		t.Error("destination must be the listener address")
	}
	if a.GetRequest().GetTime() == nil {
		t.Error("request.time missing")
	}
	if len(a.GetContextExtensions()) != 0 {
		t.Errorf("context_extensions on the catch-all route: %v", a.GetContextExtensions())
	}
}

func TestCheckRequestKeepsClientRequestID(t *testing.T) {
	r := newRig(t, Options{}, nil)
	r.do(t, "GET", "/", "X-Request-Id", "abc-123")
	// Internal (loopback) clients keep their x-request-id.
	if got := r.authz.last(t).GetAttributes().GetRequest().GetHttp().GetHeaders()["x-request-id"]; got != "abc-123" {
		t.Errorf("x-request-id = %q", got)
	}
}

func TestCheckRequestContextExtensionsByRoute(t *testing.T) {
	r := newRig(t, Options{}, nil)
	r.do(t, "POST", "/login/form")
	ce := r.authz.last(t).GetAttributes().GetContextExtensions()
	if ce["botwarden_mode"] != "mitigate" || ce["route"] != "login" {
		t.Errorf("context_extensions = %v", ce)
	}
}

func TestChallengeRouteIsNotChecked(t *testing.T) {
	r := newRig(t, Options{}, nil)
	resp, body := r.do(t, "POST", "/.well-known/botwarden/challenge")
	if resp.StatusCode != http.StatusOK || origin(t, body).URI != "/.well-known/botwarden/challenge" {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Served-By") != "botwarden_http" {
		t.Errorf("served by %q, want the botwarden_http cluster", resp.Header.Get("X-Served-By"))
	}
	if n := len(r.authz.requests()); n != 0 {
		t.Errorf("%d Check calls for the challenge route, want 0", n)
	}
}

// TestPathNormalisationClosesTheUncheckedRoute: a dot-segment path cannot
// ride the challenge route's exemption to somewhere else.
func TestPathNormalisationClosesTheUncheckedRoute(t *testing.T) {
	r := newRig(t, Options{}, nil)
	resp, body := r.do(t, "GET", "/.well-known/botwarden/../../admin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if e := origin(t, body); e.URI != "/admin" || resp.Header.Get("X-Served-By") != "origin" {
		t.Errorf("reached %s at %q, want the origin at /admin", resp.Header.Get("X-Served-By"), e.URI)
	}
	if got := r.authz.last(t).GetAttributes().GetRequest().GetHttp().GetPath(); got != "/admin" {
		t.Errorf("checked path %q, want /admin", got)
	}

	// %2F: UNESCAPE_AND_REDIRECT sends the client to the unescaped path.
	resp, _ = r.do(t, "GET", "/.well-known/botwarden%2F..%2F..%2Fadmin")
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/admin" {
		t.Errorf("escaped slashes: status %d location %q, want 307 to /admin", resp.StatusCode, resp.Header.Get("Location"))
	}

	// merge_slashes
	r.do(t, "GET", "//a///b")
	if got := r.authz.last(t).GetAttributes().GetRequest().GetHttp().GetPath(); got != "/a/b" {
		t.Errorf("merged path %q", got)
	}
}

func TestUnderscoredHeadersAreDropped(t *testing.T) {
	r := newRig(t, Options{}, nil)
	_, body := r.do(t, "GET", "/", "X_Bot_Score", "99")
	if _, ok := r.authz.last(t).GetAttributes().GetRequest().GetHttp().GetHeaders()["x_bot_score"]; ok {
		t.Error("x_bot_score reached ext_authz")
	}
	if origin(t, body).has("X_bot_score") {
		t.Error("x_bot_score reached the origin")
	}
}

// TestTrustedHops: with a proxy in front (xff_num_trusted_hops 1) the client
// is taken from x-forwarded-for, it is external, so Envoy sets
// x-envoy-external-address, strips x-envoy-* and regenerates x-request-id.
func TestTrustedHops(t *testing.T) {
	r := newRig(t, Options{XFFNumTrustedHops: u32p(1)}, nil)
	r.do(t, "GET", "/", "X-Forwarded-For", "198.51.100.7", "X-Request-Id", "client-chosen",
		"X-Envoy-Retry-On", "5xx", "X-Envoy-Internal", "true")
	hd := r.authz.last(t).GetAttributes().GetRequest().GetHttp().GetHeaders()
	if hd["x-envoy-external-address"] != "198.51.100.7" {
		t.Errorf("x-envoy-external-address = %q", hd["x-envoy-external-address"])
	}
	for _, gone := range []string{"x-envoy-retry-on", "x-envoy-internal"} {
		if _, ok := hd[gone]; ok {
			t.Errorf("%s kept for an external client", gone)
		}
	}
	if hd["x-request-id"] == "client-chosen" {
		t.Error("an external client's x-request-id must be regenerated")
	}
	if hd["x-forwarded-for"] != "198.51.100.7,127.0.0.1" {
		t.Errorf("x-forwarded-for = %q", hd["x-forwarded-for"])
	}
	// The ALS entry's downstream_remote_address is the trusted client.
	e := r.tap.WaitFor(hd["x-request-id"], 5e9)
	if got := e.GetCommonProperties().GetDownstreamRemoteAddress().GetSocketAddress().GetAddress(); got != "198.51.100.7" {
		t.Errorf("downstream_remote_address = %s", got)
	}
	if got := e.GetCommonProperties().GetDownstreamDirectRemoteAddress().GetSocketAddress().GetAddress(); got != "127.0.0.1" {
		t.Errorf("downstream_direct_remote_address = %s", got)
	}
}

func TestNonUTF8HeaderValuesAreSanitised(t *testing.T) {
	r := newRig(t, Options{}, nil)
	r.do(t, "GET", "/", "X-Odd", "caf\xe9")
	if got := r.authz.last(t).GetAttributes().GetRequest().GetHttp().GetHeaders()["x-odd"]; got != "caf!" {
		t.Errorf("x-odd = %q, want non-UTF-8 bytes as '!'", got)
	}
}

// TestUpstreamRequest: what the router sends and what comes back.
func TestUpstreamRequest(t *testing.T) {
	r := newRig(t, Options{}, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.gw.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// No user-agent: the upstream must not get Go's default one.
	fmt.Fprint(conn, "GET /raw HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e := origin(t, string(body))
	if e.has("user-agent") {
		t.Errorf("upstream got a user-agent: %q", e.header("user-agent"))
	}
	if e.Host != "shop.example" || e.header("x-forwarded-proto") != "http" || e.header("x-envoy-expected-rq-timeout-ms") != "15000" {
		t.Errorf("upstream host %q, x-forwarded-proto %q, expected timeout %q", e.Host, e.header("x-forwarded-proto"), e.header("x-envoy-expected-rq-timeout-ms"))
	}
	if e.has("connection") {
		t.Error("hop-by-hop connection header forwarded")
	}
	hd := r.authz.last(t).GetAttributes().GetRequest().GetHttp().GetHeaders()
	if e.header("x-request-id") != hd["x-request-id"] {
		t.Errorf("x-request-id upstream %q, checked %q", e.header("x-request-id"), hd["x-request-id"])
	}
	if resp.Header.Get("Server") != "envoy" || resp.Header.Get("X-Envoy-Upstream-Service-Time") == "" {
		t.Errorf("response server %q, service time %q", resp.Header.Get("Server"), resp.Header.Get("X-Envoy-Upstream-Service-Time"))
	}
}

func TestUpstreamDown(t *testing.T) {
	r := newRig(t, Options{Clusters: map[string]string{"origin": "127.0.0.1:1"}}, nil)
	resp, body := r.do(t, "GET", "/")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(body, "upstream connect error") {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
	e := r.tap.WaitFor(r.authz.last(t).GetAttributes().GetRequest().GetHttp().GetHeaders()["x-request-id"], 5e9)
	if !e.GetCommonProperties().GetResponseFlags().GetUpstreamConnectionFailure() {
		t.Error("want response flag UF")
	}
}

func TestEncodedDotSegments(t *testing.T) {
	r := newRig(t, Options{}, nil)
	resp, body := r.do(t, "GET", "/.well-known/botwarden/%2e%2e/%2E%2e/admin")
	if resp.StatusCode != http.StatusOK || origin(t, body).URI != "/admin" || resp.Header.Get("X-Served-By") != "origin" {
		t.Fatalf("%d from %s: %s", resp.StatusCode, resp.Header.Get("X-Served-By"), body)
	}
	if len(r.authz.requests()) != 1 {
		t.Error("an encoded dot-segment path skipped the check")
	}
}
