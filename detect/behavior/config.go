package behavior

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config configures the analysis. Every field has a default (DefaultConfig).
type Config struct {
	// Workers is the number of analysis goroutines; each owns the state of
	// the keys hashed to it, so one key's events are processed in order.
	// 0 processes events synchronously in Offer (replay, tests).
	Workers int `yaml:"workers"`
	// QueueSize bounds each worker's queue; a full queue drops (counted).
	QueueSize int `yaml:"queue_size"`
	// MaxTracked caps the keys tracked in total (about 200 bytes each);
	// past it the least recently used key is evicted (CLOCK).
	MaxTracked int `yaml:"max_tracked"`
	// Window is the sliding window of the counters.
	Window time.Duration `yaml:"window"`
	// HalfLife is how fast the risk decays once the behaviour stops.
	HalfLife time.Duration `yaml:"half_life"`
	// Threshold: a verdict with score ≤ Threshold is a blocking one
	// (likely automated); above it verdicts only carry tags.
	Threshold int `yaml:"threshold"`
	// MinVerdictTTL and MaxVerdictTTL bound how long a published verdict
	// lives; within them it lives until the decayed risk would cross back.
	MinVerdictTTL time.Duration `yaml:"min_verdict_ttl"`
	MaxVerdictTTL time.Duration `yaml:"max_verdict_ttl"`
	// PublishTags publishes tag-only verdicts (score above Threshold) so
	// policy can see e.g. ua-rotation without the score dropping.
	PublishTags bool `yaml:"publish_tags"`

	Keys      KeysConfig      `yaml:"keys"`
	Paths     PathsConfig     `yaml:"paths"`
	Detectors DetectorsConfig `yaml:"detectors"`
	Anomaly   AnomalyConfig   `yaml:"anomaly"`
}

// KeysConfig says which client identities are tracked and published.
type KeysConfig struct {
	Session bool `yaml:"session"`
	IP      bool `yaml:"ip"`
	// Net tracks the client's network (/V4PrefixBits, /V6PrefixBits) for
	// attacks spread over neighbouring addresses (rate, login failures, 4xx).
	Net          bool `yaml:"net"`
	V4PrefixBits int  `yaml:"v4_prefix_bits"`
	V6PrefixBits int  `yaml:"v6_prefix_bits"`
	// JA4 tracks TLS fingerprints for distributed login attacks. A JA4 is
	// shared by every user of one browser build, so it is off by default.
	JA4 bool `yaml:"ja4"`
}

// PathsConfig classifies request paths.
type PathsConfig struct {
	// StaticExtensions mark assets (.css, .js, images, fonts).
	StaticExtensions []string `yaml:"static_extensions"`
	// APIPrefixes are not pages (no assets expected).
	APIPrefixes []string `yaml:"api_prefixes"`
	// LoginPaths are login endpoints (exact path or prefix ending in "/").
	LoginPaths []string `yaml:"login_paths"`
	// LoginFailureStatuses are the statuses of a failed login POST. The
	// access log carries no body, so a failure is only observable when the
	// application answers it with a distinct status (401 by convention).
	LoginFailureStatuses []int `yaml:"login_failure_statuses"`
	// AccountHeader / AccountParam name where the login account is
	// observable: a request header logged by Envoy
	// (additional_request_headers_to_log) or a query parameter. Envoy's log
	// has no body, so a form field is not observable; empty disables.
	AccountHeader string `yaml:"account_header"`
	AccountParam  string `yaml:"account_param"`
	// RobotsDisallow are robots.txt Disallow prefixes.
	RobotsDisallow []string `yaml:"robots_disallow"`
}

// Rule is one detector's setting: it fires (adding Risk points and its tag)
// when its measure reaches Threshold, and makes the verdict certain
// (score 1) at Certain (0: never).
type Rule struct {
	Enabled   bool    `yaml:"enabled"`
	Threshold float64 `yaml:"threshold"`
	Certain   float64 `yaml:"certain"`
	Risk      int     `yaml:"risk"`
}

// DetectorsConfig holds one Rule per detector. Measures are per Window
// unless said otherwise.
type DetectorsConfig struct {
	Rate          Rule `yaml:"rate"`           // requests
	Burst         Rule `yaml:"burst"`          // non-asset requests within one second
	Crawl         Rule `yaml:"crawl"`          // distinct non-asset paths
	NoAssets      Rule `yaml:"no_assets"`      // pages fetched while (almost) no asset was
	Probing       Rule `yaml:"probing"`        // 4xx answers, when they are most of the traffic
	LoginFailures Rule `yaml:"login_failures"` // failed login POSTs
	Accounts      Rule `yaml:"accounts"`       // distinct accounts tried
	Enumeration   Rule `yaml:"enumeration"`    // consecutive requests with sequential ids
	UARotation    Rule `yaml:"ua_rotation"`    // distinct user agents of one IP or session
	IPRotation    Rule `yaml:"ip_rotation"`    // distinct IPs (IPv6: /64s) of one session
	Regular       Rule `yaml:"regular_timing"` // samples of machine-regular inter-arrival times
	Challenge     Rule `yaml:"challenge_failures"`
	Robots        Rule `yaml:"robots"` // requests to robots.txt-disallowed paths

	// RegularMaxCV is the coefficient of variation below which timing is
	// machine-regular (humans are far above 0.5).
	RegularMaxCV float64 `yaml:"regular_max_cv"`
	// NetFactor scales thresholds for network and JA4 keys, which
	// aggregate many clients.
	NetFactor float64 `yaml:"net_factor"`
	// NetMinIPs is how many distinct addresses a network or JA4 key needs
	// before its detectors fire (one noisy address is the IP key's job).
	NetMinIPs float64 `yaml:"net_min_ips"`
}

// AnomalyConfig configures per-host baselines (Cloudflare's anomaly
// detection). Off by default.
type AnomalyConfig struct {
	Enabled bool `yaml:"enabled"`
	// TagOnly tags outliers without scoring them 1.
	TagOnly bool `yaml:"tag_only"`
	// Warmup is how many events a host's baseline needs before it judges.
	Warmup int `yaml:"warmup"`
	// RareBelow is the frequency under which a feature value is rare.
	RareBelow float64 `yaml:"rare_below"`
	// MinRareFeatures rare features make one event an outlier.
	MinRareFeatures int `yaml:"min_rare_features"`
	// MinEvents outlier events of one client within the window make it
	// anomalous.
	MinEvents int `yaml:"min_events"`
	// MaxHosts bounds the baselines per worker; other hosts share one.
	MaxHosts int `yaml:"max_hosts"`
	// Memory is the number of events after which a baseline's counts halve
	// (forgetting old traffic).
	Memory int `yaml:"memory"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Workers:       2,
		QueueSize:     16384,
		MaxTracked:    1_000_000,
		Window:        time.Minute,
		HalfLife:      5 * time.Minute,
		Threshold:     29,
		MinVerdictTTL: 5 * time.Minute,
		MaxVerdictTTL: time.Hour,
		PublishTags:   true,
		Keys:          KeysConfig{Session: true, IP: true, Net: true, V4PrefixBits: 24, V6PrefixBits: 64},
		Paths: PathsConfig{
			StaticExtensions: []string{".css", ".js", ".mjs", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".avif",
				".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp4", ".webm", ".mp3", ".m4a", ".wasm"},
			APIPrefixes:          []string{"/api/", "/.well-known/"},
			LoginPaths:           []string{"/login", "/signin", "/sign-in", "/account/login", "/user/login", "/users/sign_in", "/api/login", "/wp-login.php"},
			LoginFailureStatuses: []int{401, 403},
		},
		Detectors: DetectorsConfig{
			Rate:          Rule{Enabled: true, Threshold: 600, Risk: 40},
			Burst:         Rule{Enabled: true, Threshold: 10, Risk: 30},
			Crawl:         Rule{Enabled: true, Threshold: 20, Risk: 50},
			NoAssets:      Rule{Enabled: true, Threshold: 10, Risk: 40},
			Probing:       Rule{Enabled: true, Threshold: 20, Certain: 200, Risk: 50},
			LoginFailures: Rule{Enabled: true, Threshold: 5, Certain: 20, Risk: 75},
			Accounts:      Rule{Enabled: true, Threshold: 3, Certain: 10, Risk: 75},
			Enumeration:   Rule{Enabled: true, Threshold: 10, Certain: 50, Risk: 70},
			UARotation:    Rule{Enabled: true, Threshold: 5, Certain: 20, Risk: 50},
			IPRotation:    Rule{Enabled: true, Threshold: 4, Certain: 10, Risk: 70},
			Regular:       Rule{Enabled: true, Threshold: 20, Risk: 40},
			Challenge:     Rule{Enabled: true, Threshold: 5, Certain: 20, Risk: 75},
			Robots:        Rule{Enabled: true, Threshold: 3, Risk: 40},
			RegularMaxCV:  0.15,
			NetFactor:     10,
			NetMinIPs:     3,
		},
		Anomaly: AnomalyConfig{Warmup: 1000, RareBelow: 0.002, MinRareFeatures: 2, MinEvents: 3, MaxHosts: 256, Memory: 100_000},
	}
}

// Validate reports every invalid field, each named by its YAML path.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if c.Workers < 0 || c.Workers > 256 {
		bad("workers", "must be 0..256, got %d", c.Workers)
	}
	if c.QueueSize < 1 {
		bad("queue_size", "must be positive, got %d", c.QueueSize)
	}
	if c.MaxTracked < 16 {
		bad("max_tracked", "must be at least 16, got %d", c.MaxTracked)
	}
	if c.Window < time.Second {
		bad("window", "must be at least 1s, got %s", c.Window)
	}
	if c.HalfLife < time.Second {
		bad("half_life", "must be at least 1s, got %s", c.HalfLife)
	}
	if c.Threshold < 1 || c.Threshold > 98 {
		bad("threshold", "must be 1..98, got %d", c.Threshold)
	}
	if c.MinVerdictTTL < time.Second || c.MaxVerdictTTL < c.MinVerdictTTL {
		bad("min_verdict_ttl", "must be ≥1s and ≤ max_verdict_ttl, got %s/%s", c.MinVerdictTTL, c.MaxVerdictTTL)
	}
	if c.Keys.V4PrefixBits < 8 || c.Keys.V4PrefixBits > 32 {
		bad("keys.v4_prefix_bits", "must be 8..32, got %d", c.Keys.V4PrefixBits)
	}
	if c.Keys.V6PrefixBits < 16 || c.Keys.V6PrefixBits > 128 {
		bad("keys.v6_prefix_bits", "must be 16..128, got %d", c.Keys.V6PrefixBits)
	}
	if !c.Keys.Session && !c.Keys.IP && !c.Keys.Net && !c.Keys.JA4 {
		bad("keys", "at least one key kind must be tracked")
	}
	for _, e := range c.Paths.StaticExtensions {
		if !strings.HasPrefix(e, ".") {
			bad("paths.static_extensions", "%q must start with a dot", e)
		}
	}
	for _, field := range []struct {
		name string
		list []string
	}{{"paths.api_prefixes", c.Paths.APIPrefixes}, {"paths.login_paths", c.Paths.LoginPaths}, {"paths.robots_disallow", c.Paths.RobotsDisallow}} {
		for _, p := range field.list {
			if !strings.HasPrefix(p, "/") {
				bad(field.name, "%q must start with /", p)
			}
		}
	}
	for _, s := range c.Paths.LoginFailureStatuses {
		if s < 100 || s > 599 {
			bad("paths.login_failure_statuses", "%d is not an HTTP status", s)
		}
	}
	for _, r := range c.Detectors.rules() {
		if !r.rule.Enabled {
			continue
		}
		name := "detectors." + r.name
		if r.rule.Threshold <= 0 {
			bad(name+".threshold", "must be positive, got %g", r.rule.Threshold)
		}
		if r.rule.Certain != 0 && r.rule.Certain < r.rule.Threshold {
			bad(name+".certain", "must be 0 or ≥ threshold, got %g", r.rule.Certain)
		}
		if r.rule.Risk < 0 || r.rule.Risk > 98 {
			bad(name+".risk", "must be 0..98, got %d", r.rule.Risk)
		}
	}
	if c.Detectors.RegularMaxCV <= 0 || c.Detectors.RegularMaxCV >= 1 {
		bad("detectors.regular_max_cv", "must be in (0,1), got %g", c.Detectors.RegularMaxCV)
	}
	if c.Detectors.NetFactor < 1 {
		bad("detectors.net_factor", "must be ≥1, got %g", c.Detectors.NetFactor)
	}
	if c.Detectors.NetMinIPs < 1 {
		bad("detectors.net_min_ips", "must be ≥1, got %g", c.Detectors.NetMinIPs)
	}
	if a := c.Anomaly; a.Enabled {
		if a.Warmup < 10 {
			bad("anomaly.warmup", "must be at least 10, got %d", a.Warmup)
		}
		if a.RareBelow <= 0 || a.RareBelow >= 0.5 {
			bad("anomaly.rare_below", "must be in (0,0.5), got %g", a.RareBelow)
		}
		if a.MinRareFeatures < 1 || a.MinRareFeatures > numFeatures {
			bad("anomaly.min_rare_features", "must be 1..%d, got %d", numFeatures, a.MinRareFeatures)
		}
		if a.MinEvents < 1 {
			bad("anomaly.min_events", "must be positive, got %d", a.MinEvents)
		}
		if a.MaxHosts < 1 {
			bad("anomaly.max_hosts", "must be positive, got %d", a.MaxHosts)
		}
		if a.Memory < a.Warmup {
			bad("anomaly.memory", "must be ≥ warmup, got %d", a.Memory)
		}
	}
	return errors.Join(errs...)
}

type namedRule struct {
	name string
	rule Rule
}

func (d DetectorsConfig) rules() []namedRule {
	return []namedRule{
		{"rate", d.Rate}, {"burst", d.Burst}, {"crawl", d.Crawl}, {"no_assets", d.NoAssets}, {"probing", d.Probing},
		{"login_failures", d.LoginFailures}, {"accounts", d.Accounts}, {"enumeration", d.Enumeration},
		{"ua_rotation", d.UARotation}, {"ip_rotation", d.IPRotation}, {"regular_timing", d.Regular},
		{"challenge_failures", d.Challenge}, {"robots", d.Robots},
	}
}
