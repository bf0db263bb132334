package wasmfilter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/wasmfilter/abi"
)

// Config is the plugin configuration, JSON in Envoy's
// PluginConfig.configuration (a google.protobuf.StringValue, or a Struct
// that Envoy and Istio's pluginConfig pass on as JSON). Unknown fields are
// rejected, so a typo fails the plugin load instead of being ignored.
type Config struct {
	// CookieName, Keys, ActiveKey, Revalidate, IPv4Prefix and IPv6Prefix
	// have the names and defaults of the server's session section
	// (detect/session), and must have its values.

	// CookieName is the session cookie botwarden issues.
	CookieName string `json:"cookie_name"`
	// Keys is the session key ring, the same keys the botwarden server
	// seals cookies with; ActiveKey must be one of them (the filter only
	// opens cookies, but the ring is validated exactly as the server's).
	Keys      []Key  `json:"keys"`
	ActiveKey uint32 `json:"active_key"`

	// ScoreThreshold: a valid cookie whose score is at least this takes
	// the fast path (1–99; 30 is the lower bound of likely_human).
	ScoreThreshold int `json:"score_threshold"`
	// Revalidate bounds how long after its issue a cookie may skip
	// ext_authz (the server's session.revalidate, same default). Older but
	// unexpired cookies go to ext_authz, which consults the reputation
	// store and reissues the cookie: without this bound a behavioural
	// verdict would never reach a client whose cookie is still valid.
	Revalidate Duration `json:"revalidate"`

	// IPv4Prefix and IPv6Prefix must equal the server's session binding
	// widths: the cookie is bound to the client's address masked to these.
	IPv4Prefix int `json:"ipv4_prefix"`
	IPv6Prefix int `json:"ipv6_prefix"`

	// SkipHeader is the marker set on requests that take the fast path.
	// Envoy turns it into dynamic metadata (header_to_metadata, which also
	// removes it) and ext_authz's filter_enabled_metadata skips the check.
	// Client copies are always removed first; see envoy/README-wasm.md.
	SkipHeader string `json:"skip_header"`
	// Headers names the verdict headers added on the fast path.
	Headers HeaderNames `json:"headers"`

	// FailMode says what an internal error does: "open" (default) lets the
	// request continue untouched to ext_authz; "closed" answers 503.
	FailMode string `json:"fail_mode"`
	// BlockStatus and BlockBody are the local reply to a blocked cookie.
	BlockStatus int    `json:"block_status"`
	BlockBody   string `json:"block_body"`
	// LogLevel filters the filter's own log lines before they reach the
	// host (per-request lines are debug).
	LogLevel string `json:"log_level"`
	// JSDetection injects botwarden's invisible JavaScript detection into
	// HTML responses (see inject.go).
	JSDetection JSDetection `json:"js_detection"`
}

// JSDetection configures the injection of the detection script tag into
// HTML pages on the response path.
type JSDetection struct {
	// Enabled turns the injection on (default off).
	Enabled bool `json:"enabled"`
	// ScriptURL is the script's same-origin URL (botwarden's challenge
	// route serves it, without ext_authz).
	ScriptURL string `json:"script_url"`
	// Hosts limits the injection to these hosts; empty means every host.
	// An entry is a name ("shop.example"), a name and port
	// ("shop.example:8443") or a wildcard over subdomains
	// ("*.shop.example", which does not match shop.example itself), any
	// case; without a port it matches the :authority on any port (Envoy
	// passes the client's, port and all). See hostPattern.
	Hosts []string `json:"hosts"`
	// ExcludeHosts are hosts never injected, same syntax; an entry here
	// wins over Hosts (e.g. "*.shop.example" but not "api.shop.example").
	ExcludeHosts []string `json:"exclude_hosts"`
	// Paths are the path prefixes where injection happens; empty means
	// every path.
	Paths []string `json:"paths"`
	// ExcludePaths are path prefixes never injected (e.g. an API that
	// answers HTML fragments); they win over Paths.
	ExcludePaths []string `json:"exclude_paths"`
	// StripAcceptEncoding removes accept-encoding from the requests whose
	// response would be injected, so that the origin answers uncompressed
	// and the filter can edit the page; Envoy's compressor, placed before
	// this filter in the chain, read the client's accept-encoding first
	// and compresses the edited page on the way out (encoders run in
	// reverse order). Default on: without it a compressing origin's pages
	// are never injected.
	StripAcceptEncoding bool `json:"strip_accept_encoding"`
	// MaxBodyBytes bounds the page buffered for the injection; a larger
	// one passes untouched.
	MaxBodyBytes int `json:"max_body_bytes"`
}

// maxListEntries bounds each js_detection host and path list: they are
// matched in turn on every page request.
const maxListEntries = 256

// Key is one key of the ring: an id and a base64 32-byte secret.
type Key struct {
	ID     uint32 `json:"id"`
	Secret string `json:"secret"`
}

// HeaderNames are the verdict headers set on the fast path.
type HeaderNames struct {
	Score       string `json:"score"`
	Category    string `json:"category"`
	JSDetection string `json:"js_detection"`
}

// Duration is a time.Duration written as a Go duration string ("5m"). A
// value that does not parse is kept as an error for Validate to report
// with the field's name (an UnmarshalJSON error would lose it).
type Duration struct {
	time.Duration
	err error
}

// UnmarshalJSON reads "5m"-style strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		d.err = fmt.Errorf("%s is not a duration string such as \"5m\"", b)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.err = err
		return nil
	}
	d.Duration, d.err = v, nil
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Fail modes.
const (
	FailOpen   = "open"
	FailClosed = "closed"
)

// DefaultConfig returns the defaults every field falls back to. It has no
// keys: a configuration must name them.
func DefaultConfig() Config {
	return Config{
		CookieName:     "__bw",
		ScoreThreshold: 30,
		Revalidate:     Duration{Duration: time.Minute},
		IPv4Prefix:     24,
		IPv6Prefix:     64,
		SkipHeader:     "x-botwarden-skip-authz",
		Headers: HeaderNames{
			Score:       HeaderScore,
			Category:    HeaderCategory,
			JSDetection: HeaderJSDetection,
		},
		FailMode:    FailOpen,
		BlockStatus: 403,
		BlockBody:   "Access denied.\n",
		LogLevel:    "info",
		JSDetection: JSDetection{ScriptURL: "/.well-known/botwarden/jsd.js", StripAcceptEncoding: true, MaxBodyBytes: 1 << 20},
	}
}

// ParseConfig reads JSON over DefaultConfig and validates the result.
func ParseConfig(b []byte) (Config, error) {
	c := DefaultConfig()
	if len(bytes.TrimSpace(b)) == 0 {
		return c, errors.New("configuration is empty: at least keys and active_key are required")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("configuration is not valid JSON for this filter: %w", err)
	}
	if dec.More() {
		return c, errors.New("configuration has data after the JSON object")
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// Validate checks every field; the error names the field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !validCookieName(c.CookieName) {
		bad("cookie_name", "%q is not a valid cookie name", c.CookieName)
	}
	if len(c.Keys) == 0 {
		bad("keys", "at least one key is required")
	}
	if _, err := c.Ring(); err != nil && len(c.Keys) > 0 {
		bad("keys", "%v", err)
	}
	if c.ScoreThreshold < 1 || c.ScoreThreshold > 99 {
		bad("score_threshold", "%d is outside 1–99", c.ScoreThreshold)
	}
	if c.Revalidate.err != nil {
		bad("revalidate", "%v", c.Revalidate.err)
	} else if c.Revalidate.Duration <= 0 || c.Revalidate.Duration > 24*time.Hour {
		bad("revalidate", "%v is outside (0, 24h]", c.Revalidate.Duration)
	}
	if c.IPv4Prefix < 0 || c.IPv4Prefix > 32 {
		bad("ipv4_prefix", "%d is outside 0–32", c.IPv4Prefix)
	}
	if c.IPv6Prefix < 0 || c.IPv6Prefix > 128 {
		bad("ipv6_prefix", "%d is outside 0–128", c.IPv6Prefix)
	}
	for _, h := range []struct{ field, name string }{
		{"skip_header", c.SkipHeader},
		{"headers.score", c.Headers.Score},
		{"headers.category", c.Headers.Category},
		{"headers.js_detection", c.Headers.JSDetection},
	} {
		if !validHeaderName(h.name) {
			bad(h.field, "%q is not a lower-case header name", h.name)
		} else if h.name == HeaderJA4 {
			bad(h.field, "%q is set by Envoy and must not be reused", h.name)
		} else if h.name == HeaderJSExpected {
			bad(h.field, "%q is the filter's js_detection marker and must not be reused", h.name)
		}
	}
	if c.FailMode != FailOpen && c.FailMode != FailClosed {
		bad("fail_mode", "%q is not %q or %q", c.FailMode, FailOpen, FailClosed)
	}
	if c.BlockStatus < 200 || c.BlockStatus > 599 {
		bad("block_status", "%d is not an HTTP status", c.BlockStatus)
	}
	if _, err := abi.ParseLogLevel(c.LogLevel); err != nil {
		bad("log_level", "%v", err)
	}
	j := c.JSDetection
	if !strings.HasPrefix(j.ScriptURL, "/") || strings.HasPrefix(j.ScriptURL, "//") || strings.ContainsAny(j.ScriptURL, "\"<>'` \t\r\n") {
		bad("js_detection.script_url", "%q is not a same-origin path", j.ScriptURL)
	}
	if j.MaxBodyBytes < 1 || j.MaxBodyBytes > 16<<20 {
		bad("js_detection.max_body_bytes", "%d is outside 1–16 MiB", j.MaxBodyBytes)
	}
	for _, l := range []struct {
		field string
		list  []string
		check func(string) error
	}{
		{"js_detection.hosts", j.Hosts, func(s string) error { _, err := parseHostPattern(s); return err }},
		{"js_detection.exclude_hosts", j.ExcludeHosts, func(s string) error { _, err := parseHostPattern(s); return err }},
		{"js_detection.paths", j.Paths, checkPathPrefix},
		{"js_detection.exclude_paths", j.ExcludePaths, checkPathPrefix},
	} {
		if len(l.list) > maxListEntries {
			bad(l.field, "%d entries, at most %d", len(l.list), maxListEntries)
			continue
		}
		for i, v := range l.list {
			if err := l.check(v); err != nil {
				bad(fmt.Sprintf("%s[%d]", l.field, i), "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// checkPathPrefix accepts a path prefix as :path carries it: from "/",
// without query, fragment, spaces or control characters (which no
// normalised path holds, so such a prefix would never match).
func checkPathPrefix(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q does not start with /", p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || c == '?' || c == '#' {
			return fmt.Errorf("%q has %q, which a path prefix cannot hold", p, c)
		}
	}
	return nil
}

// hostPattern is one compiled js_detection.hosts / exclude_hosts entry.
type hostPattern struct {
	// name is the lower-case host; with wildcard, the suffix after "*"
	// (".shop.example").
	name     string
	wildcard bool
	port     string // "" matches any port, and none
}

// parseHostPattern reads "name", "name:port", "*.name" or "*.name:port"
// (name a DNS name, an IPv4 address or a bracketed IPv6 address; any case).
func parseHostPattern(s string) (hostPattern, error) {
	if s == "" {
		return hostPattern{}, errors.New("empty host")
	}
	host, port, err := splitAuthority(strings.ToLower(s))
	if err != nil {
		return hostPattern{}, fmt.Errorf("%q: %w", s, err)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return hostPattern{}, fmt.Errorf("%q: port %q is not 1–65535", s, port)
		}
	}
	var hp hostPattern
	hp.port = port
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		hp.wildcard, host = true, rest
	}
	switch {
	case strings.HasPrefix(host, "["):
		if hp.wildcard {
			return hostPattern{}, fmt.Errorf("%q: a wildcard needs a DNS name", s)
		}
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
		if err != nil || !strings.HasSuffix(host, "]") || !a.Is6() || a.Zone() != "" {
			return hostPattern{}, fmt.Errorf("%q: %s is not a bracketed IPv6 address", s, host)
		}
		host = "[" + a.String() + "]" // the canonical form is what matches
	case !validDNSName(host):
		if strings.Contains(host, "*") {
			return hostPattern{}, fmt.Errorf(`%q: a wildcard is "*." followed by a name, e.g. "*.shop.example"`, s)
		}
		return hostPattern{}, fmt.Errorf("%q is not a host name", s)
	}
	if hp.wildcard {
		host = "." + host
	}
	hp.name = host
	return hp, nil
}

// match reports whether a lower-case, dot-trimmed host and its port (""
// when the :authority had none) match the pattern.
func (hp hostPattern) match(host, port string) bool {
	if hp.port != "" && hp.port != port {
		return false
	}
	if hp.wildcard {
		return len(host) > len(hp.name) && strings.HasSuffix(host, hp.name)
	}
	return host == hp.name
}

// splitAuthority splits "host[:port]" (host possibly a bracketed IPv6
// address). It does not check the host.
func splitAuthority(a string) (host, port string, err error) {
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", "", errors.New("unclosed [")
		}
		host, rest := a[:end+1], a[end+1:]
		if rest == "" {
			return host, "", nil
		}
		if rest[0] != ':' || len(rest) == 1 {
			return "", "", errors.New("a bracketed address is followed by :port or nothing")
		}
		return host, rest[1:], nil
	}
	host, port, ok := strings.Cut(a, ":")
	if ok && (port == "" || strings.Contains(port, ":")) {
		return "", "", errors.New("more than one colon (an IPv6 address must be in brackets)")
	}
	return host, port, nil
}

// validDNSName accepts a lower-case host name or IPv4 address: labels of
// letters, digits, '-' and '_' (seen in real host names), 1–63 bytes,
// 253 bytes in all, no trailing dot (hostMatches trims the authority's).
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// compileHosts parses validated host entries.
func compileHosts(list []string) []hostPattern {
	out := make([]hostPattern, 0, len(list))
	for _, s := range list {
		if hp, err := parseHostPattern(s); err == nil { // Validate reported the others
			out = append(out, hp)
		}
	}
	return out
}

// hostMatches reports whether an :authority (as the request carried it)
// matches any of the patterns.
func hostMatches(authority string, patterns []hostPattern) bool {
	host, port, err := splitAuthority(strings.ToLower(authority))
	if err != nil {
		return false
	}
	host = strings.TrimSuffix(host, ".")
	if strings.HasPrefix(host, "[") {
		if a, err := netip.ParseAddr(host[1 : len(host)-1]); err == nil {
			host = "[" + a.String() + "]"
		}
	}
	for _, hp := range patterns {
		if hp.match(host, port) {
			return true
		}
	}
	return false
}

// Ring builds the key ring from Keys and ActiveKey.
func (c *Config) Ring() (*token.Ring, error) {
	keys := make([]token.Key, 0, len(c.Keys))
	for _, k := range c.Keys {
		tk, err := token.ParseKey(k.ID, k.Secret)
		if err != nil {
			return nil, err
		}
		keys = append(keys, tk)
	}
	return token.NewRing(keys, c.ActiveKey)
}

// validHeaderName accepts a lower-case header name, the form Envoy stores
// names in.
func validHeaderName(s string) bool { return isToken(s) && s == strings.ToLower(s) }

// validCookieName accepts an RFC 6265 cookie-name, which is a token.
func validCookieName(s string) bool { return isToken(s) }

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
