package wasmfilter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	// Hosts limits the injection to these :authority values (lower-case,
	// port included if the clients send one); empty means every host.
	Hosts []string `json:"hosts"`
	// ExcludePaths are path prefixes never injected (e.g. an API that
	// answers HTML fragments).
	ExcludePaths []string `json:"exclude_paths"`
	// MaxBodyBytes bounds the page buffered for the injection; a larger
	// one passes untouched.
	MaxBodyBytes int `json:"max_body_bytes"`
}

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
		JSDetection: JSDetection{ScriptURL: "/.well-known/botwarden/jsd.js", MaxBodyBytes: 1 << 20},
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
	for i, p := range j.ExcludePaths {
		if !strings.HasPrefix(p, "/") {
			bad(fmt.Sprintf("js_detection.exclude_paths[%d]", i), "%q does not start with /", p)
		}
	}
	return errors.Join(errs...)
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
