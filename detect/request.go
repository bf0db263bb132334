package detect

import (
	"iter"
	"net/netip"
	"strings"
	"time"
)

// Request is one HTTP request as seen at the enforcement point, independent of
// how it arrived (ext_authz gRPC, the HTTP authz endpoint, a replayed log).
// The transport builds it and nothing changes it afterwards: engines, the
// decider and the finishers only read it, and what they learn goes on the
// Verdict. That is what lets a transport hand the same Request to the
// pipeline and to its response and log code without copying it.
type Request struct {
	// ID correlates the request with its access-log entry: x-request-id when
	// present (Envoy's ext_authz request.http.id is a stream id, not this).
	ID string
	// Ray is the request reference (RayID) the transport fixed for it:
	// NewRayID(ID), so a request without an id still has one that its page,
	// its upstream header and its stored record agree on. Read it with
	// Reference, which derives it from ID when a caller left it empty.
	Ray  string
	Time time.Time

	// ClientIP is the client as derived from x-forwarded-for with the
	// configured trusted hops (or x-envoy-external-address); PeerIP is only
	// the L4 peer that talked to Envoy. ClientIP is invalid when unknown.
	ClientIP netip.Addr
	PeerIP   netip.Addr

	Method   string
	Scheme   string
	Host     string // :authority, lower-case, port kept
	Path     string // :path including the query string
	Protocol string // "HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3"

	// Headers holds the request headers with lower-case names; duplicates are
	// joined with "," as Envoy does. Pseudo-headers are not included.
	Headers Headers
	// HeaderOrder lists header names in wire order when the transport knows
	// it (ext_authz with encode_raw_headers); nil otherwise.
	HeaderOrder []string

	// ContextExtensions are Envoy's per-route check_settings.context_extensions.
	ContextExtensions map[string]string
}

// Headers is a lower-case header map.
type Headers map[string]string

// Get returns the value of header name (any case).
func (h Headers) Get(name string) string {
	if v, ok := h[name]; ok {
		return v
	}
	if lower := strings.ToLower(name); lower != name {
		return h[lower]
	}
	return "" // keys are lower-case: no second lookup for a lower-case miss
}

// Has reports whether header name (any case) is present.
func (h Headers) Has(name string) bool {
	if _, ok := h[name]; ok {
		return true
	}
	if lower := strings.ToLower(name); lower != name {
		_, ok := h[lower]
		return ok
	}
	return false
}

// UserAgent returns the user-agent header.
func (r *Request) UserAgent() string { return r.Headers.Get("user-agent") }

// JA4 returns the TLS JA4 fingerprint that Envoy's header_mutation filter put
// in x-botwarden-ja4, or "" when absent or when Envoy had none ("-").
func (r *Request) JA4() string {
	v := r.Headers.Get(HeaderJA4)
	if v == "-" {
		return ""
	}
	return v
}

// PathOnly returns the path without its query string.
func (r *Request) PathOnly() string {
	if i := strings.IndexAny(r.Path, "?#"); i >= 0 {
		return r.Path[:i]
	}
	return r.Path
}

// Cookie returns the value of the first cookie called name in the cookie
// header, or "".
func (r *Request) Cookie(name string) string {
	for k, v := range CookiePairs(r.Headers.Get("cookie")) {
		if k == name {
			return v
		}
	}
	return ""
}

// CookiePairs yields the name=value pairs of a Cookie header in order, each
// value without its surrounding quotes; parts without "=" are skipped. It is
// the one Cookie-header splitter of botwarden (session engine, policy's
// http.cookies, access-log session ids), and lenient on purpose: net/http's
// ParseCookie rejects the whole header over one bad pair and
// Request.Cookies drops values with non-ASCII bytes, while a bot manager
// must still read the pairs that are fine.
func CookiePairs(header string) iter.Seq2[string, string] {
	return func(yield func(name, value string) bool) {
		for header != "" {
			var part string
			part, header, _ = strings.Cut(header, ";")
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && !yield(k, strings.Trim(v, `"`)) {
				return
			}
		}
	}
}

// HeaderJA4 is the request header Envoy's header_mutation filter sets from
// %TLS_JA4_FINGERPRINT%; clients cannot spoof it because Envoy overwrites it.
const HeaderJA4 = "x-botwarden-ja4"

// Session is what a valid, bound, fresh session cookie tells about the client.
type Session struct {
	ID              string
	IssuedAt        time.Time
	ExpiresAt       time.Time
	Score           int
	ChallengePassed bool
	JSChecked       bool // a JS detection result is recorded
	JSPassed        bool
	NoJS            bool // lower-trust pass through the no-JavaScript path
	Blocked         bool
	// Revalidate is true when the cookie is older than the revalidation
	// interval: its state is still used, but reputation must be consulted.
	Revalidate bool
}

// HeaderJSExpected ("1") is set by botwarden's Wasm filter on requests for
// pages it injects the invisible JS detection into, on their way to
// ext_authz: where it is present, a client without a detection result is
// suspect (the ml engine's js_detection rule). Envoy's header_mutation
// removes client copies before the filter runs; a forged copy could only
// lower its sender's own score.
const HeaderJSExpected = "x-botwarden-js-expected"
