package reputation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/botwarden/botwarden/detect"
)

// EngineConfig says which client keys the hot path looks up.
type EngineConfig struct {
	// Prefix also looks up the client's network (IPv4 /V4PrefixBits, IPv6
	// /V6PrefixBits), where the analysis publishes distributed attacks.
	Prefix       bool `yaml:"prefix"`
	V4PrefixBits int  `yaml:"v4_prefix_bits"`
	V6PrefixBits int  `yaml:"v6_prefix_bits"`
	// JA4 also looks up the TLS fingerprint.
	JA4 bool `yaml:"ja4"`
}

// DefaultEngineConfig looks up session, IP, /24 or /64, and JA4.
func DefaultEngineConfig() EngineConfig {
	return EngineConfig{Prefix: true, V4PrefixBits: 24, V6PrefixBits: 64, JA4: true}
}

// Validate reports every invalid field by its name.
func (c EngineConfig) Validate() error {
	var errs []error
	if c.V4PrefixBits < 8 || c.V4PrefixBits > 32 {
		errs = append(errs, fmt.Errorf("v4_prefix_bits: must be 8..32, got %d", c.V4PrefixBits))
	}
	if c.V6PrefixBits < 16 || c.V6PrefixBits > 128 {
		errs = append(errs, fmt.Errorf("v6_prefix_bits: must be 16..128, got %d", c.V6PrefixBits))
	}
	return errors.Join(errs...)
}

// Engine is the detect.Engine named "reputation": it reads the verdicts the
// analysis published for this request's session, IP, network and JA4.
type Engine struct {
	cfg   EngineConfig
	store Store
	index FeedbackIndex // nil: look up every feedback key
}

// NewEngine returns the hot-path engine reading store.
func NewEngine(cfg EngineConfig, store Store) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("reputation: %w", err)
	}
	if store == nil {
		return nil, fmt.Errorf("reputation: nil store")
	}
	index, _ := store.(FeedbackIndex)
	return &Engine{cfg: cfg, store: store, index: index}, nil
}

// Name implements detect.Engine.
func (e *Engine) Name() string { return "reputation" }

// Evaluate fills v.Reputation with the most severe unexpired verdict (lowest
// score; the most specific key on ties, since keys are tried session first),
// merges the tags of every verdict found, and lowers the score when a
// verdict says likely automated (<30). Tag-only verdicts (≥30) only tag.
//
// Each client key is looked up twice, as the analysis wrote it and under
// KeyFeedback, in one Get. An operator's exemption (a false positive)
// found under any of the request's keys sets Reputation.Exempt and sets
// aside every verdict of the analysis: only the operator's own verdicts
// count then, and the policy lets an exempt request through its
// challenges.
func (e *Engine) Evaluate(ctx context.Context, r *detect.Request, v *detect.Verdict) error {
	keys, n := e.keys(r, v.Session)
	if n == 0 {
		return nil
	}
	lookup := keys[:n]
	if fb := e.feedbackKeys(lookup); fb != nil {
		lookup = append(lookup[:n:n], fb...) // a copy: only with a live report
	}
	bp := verdictBufs.Get().(*[]Verdict)
	defer func() { clear(*bp); verdictBufs.Put(bp) }()
	found, err := e.store.Get(ctx, lookup, (*bp)[:0])
	*bp = found[:0]
	if err != nil {
		return fmt.Errorf("reputation lookup: %w", err)
	}
	if len(found) == 0 {
		return nil
	}
	exempt := slices.ContainsFunc(found, Verdict.IsExemption)
	if exempt {
		found = slices.DeleteFunc(found, func(f Verdict) bool { return !strings.HasPrefix(f.Key, PrefixFeedback) })
	}
	best := found[0]
	for _, f := range found[1:] {
		if f.Score > 0 && (best.Score == 0 || f.Score < best.Score) {
			best = f
		}
	}
	tags := slices.Clone(best.Tags)
	for _, f := range found {
		for _, t := range f.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	src := best.Source
	if src == "" {
		src = detect.SourceReputation
	}
	v.Reputation = detect.Reputation{Found: true, Key: best.Key, Score: best.Score, Source: src, Tags: tags, Expiry: best.Expiry, Exempt: exempt}
	if best.Score >= detect.ScoreAutomated && best.Score < detect.ScoreLikelyHuman {
		v.Lower(best.Score, src)
	}
	v.AddTags(tags...)
	return nil
}

// verdictBufs recycles lookup results: the slice escapes through the Store
// interface, and a Check should not allocate for the common miss.
var verdictBufs = sync.Pool{New: func() any { b := make([]Verdict, 0, 4); return &b }}

// keys builds the lookup keys of r and its session (nil when none) into
// one string (a single allocation) and slices it: session, IP, network,
// JA4.
func (e *Engine) keys(r *detect.Request, sess *detect.Session) ([kinds]string, int) {
	var buf [256]byte
	var ends [kinds]int
	b, n := buf[:0], 0
	mark := func() { ends[n] = len(b); n++ }
	if sess != nil && sess.ID != "" && len(sess.ID) <= maxSessionKey {
		b = append(append(b, PrefixSession...), sess.ID...)
		mark()
	}
	if ip := r.ClientIP.Unmap(); ip.IsValid() {
		b = ip.AppendTo(append(b, PrefixIP...))
		mark()
		if p, ok := Prefix(ip, e.cfg.V4PrefixBits, e.cfg.V6PrefixBits); e.cfg.Prefix && ok {
			b = p.AppendTo(append(b, PrefixNet...))
			mark()
		}
	}
	if fp := r.JA4(); e.cfg.JA4 && fp != "" && len(fp) <= maxJA4Key {
		b = append(append(b, PrefixJA4...), fp...)
		mark()
	}
	var keys [kinds]string
	all := string(b)
	start := 0
	for i := range n {
		keys[i] = all[start:ends[i]]
		start = ends[i]
	}
	return keys, n
}

// feedbackKeys returns KeyFeedback of the client keys the index says have
// a live operator's verdict (of all of them without an index), nil — no
// allocation — when none has.
func (e *Engine) feedbackKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if e.index == nil || e.index.HasFeedback(k) {
			out = append(out, PrefixFeedback+k)
		}
	}
	return out
}

// kinds is the number of client keys a request has at most: session, IP,
// network, JA4.
const kinds = 4
