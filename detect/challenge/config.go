package challenge

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect/token"
)

// Config is the challenge section.
type Config struct {
	// Prefix is where Handler is mounted on botwarden's HTTP port; route
	// Prefix+"/" there from Envoy. Submissions go to Prefix+"/challenge",
	// the no-JavaScript path to Prefix+"/nojs".
	Prefix string `yaml:"prefix"`
	// Status is the HTTP status of the challenge page (Cloudflare and
	// Netacea use 403; Anubis 200 to look like success to scrapers).
	Status int `yaml:"status"`
	// Difficulty is the default proof-of-work difficulty in leading zero
	// bits of SHA-256; the policy may ask for another per rule, bounded by
	// MaxDifficulty. Each bit doubles the expected work (16 bits ≈ 65k
	// hashes, a fraction of a second in a browser).
	Difficulty    int `yaml:"difficulty"`
	MaxDifficulty int `yaml:"max_difficulty"`
	// TicketTTL is how long a challenge page can be answered.
	TicketTTL time.Duration `yaml:"ticket_ttl"`
	// NoJS offers managed challenges a no-JavaScript path: a meta refresh
	// after NoJSWait that grants a lower-trust pass when the cookie set
	// with the challenge page comes back.
	NoJS     bool          `yaml:"nojs"`
	NoJSWait time.Duration `yaml:"nojs_wait"`
	// MaxAttempts failed submissions in one session mark it blocked: the
	// client then gets the block page instead of another challenge.
	MaxAttempts int `yaml:"max_attempts"`
	// FailedTTL is how long a failed or blocked session is kept; after it
	// the cookie expires and the client is challenged afresh.
	FailedTTL time.Duration `yaml:"failed_ttl"`
	// FailWeight is the sum of signal weights at which the JavaScript
	// detection fails (hard signals such as webdriver weigh 10, soft ones
	// such as a software WebGL renderer 1–3; see signals.go).
	FailWeight int `yaml:"fail_weight"`
	// MaxBodyBytes caps a submission.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxReturnPath caps the return URL kept in a ticket; longer ones lose
	// their query, then fall back to "/".
	MaxReturnPath int `yaml:"max_return_path"`
	// Secrets sign tickets (HMAC-SHA256, base64 of at least 32 bytes). The
	// first signs, all verify: rotate by prepending. Empty means a random
	// secret per process (tickets then do not work across replicas).
	Secrets []string `yaml:"secrets"`
	// ReplayCapacity bounds the in-process replay set (used tickets kept
	// until they expire).
	ReplayCapacity int `yaml:"replay_capacity"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Prefix:         "/.well-known/botwarden",
		Status:         http.StatusForbidden,
		Difficulty:     16,
		MaxDifficulty:  24,
		TicketTTL:      10 * time.Minute,
		NoJS:           true,
		NoJSWait:       5 * time.Second,
		MaxAttempts:    3,
		FailedTTL:      time.Hour,
		FailWeight:     4,
		MaxBodyBytes:   16 << 10,
		MaxReturnPath:  2048,
		ReplayCapacity: 1 << 20,
	}
}

// Validate reports every invalid field by name.
func (c Config) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/") || strings.ContainsAny(c.Prefix, "?#\\ ") {
		errs = append(errs, fmt.Errorf("prefix: %q must start with / and not end with / (e.g. /.well-known/botwarden)", c.Prefix))
	}
	if c.Status < 200 || c.Status > 599 || (c.Status >= 300 && c.Status < 400) {
		errs = append(errs, fmt.Errorf("status: %d is not a 2xx, 4xx or 5xx status", c.Status))
	}
	if c.MaxDifficulty < 1 || c.MaxDifficulty > 32 {
		errs = append(errs, fmt.Errorf("max_difficulty: %d is not in 1..32", c.MaxDifficulty))
	}
	if c.Difficulty < 1 || c.Difficulty > c.MaxDifficulty {
		errs = append(errs, fmt.Errorf("difficulty: %d is not in 1..max_difficulty (%d)", c.Difficulty, c.MaxDifficulty))
	}
	if c.TicketTTL < 10*time.Second {
		errs = append(errs, fmt.Errorf("ticket_ttl: %v is shorter than 10s", c.TicketTTL))
	}
	if c.NoJSWait < 0 || c.NoJSWait >= c.TicketTTL {
		errs = append(errs, fmt.Errorf("nojs_wait: %v must be in [0, ticket_ttl)", c.NoJSWait))
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 255 {
		errs = append(errs, fmt.Errorf("max_attempts: %d is not in 1..255", c.MaxAttempts))
	}
	if c.FailedTTL < time.Minute {
		errs = append(errs, fmt.Errorf("failed_ttl: %v is shorter than 1m", c.FailedTTL))
	}
	if c.FailWeight < 1 {
		errs = append(errs, fmt.Errorf("fail_weight: %d must be at least 1", c.FailWeight))
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("max_body_bytes: %d is not in 1024..1048576", c.MaxBodyBytes))
	}
	if c.MaxReturnPath < 1 || c.MaxReturnPath > 8192 {
		errs = append(errs, fmt.Errorf("max_return_path: %d is not in 1..8192", c.MaxReturnPath))
	}
	if _, err := c.secrets(); err != nil {
		errs = append(errs, err)
	}
	if c.ReplayCapacity < 1 {
		errs = append(errs, fmt.Errorf("replay_capacity: %d must be positive", c.ReplayCapacity))
	}
	return errors.Join(errs...)
}

// secrets decodes the signing secrets, or makes a random one.
func (c Config) secrets() ([][]byte, error) {
	if len(c.Secrets) == 0 {
		s := make([]byte, 32)
		_, _ = rand.Read(s)
		return [][]byte{s}, nil
	}
	out := make([][]byte, 0, len(c.Secrets))
	for i, s := range c.Secrets {
		raw, err := token.DecodeSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secrets[%d]: %w", i, err)
		}
		if len(raw) < 32 {
			return nil, fmt.Errorf("secrets[%d]: %d bytes, want at least 32", i, len(raw))
		}
		out = append(out, raw)
	}
	return out, nil
}
