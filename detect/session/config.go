package session

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/token"
)

// Config is the session section: the cookie, its keys and how long its word
// is trusted.
type Config struct {
	// CookieName is the session cookie's name. Netacea's advice holds: a
	// name that does not reveal its purpose is harder to single out.
	CookieName string `yaml:"cookie_name"`
	// Domain is the cookie's Domain attribute; "" makes a host-only cookie.
	Domain string `yaml:"domain"`
	// Secure, HttpOnly and SameSite are the cookie attributes. Secure
	// should stay on in production; browsers accept Secure cookies from
	// http://localhost and http://127.0.0.1 for development.
	Secure   bool   `yaml:"secure"`
	HTTPOnly bool   `yaml:"http_only"`
	SameSite string `yaml:"same_site"` // lax, strict or none
	// Lifetime is how long a cookie lives; each refresh extends it, so an
	// active session keeps its state and an idle one expires.
	Lifetime time.Duration `yaml:"lifetime"`
	// Revalidate bounds how long the cookie's state is trusted on its own:
	// past it, Session.Revalidate tells the reputation engine to consult
	// the store again, and the cookie is reissued with the fresh verdict.
	Revalidate time.Duration `yaml:"revalidate"`
	// IPv4Prefix and IPv6Prefix are the client binding widths: a cookie is
	// honoured only from the network it was issued to.
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// Keys is the key ring (base64 AES-256 secrets); ActiveKey seals, all
	// keys open. Rotate by adding a key, making it active, and removing
	// the old one after Lifetime. Empty means a random key per process:
	// cookies then do not survive a restart and are not shared by replicas.
	Keys      []KeyConfig `yaml:"keys"`
	ActiveKey uint32      `yaml:"active_key"`
	// PassedScore is the score given to a client whose cookie says it
	// passed the JavaScript challenge, unless other evidence says automated.
	PassedScore int `yaml:"passed_score"`
	// IssueToVerifiedBots also gives cookies to verified crawlers (they
	// rarely keep them, so by default they are not sent one).
	IssueToVerifiedBots bool `yaml:"issue_to_verified_bots"`
}

// KeyConfig is one key of the ring.
type KeyConfig struct {
	ID     uint32 `yaml:"id"`
	Secret string `yaml:"secret"` // base64 of 32 bytes
}

// DefaultConfig returns working defaults (with a per-process random key).
func DefaultConfig() Config {
	return Config{
		CookieName:  "__bw",
		Secure:      true,
		HTTPOnly:    true,
		SameSite:    "lax",
		Lifetime:    24 * time.Hour,
		Revalidate:  time.Minute,
		IPv4Prefix:  24,
		IPv6Prefix:  64,
		PassedScore: 90,
	}
}

// Validate reports every invalid field by its name.
func (c Config) Validate() error {
	var errs []error
	// An RFC 6265 cookie-name is an RFC 9110 token, as a header name is.
	if !httpguts.ValidHeaderFieldName(c.CookieName) {
		errs = append(errs, fmt.Errorf("cookie_name: %q is not a valid cookie name", c.CookieName))
	}
	if strings.ContainsAny(c.Domain, " \t;,\"") {
		errs = append(errs, fmt.Errorf("domain: %q is not a valid cookie domain", c.Domain))
	}
	if _, err := sameSite(c.SameSite); err != nil {
		errs = append(errs, fmt.Errorf("same_site: %w", err))
	} else if strings.EqualFold(c.SameSite, "none") && !c.Secure {
		errs = append(errs, errors.New("same_site: none requires secure: true (browsers drop it otherwise)"))
	}
	if c.Lifetime < time.Minute {
		errs = append(errs, fmt.Errorf("lifetime: %v is shorter than 1m", c.Lifetime))
	}
	if c.Revalidate <= 0 || c.Revalidate > c.Lifetime {
		errs = append(errs, fmt.Errorf("revalidate: %v must be positive and at most lifetime (%v)", c.Revalidate, c.Lifetime))
	}
	if c.IPv4Prefix < 0 || c.IPv4Prefix > 32 {
		errs = append(errs, fmt.Errorf("ipv4_prefix: %d is not in 0..32", c.IPv4Prefix))
	}
	if c.IPv6Prefix < 0 || c.IPv6Prefix > 128 {
		errs = append(errs, fmt.Errorf("ipv6_prefix: %d is not in 0..128", c.IPv6Prefix))
	}
	if c.PassedScore < detect.ScoreLikelyHuman || c.PassedScore > detect.ScoreMax {
		errs = append(errs, fmt.Errorf("passed_score: %d is not in %d..%d", c.PassedScore, detect.ScoreLikelyHuman, detect.ScoreMax))
	}
	if _, err := c.ring(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func sameSite(s string) (http.SameSite, error) {
	switch strings.ToLower(s) {
	case "lax", "":
		return http.SameSiteLaxMode, nil
	case "strict":
		return http.SameSiteStrictMode, nil
	case "none":
		return http.SameSiteNoneMode, nil
	}
	return 0, fmt.Errorf("%q is not lax, strict or none", s)
}

// ring builds the key ring; with no keys configured, a random one.
func (c Config) ring() (*token.Ring, error) {
	if len(c.Keys) == 0 {
		k := token.NewKey(c.ActiveKey)
		return token.NewRing([]token.Key{k}, k.ID)
	}
	keys := make([]token.Key, 0, len(c.Keys))
	for i, kc := range c.Keys {
		k, err := token.ParseKey(kc.ID, kc.Secret)
		if err != nil {
			return nil, fmt.Errorf("keys[%d].secret: %w", i, err)
		}
		keys = append(keys, k)
	}
	r, err := token.NewRing(keys, c.ActiveKey)
	if err != nil {
		return nil, fmt.Errorf("keys/active_key: %w", err)
	}
	return r, nil
}
