// Package heuristics is botwarden's static-rule engine (score source
// "heuristics"): a user-agent database with categories, header consistency
// against the browser the UA claims, and the TLS fingerprint (JA4) against
// the UA. Every rule has a stable detection ID in Catalogue; a rule that
// fires makes the score 1, as Cloudflare's heuristics engine does.
//
// Rules only fire on contradictions a real browser cannot produce: the
// engine must stay below 0.5% false positives on real browser traffic, so
// anything merely unusual is left to the ML score.
package heuristics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics/useragent"
	"github.com/botwarden/botwarden/internal/promreg"
)

// Config configures the engine. The zero value is not useful; start from
// DefaultConfig.
type Config struct {
	// MaxUALength is the longest User-Agent matched in full (bytes); longer
	// ones are flagged (detection 10102) and truncated. Browsers send a few
	// hundred bytes.
	MaxUALength int `yaml:"max_ua_length"`
	// HeaderConsistency enables the rules comparing headers with the
	// claimed browser (102xx).
	HeaderConsistency bool `yaml:"header_consistency"`
	// HeaderOrder enables the header-order rule (10209) when the transport
	// sends raw ordered headers (Envoy encode_raw_headers).
	HeaderOrder bool `yaml:"header_order"`
	// JA4 enables the TLS fingerprint rule (10301).
	JA4 bool `yaml:"ja4"`
	// JA4Fingerprints are added to (and override) the built-in table.
	JA4Fingerprints []JA4Entry `yaml:"ja4_fingerprints"`
	// ExtraPatterns are additional known-bot UA patterns (RE2,
	// case-insensitive) with their category.
	ExtraPatterns []ExtraPattern `yaml:"extra_patterns"`
	// DisabledDetections turns individual detection IDs off (e.g. to fix a
	// false positive in the field without a release).
	DisabledDetections []int `yaml:"disabled_detections"`
	// UACacheSize is how many distinct user agents keep their
	// classification cached (least recently used go first); 0 turns the
	// cache off.
	UACacheSize int `yaml:"ua_cache_size"`
}

// DefaultConfig returns the defaults: every rule on, 1 KiB UA cap.
func DefaultConfig() Config {
	return Config{MaxUALength: 1024, HeaderConsistency: true, HeaderOrder: true, JA4: true, UACacheSize: 16384}
}

// Validate checks the configuration; errors name the field.
func (c Config) Validate() error {
	var errs []error
	if c.MaxUALength < 64 || c.MaxUALength > 64<<10 {
		errs = append(errs, fmt.Errorf("max_ua_length: %d is outside 64..65536", c.MaxUALength))
	}
	if c.UACacheSize < 0 || c.UACacheSize > 1<<22 {
		errs = append(errs, fmt.Errorf("ua_cache_size: %d is outside 0..4194304", c.UACacheSize))
	}
	for i, e := range c.JA4Fingerprints {
		if err := validJA4(e.JA4); err != nil {
			errs = append(errs, fmt.Errorf("ja4_fingerprints[%d].ja4: %w", i, err))
		}
		if e.Stack == "" {
			errs = append(errs, fmt.Errorf("ja4_fingerprints[%d].stack: empty", i))
		}
	}
	for i, p := range c.ExtraPatterns {
		if !p.Category.valid() {
			errs = append(errs, fmt.Errorf("extra_patterns[%d].category: unknown %q (want one of %v)", i, p.Category, categoryPriority))
		}
		if p.Pattern == "" {
			errs = append(errs, fmt.Errorf("extra_patterns[%d].pattern: empty", i))
		}
	}
	for i, id := range c.DisabledDetections {
		if _, ok := Lookup(id); !ok {
			errs = append(errs, fmt.Errorf("disabled_detections[%d]: %d is not a heuristics detection ID", i, id))
		}
	}
	return errors.Join(errs...)
}

// Engine is the heuristics engine; it implements detect.Engine.
type Engine struct {
	cfg      Config
	db       *UADB
	ja4      *JA4Table
	orders   map[string]headerOrder
	disabled map[int]bool
	log      zerolog.Logger
	hits     *prometheus.CounterVec
	// fired caches, per detection ID (int → firedDetection), its tags and
	// hits' child: a bot request fires a detection, and looking it up in
	// the catalogue and resolving its label each time cost more than the
	// check itself. Entries are made on first use, so /metrics lists only
	// detections that fired, as before.
	fired sync.Map
	uas   *uaCache
	// LoadTime is how long New took (compiling the UA database).
	LoadTime time.Duration
}

// New compiles the UA database and tables. reg may be nil.
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("heuristics config: %w", err)
	}
	start := time.Now()
	db, err := LoadUADB(cfg.ExtraPatterns)
	if err != nil {
		return nil, fmt.Errorf("heuristics: user-agent database: %w", err)
	}
	ja4, err := NewJA4Table(append(slices.Clone(DefaultJA4), cfg.JA4Fingerprints...))
	if err != nil {
		return nil, fmt.Errorf("heuristics: %w", err)
	}
	orders, err := loadHeaderOrders()
	if err != nil {
		return nil, fmt.Errorf("heuristics: %w", err)
	}
	uas, err := newUACache(cfg.UACacheSize)
	if err != nil {
		return nil, fmt.Errorf("heuristics: ua_cache_size: %w", err)
	}
	e := &Engine{cfg: cfg, db: db, ja4: ja4, orders: orders, disabled: map[int]bool{}, log: log, uas: uas}
	for _, id := range cfg.DisabledDetections {
		e.disabled[id] = true
	}
	e.hits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "botwarden", Subsystem: "heuristics", Name: "detections_total",
		Help: "Heuristic detections that fired, by detection name.",
	}, []string{"detection"})
	if e.hits, err = promreg.Register(reg, e.hits); err != nil {
		return nil, fmt.Errorf("heuristics: %w", err)
	}
	e.LoadTime = time.Since(start)
	log.Info().Str("uadb", db.Stats()).Dur("load", e.LoadTime).Msg("heuristics engine ready")
	return e, nil
}

// Name implements detect.Engine.
func (e *Engine) Name() string { return "heuristics" }

// UADB returns the engine's user-agent database.
func (e *Engine) UADB() *UADB { return e.db }

// JA4Table returns the engine's fingerprint table.
func (e *Engine) JA4Table() *JA4Table { return e.ja4 }

// Evaluate implements detect.Engine. It never fails: malformed input is
// itself evidence.
func (e *Engine) Evaluate(_ context.Context, r *detect.Request, v *detect.Verdict) error {
	ua := r.UserAgent()
	if ua == "" {
		e.flag(v, IDEmptyUA)
		e.checkRequestHeaders(r, v)
		return nil
	}
	if len(ua) > e.cfg.MaxUALength {
		e.flag(v, IDOversizedUA)
		ua = truncateUTF8(ua, e.cfg.MaxUALength)
	}
	if malformed(ua) {
		e.flag(v, IDMalformedUA)
	}
	info := e.uas.get(ua, e.classify)
	if m := info.match; m.Certain {
		e.flag(v, DetectionFor(m.Category))
	}
	e.checkRequestHeaders(r, v)
	agent := info.agent
	if e.cfg.HeaderConsistency && agent.Browser() {
		e.checkConsistency(r, agent, v)
	}
	if e.cfg.JA4 && agent.Browser() {
		e.checkJA4(r, agent, v)
	}
	return nil
}

// classify derives what the UA string alone tells (cached per UA).
func (e *Engine) classify(ua string) uaInfo {
	return uaInfo{match: e.db.Classify(ua), agent: useragent.Parse(ua)}
}

// flag records detection id on v (score 1, its tags) unless disabled.
func (e *Engine) flag(v *detect.Verdict, id int) {
	if e.disabled[id] {
		return
	}
	f, ok := e.fired.Load(id)
	if !ok {
		d := mustLookup(id)
		f, _ = e.fired.LoadOrStore(id, firedDetection{tags: d.Tags, hits: e.hits.WithLabelValues(d.Name)})
	}
	fd := f.(firedDetection)
	v.Automated(detect.SourceHeuristics, id, fd.tags...)
	fd.hits.Inc()
}

// firedDetection is what flag needs of a detection that has fired.
type firedDetection struct {
	tags []string
	hits prometheus.Counter
}

// malformed reports control characters (other than tab) or invalid UTF-8.
func malformed(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return !utf8.ValidString(s)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
