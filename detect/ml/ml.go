// Package ml is botwarden's per-request model (score source
// "machine_learning", scores 2–99): a logistic regression over request
// features (header presence, order and values, the claimed browser and its
// version age, protocol, TLS fingerprint class, path class, cookie,
// network type). Inference is a dot product in pure Go.
//
// The embedded model (model.json) is trained on requests generated from
// public UA corpora by detect/ml/corpus; README.md documents the data, the
// features and the held-out metrics. `botwarden train` builds a new one from
// labelled JSON lines with Train.
package ml

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"hash/maphash"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/internal/promreg"
)

//go:embed model.json
var embeddedModel []byte

// EmbeddedModel returns the model shipped in the binary.
func EmbeddedModel() (*Model, error) {
	m, err := LoadModel(bytes.NewReader(embeddedModel))
	if err != nil {
		return nil, fmt.Errorf("embedded model: %w", err)
	}
	return m, nil
}

// Config configures the engine. The engine has no on/off switch of its
// own: it runs when detection.engines lists "ml".
type Config struct {
	// ModelFile is a model written by `botwarden train`; empty uses the
	// embedded model.
	ModelFile string `yaml:"model_file"`
	// JSDetection is the rule for clients that never report the invisible
	// JavaScript detection.
	JSDetection JSDetectionRule `yaml:"js_detection"`
}

// JSDetectionRule: where the Wasm filter injects the invisible detection
// into HTML pages, every browser reports a result from its second page on.
// A session (or address + UA) with Pages page views in the last minute and
// still no result gets at most Score (likely automated: the default policy
// challenges it) and the tag js-detection-missing.
type JSDetectionRule struct {
	// Expected turns the rule on for every request (default off: without
	// the injection no client has a result). Where the Wasm filter
	// injects, it need not be set: the filter marks the page requests it
	// injects into with detect.HeaderJSExpected, which turns the rule on
	// for those requests alone (jsExpected), so hosts and routes without
	// the injection are never judged by it. Set it only when every page
	// botwarden checks runs the detection.
	Expected bool `yaml:"expected"`
	// Pages is the page view from which a missing result counts (default 3).
	Pages int `yaml:"pages"`
	// Score is the score given then (default 20).
	Score int `yaml:"score"`
}

// TagJSDetectionMissing marks a client that fetched pages but never
// reported the invisible detection.
const TagJSDetectionMissing = "js-detection-missing"

// DefaultConfig returns the defaults: the embedded model, the invisible
// detection not expected.
func DefaultConfig() Config {
	return Config{JSDetection: JSDetectionRule{Pages: 3, Score: 20}}
}

// Validate checks the configuration; errors name the field.
func (c Config) Validate() error {
	if c.ModelFile != "" {
		if _, err := os.Stat(c.ModelFile); err != nil {
			return fmt.Errorf("model_file: %w", err)
		}
	}
	if c.JSDetection.Pages < 1 || c.JSDetection.Pages > 100 {
		return fmt.Errorf("js_detection.pages: %d is outside 1–100", c.JSDetection.Pages)
	}
	if c.JSDetection.Score < 2 || c.JSDetection.Score > 29 {
		return fmt.Errorf("js_detection.score: %d is outside 2–29 (likely automated)", c.JSDetection.Score)
	}
	return nil
}

// Engine scores requests with the model; it implements detect.Engine.
type Engine struct {
	cfg    Config
	model  *Model
	ex     *extractor
	pool   sync.Pool // *[]float64
	scored prometheus.Histogram
	// clients and prefixes count page views for the pace features.
	clients, prefixes *pageWindow
	now               func() time.Time
	// pace, when set, replaces the page windows (SetPace).
	pace func(*detect.Request) Context
}

// New loads the model. reg may be nil.
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ml config: %w", err)
	}
	var m *Model
	var err error
	if cfg.ModelFile == "" {
		m, err = EmbeddedModel()
	} else {
		var f *os.File
		if f, err = os.Open(cfg.ModelFile); err == nil {
			m, err = LoadModel(f)
			f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ml: %w", err)
	}
	return newEngine(cfg, m, log, reg)
}

// NewWithModel builds an engine around m (for tests and the trainer).
func NewWithModel(m *Model, log zerolog.Logger, reg prometheus.Registerer) (*Engine, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("ml: %w", err)
	}
	return newEngine(DefaultConfig(), m, log, reg)
}

func newEngine(cfg Config, m *Model, log zerolog.Logger, reg prometheus.Registerer) (*Engine, error) {
	ex, err := newExtractor()
	if err != nil {
		return nil, fmt.Errorf("ml: %w", err)
	}
	e := &Engine{cfg: cfg, model: m, ex: ex, clients: newPageWindow(), prefixes: newPageWindow(), now: time.Now}
	e.pool.New = func() any { x := make([]float64, NumFeatures); return &x }
	e.scored = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "botwarden", Subsystem: "ml", Name: "score",
		Help:    "Scores proposed by the per-request model.",
		Buckets: []float64{2, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99},
	})

	if e.scored, err = promreg.Register(reg, e.scored); err != nil {
		return nil, fmt.Errorf("ml: %w", err)
	}
	log.Info().Str("model", m.Version).Int("features", NumFeatures).Msg("ml engine ready")
	return e, nil
}

// Name implements detect.Engine.
func (e *Engine) Name() string { return "ml" }

// Model returns the engine's model.
func (e *Engine) Model() *Model { return e.model }

// Evaluate implements detect.Engine: it proposes the model's score unless
// a heuristic already decided (score 1 stands, nothing to add).
func (e *Engine) Evaluate(_ context.Context, r *detect.Request, v *detect.Verdict) error {
	if v.Score == detect.ScoreAutomated {
		return nil
	}
	c := e.observe(r, v)
	s := e.score(r, v, c)
	v.Propose(s, detect.SourceML)
	e.scored.Observe(float64(s))
	if j := e.cfg.JSDetection; e.jsExpected(r) && max(c.Minute, c.pagesAsClient) >= uint32(j.Pages) && !v.JSDetectionChecked {
		v.Lower(j.Score, detect.SourceML)
		v.AddTags(TagJSDetectionMissing)
	}
	return nil
}

// Score returns the model's score (2–99) for r, given what earlier engines
// put in v (v may be nil). A page view counts towards the client's pace.
func (e *Engine) Score(r *detect.Request, v *detect.Verdict) int {
	return e.score(r, v, e.observe(r, v))
}

func (e *Engine) score(r *detect.Request, v *detect.Verdict, c Context) int {
	xp := e.pool.Get().(*[]float64)
	defer e.pool.Put(xp)
	e.ex.features(r, v, c, *xp)
	return e.model.Score(*xp)
}

// observe counts r when it is a page view and returns the client's pace;
// v (which may be nil) carries the session engine's finding.
func (e *Engine) observe(r *detect.Request, v *detect.Verdict) Context {
	if len(e.model.Weights) <= baseFeatures {
		return Context{} // a model without the pace features
	}
	if e.pace != nil {
		return e.pace(r)
	}
	now := r.Time
	if now.IsZero() {
		now = e.now()
	}
	var sess *detect.Session
	if v != nil {
		sess = v.Session
	}
	ch, ph := e.keys(r, sess)
	page := isPage(r, classifyPath(r.PathOnly()))
	if page {
		e.clients.add(ch, now)
		e.prefixes.add(ph, now)
	}
	var c Context
	c.Burst, c.Minute = e.clients.counts(ch, now)
	_, c.PrefixMinute = e.prefixes.counts(ph, now)
	c.pagesAsClient = c.Minute
	if e.jsExpected(r) && sess != nil {
		// The js_detection rule counts by address + UA too: a client's
		// first page comes before its session cookie.
		ah, _ := e.keys(r, nil)
		if page {
			e.clients.add(ah, now)
		}
		_, c.pagesAsClient = e.clients.counts(ah, now)
	}
	return c
}

// jsExpected reports whether r's page should have run the invisible
// detection: everywhere with js_detection.expected, else where the Wasm
// filter marked the request. A client cannot forge the marker (Envoy's
// header_mutation and the filter remove client copies), and a forged one
// could only lower its sender's own score.
func (e *Engine) jsExpected(r *detect.Request) bool {
	return e.cfg.JSDetection.Expected || r.Headers.Get(detect.HeaderJSExpected) == "1"
}

// keys hashes the client (its session, else its address and UA) and its
// address prefix (/24, /48) for the page windows; sess is nil when the
// request carried no valid session cookie.
func (e *Engine) keys(r *detect.Request, sess *detect.Session) (client, prefix uint64) {
	var h maphash.Hash
	h.SetSeed(e.clients.seed)
	ip := r.ClientIP.Unmap()
	if sess != nil {
		h.WriteString("s")
		h.WriteString(sess.ID)
	} else {
		b := ip.As16()
		h.Write(b[:])
		h.WriteString(r.UserAgent())
	}
	client = h.Sum64()
	h.Reset()
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	if p, err := ip.Prefix(bits); err == nil {
		b := p.Addr().As16()
		h.Write(b[:])
	}
	return client, h.Sum64()
}

// SetPace makes the engine take each request's pace from fn instead of
// counting page views: for evaluations and replays of requests whose pace
// was recorded with them.
func (e *Engine) SetPace(fn func(*detect.Request) Context) { e.pace = fn }

// SetClock replaces the clock for requests without a time (tests).
func (e *Engine) SetClock(now func() time.Time) { e.now = now }
