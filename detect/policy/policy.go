// Package policy decides what happens to a request: it turns the evidence
// the engines put on a detect.Verdict into an action (allow, block,
// managed_challenge, js_challenge, rate_limit, log, skip) through ordered
// CEL rules, presets and a mode per host and route. It implements
// detect.Decider and reloads its file without a restart; a file that does
// not load keeps the previous policy. README.md is the language reference.
package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cel.dev/cel-go/common/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ratelimit"
)

// Config configures the policy decider (the `policy:` section of the
// botwarden config file).
type Config struct {
	// File is the policy file; empty means the embedded default policy
	// (mitigate + bot_fight).
	File string `yaml:"file"`
	// Watch reloads File when it changes on disk.
	Watch bool `yaml:"watch"`
	// Debounce is how long the file must stay quiet before a reload, so an
	// editor's save or a ConfigMap swap (several events) loads once.
	Debounce time.Duration `yaml:"debounce"`
	// RateLimit sizes the in-process limiter behind rate_limit rules.
	RateLimit ratelimit.Config `yaml:"rate_limit"`
}

// DefaultConfig returns the defaults: embedded policy, watch on, 250 ms
// debounce, ratelimit.DefaultConfig().
func DefaultConfig() Config {
	return Config{Watch: true, Debounce: 250 * time.Millisecond, RateLimit: ratelimit.DefaultConfig()}
}

// Validate reports configuration errors, naming the field. It does not read
// the policy file; New and Validate(path) do.
func (c Config) Validate() error {
	var errs []error
	if c.Debounce < 0 || c.Debounce > time.Minute {
		errs = append(errs, fmt.Errorf("debounce: must be in [0, 1m], got %s", c.Debounce))
	}
	if err := c.RateLimit.Validate(); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			errs = append(errs, fmt.Errorf("rate_limit.%s", e))
		}
	}
	return errors.Join(errs...)
}

// Decider is the policy as a detect.Decider: it holds the current compiled
// policy behind an atomic pointer, so Decide never waits for and never sees
// half of a reload.
type Decider struct {
	cfg      Config
	log      zerolog.Logger
	sampled  zerolog.Logger // for per-request problems
	limiter  ratelimit.Limiter
	local    *ratelimit.Local // the limiter New built, swept by Run; nil if injected
	now      func() time.Time
	cur      atomic.Pointer[installed]
	reloadMu sync.Mutex
	m        metrics
	// watching is closed once Run watches the file (tests wait on it).
	watching  chan struct{}
	watchOnce sync.Once
}

var _ detect.Decider = (*Decider)(nil)

// installed is a policy with its per-rule metric children resolved, so the
// hot path increments counters without label lookups.
type installed struct {
	p          *Policy
	hits       []prometheus.Counter // parallel to p.rules
	errs       []prometheus.Counter
	defaultHit prometheus.Counter
}

type metrics struct {
	hits, errs, reloads *prometheus.CounterVec
	exempted            *prometheus.CounterVec
	limitErrs           prometheus.Counter
	routeModeErrs       prometheus.Counter
	rules               prometheus.Gauge
}

// Option changes how New builds a Decider.
type Option func(*Decider)

// WithLimiter makes rate_limit rules use l (e.g. a shared Redis limiter)
// instead of the in-process one.
func WithLimiter(l ratelimit.Limiter) Option { return func(d *Decider) { d.limiter = l } }

// WithClock sets the clock rate limits are computed with (tests).
func WithClock(now func() time.Time) Option { return func(d *Decider) { d.now = now } }

// New loads cfg.File (or the embedded default) and returns the decider. A
// policy that does not load is an error here: the server must not start on
// a policy it cannot enforce. reg may be nil.
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer, opts ...Option) (*Decider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("policy config: %w", err)
	}
	d := &Decider{
		cfg:      cfg,
		log:      log,
		sampled:  log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
		now:      time.Now,
		watching: make(chan struct{}),
	}
	for _, o := range opts {
		o(d)
	}
	if err := d.m.register(reg); err != nil {
		return nil, err
	}
	if d.limiter == nil {
		l, err := ratelimit.NewLocal(cfg.RateLimit, log, reg)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		d.limiter, d.local = l, l
	}
	var p *Policy
	var err error
	if cfg.File == "" {
		p, err = Default()
	} else {
		p, err = LoadFile(cfg.File)
	}
	if err != nil {
		return nil, err
	}
	d.install(p)
	d.log.Info().Str("policy", p.Source()).Str("mode", string(p.Mode())).Int("rules", len(p.rules)).
		Strs("presets", p.presets).Msg("policy loaded")
	return d, nil
}

func (m *metrics) register(reg prometheus.Registerer) error {
	m.hits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "botwarden_policy_rule_hits_total",
		Help: "Requests a policy rule matched, by rule id and action (rule \"default\": no rule matched).",
	}, []string{"rule", "action"})
	m.errs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "botwarden_policy_rule_errors_total",
		Help: "Rule evaluations that failed at run time (the rule was skipped for that request).",
	}, []string{"rule"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "botwarden_policy_reload_total",
		Help: "Policy file reloads by result: ok, unchanged, error (the previous policy stays).",
	}, []string{"result"})
	// Present at 0 from the start, so that an alert on increase() sees the
	// first failed reload (a series born at 1 has no increase).
	for _, r := range []string{"ok", "unchanged", "error"} {
		m.reloads.WithLabelValues(r)
	}
	m.exempted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "botwarden_policy_exempted_total",
		Help: "Challenges set aside because an operator's false-positive feedback exempts the client, by the rule that matched.",
	}, []string{"rule"})
	m.limitErrs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "botwarden_policy_ratelimit_errors_total",
		Help: "Rate-limit checks that failed (limiter error or key expression error); the request was let through.",
	})
	m.routeModeErrs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "botwarden_policy_route_mode_errors_total",
		Help: "Requests whose route context_extensions named an unknown mode (the host or default mode was used).",
	})
	m.rules = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "botwarden_policy_rules",
		Help: "Enabled rules in the current policy.",
	})
	if reg == nil {
		return nil
	}
	for _, c := range []*prometheus.CounterVec{m.hits, m.errs, m.reloads, m.exempted} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("policy metrics: %w", err)
		}
	}
	for _, c := range []prometheus.Collector{m.limitErrs, m.routeModeErrs, m.rules} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("policy metrics: %w", err)
		}
	}
	return nil
}

func (d *Decider) install(p *Policy) {
	in := &installed{p: p, defaultHit: d.m.hits.WithLabelValues(DefaultRuleID, string(detect.ActionAllow))}
	for _, r := range p.rules {
		in.hits = append(in.hits, d.m.hits.WithLabelValues(r.id, string(r.action)))
		in.errs = append(in.errs, d.m.errs.WithLabelValues(r.id))
	}
	d.m.rules.Set(float64(len(p.rules)))
	d.cur.Store(in)
}

// Policy returns the policy in force.
func (d *Decider) Policy() *Policy { return d.cur.Load().p }

// Decide implements detect.Decider: the first matching rule decides, except
// log rules (tag the verdict "rule:<id>" and go on) and rules whose rate
// limit is not exceeded (they do not match). skip and allow stop evaluation.
// No match allows with rule id "default". The mode (route > host > default)
// then turns the action into the enforced one.
func (d *Decider) Decide(ctx context.Context, r *detect.Request, v *detect.Verdict) {
	in := d.cur.Load()
	p := in.p
	c := getCtx(r, v)
	defer putCtx(c)

	action, ruleID := detect.ActionAllow, DefaultRuleID
	matched := false
	for i, rl := range p.rules {
		out, err := rl.prog.eval(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				break // out of time: the pipeline answers with its fallback
			}
			in.errs[i].Inc()
			v.Errors++
			d.sampled.Warn().Err(err).Str("rule", rl.id).Msg("policy rule failed; skipped for this request")
			continue
		}
		if out != types.True {
			continue
		}
		var retry time.Duration
		if rl.limit != nil {
			var over bool
			if over, retry = d.overLimit(ctx, rl, c); !over {
				continue
			}
		}
		in.hits[i].Inc()
		if rl.action == detect.ActionLog {
			v.AddTags(rl.logTag)
			continue
		}
		action, ruleID, matched = rl.action, rl.id, true
		v.RetryAfter = retry
		if rl.difficulty > 0 {
			v.ChallengeDifficulty = rl.difficulty
		}
		break
	}
	if !matched {
		in.defaultHit.Inc()
	}
	if v.Reputation.Exempt && (action == detect.ActionManagedChallenge || action == detect.ActionJSChallenge) {
		// An operator said this client is human (a false-positive
		// report): its challenges are skipped until the exemption
		// expires. Blocks stay: they are the operator's own rules.
		d.m.exempted.WithLabelValues(ruleID).Inc()
		action, ruleID = detect.ActionAllow, ExemptRuleID
	}

	mode, badRoute := p.modeFor(r)
	if badRoute {
		d.m.routeModeErrs.Inc()
		v.Errors++
	}
	v.Action, v.RuleID, v.Mode = action, ruleID, mode
	v.EnforcedAction = detect.ActionAllow
	if mode == detect.ModeMitigate && action.Denies() {
		v.EnforcedAction = action
	}
}

// overLimit asks the limiter about this request's bucket. Any failure lets
// the request through (fail open) and is counted.
func (d *Decider) overLimit(ctx context.Context, rl *rule, c *evalCtx) (bool, time.Duration) {
	key, err := rl.limit.bucketKey(ctx, c)
	if err == nil {
		var res ratelimit.Result
		res, err = d.limiter.Allow(ctx, key, rl.limit.limit, d.now())
		if err == nil {
			return !res.Allowed, res.RetryAfter
		}
	}
	d.m.limitErrs.Inc()
	c.v.Errors++
	d.sampled.Warn().Err(err).Str("rule", rl.id).Msg("rate limit check failed; request let through")
	return false, 0
}

// modeFor resolves the mode: the route's context_extensions, else the
// most specific host entry, else the policy default. badRoute reports an
// unknown mode name on the route (ignored).
func (p *Policy) modeFor(r *detect.Request) (mode detect.Mode, badRoute bool) {
	if s, ok := r.ContextExtensions[ContextKeyMode]; ok {
		if m := detect.Mode(s); m.Valid() {
			return m, false
		}
		badRoute = true
	}
	if len(p.exact) == 0 && len(p.suffix) == 0 {
		return p.mode, badRoute
	}
	host := hostOnly(r.Host)
	if m, ok := p.exact[host]; ok {
		return m, badRoute
	}
	// *.example.com matches a.example.com and a.b.example.com; the longest
	// suffix wins.
	for rest := host; ; {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
		if m, ok := p.suffix[rest]; ok {
			return m, badRoute
		}
	}
	return p.mode, badRoute
}

// hostOnly strips the port and a trailing dot and lower-cases (without
// allocating when the host is already lower-case, as Envoy sends it).
func hostOnly(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if 'A' <= h[i] && h[i] <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// Reload reads the policy file again. A file that does not load leaves the
// current policy in force and returns why; an unchanged file is a no-op.
// Safe to call concurrently with Decide and with itself (e.g. on SIGHUP).
func (d *Decider) Reload() error {
	if d.cfg.File == "" {
		return nil
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	data, err := readFile(d.cfg.File)
	if err == nil && sha256.Sum256(data) == d.cur.Load().p.sum {
		d.m.reloads.WithLabelValues("unchanged").Inc()
		return nil
	}
	var p *Policy
	if err == nil {
		p, err = Compile(data, d.cfg.File)
	}
	if err != nil {
		d.m.reloads.WithLabelValues("error").Inc()
		d.log.Error().Err(err).Str("policy", d.cfg.File).Msg("policy reload failed; keeping the previous policy")
		return err
	}
	d.install(p)
	d.m.reloads.WithLabelValues("ok").Inc()
	d.log.Info().Str("policy", p.Source()).Str("mode", string(p.Mode())).Int("rules", len(p.rules)).
		Strs("presets", p.presets).Msg("policy reloaded")
	return nil
}
