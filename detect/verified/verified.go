// Package verified recognises verified bots — crawlers whose user-agent
// claim is proven by their operator's published IP ranges or by
// forward-confirmed reverse DNS — and AI agents, from an embedded catalogue
// built from ai.robots.txt.
//
// The engine never waits for DNS on the request path: an address that needs a
// reverse-DNS check is queued for a bounded pool of background workers and the
// request is tagged unverified-<bot> until the answer is cached.
package verified

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ranges"
)

// Config configures the verified-bot and AI engine.
//
// The engine has no on/off switch of its own: it runs when
// detection.engines lists "verified".
type Config struct {
	// RangesFile is a snapshot written by `botwarden update-ranges`. Its sets
	// replace the embedded sets of the same name; a missing file means the
	// embedded snapshot alone (logged), a corrupt one is a start-up error.
	RangesFile string `yaml:"ranges_file"`
	// AI marks user agents found in the AI catalogue (bot.ai, bot.ai_category).
	AI bool `yaml:"ai"`
	// DisabledBots lists built-in bot IDs never to verify (their claims are
	// ignored too).
	DisabledBots []string `yaml:"disabled_bots"`
	// Bots adds verifiable bots (e.g. your own uptime monitor).
	Bots []Bot `yaml:"bots"`
	// DNS configures forward-confirmed reverse DNS.
	DNS DNSConfig `yaml:"dns"`
}

// DNSConfig configures the background reverse-DNS verification.
type DNSConfig struct {
	// Enabled turns FCrDNS on. Off, a claim from outside the published
	// ranges of a bot that documents reverse DNS stays unverified (never
	// spoofed), and bots known only by reverse DNS are never verified.
	Enabled bool `yaml:"enabled"`
	// Server is a resolver "host:port"; empty uses the system resolver.
	Server string `yaml:"server"`
	// Timeout bounds one verification (PTR plus forward lookups).
	Timeout time.Duration `yaml:"timeout"`
	// Workers is the number of concurrent lookups.
	Workers int `yaml:"workers"`
	// QueueSize bounds the addresses waiting for a lookup; beyond it a claim
	// stays unverified until a later request finds room.
	QueueSize int `yaml:"queue_size"`
	// CacheSize bounds the cached addresses (least recently used evicted).
	CacheSize int `yaml:"cache_size"`
	// PositiveTTL keeps a confirmed name; NegativeTTL a definite failure
	// (no PTR, foreign PTR, forward mismatch); ErrorTTL a resolver failure
	// (timeout, SERVFAIL), after which the address is looked up again.
	PositiveTTL time.Duration `yaml:"positive_ttl"`
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	ErrorTTL    time.Duration `yaml:"error_ttl"`
}

// DefaultConfig returns the defaults: AI marking on, FCrDNS on with the
// system resolver.
func DefaultConfig() Config {
	return Config{
		AI: true,
		DNS: DNSConfig{
			Enabled:     true,
			Timeout:     2 * time.Second,
			Workers:     4,
			QueueSize:   1024,
			CacheSize:   100_000,
			PositiveTTL: 24 * time.Hour,
			NegativeTTL: time.Hour,
			ErrorTTL:    time.Minute,
		},
	}
}

// Validate reports every invalid field, each named relative to the
// section (the config package adds "verified.").
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	known := map[string]bool{}
	for _, b := range builtinBots {
		known[b.ID] = true
	}
	for i, id := range c.DisabledBots {
		if !known[id] {
			bad("disabled_bots[%d]: unknown bot %q", i, id)
		}
	}
	for i, b := range c.Bots {
		if err := b.Validate(); err != nil {
			bad("bots[%d]: %w", i, err)
		}
		if known[b.ID] {
			bad("bots[%d]: id %q is already a built-in bot", i, b.ID)
		}
		known[b.ID] = true
		for j, p := range b.Prefixes {
			if _, err := netip.ParsePrefix(p); err != nil {
				bad("bots[%d].prefixes[%d]: %w", i, j, err)
			}
		}
	}
	if n := len(builtinBots) - len(c.DisabledBots) + len(c.Bots); n > maxBots {
		bad("bots: at most %d bots in all, have %d", maxBots, n)
	}
	if d := c.DNS; d.Enabled {
		if d.Server != "" {
			if _, _, err := net.SplitHostPort(d.Server); err != nil {
				bad("dns.server: %w", err)
			}
		}
		for _, f := range []struct {
			name string
			v    time.Duration
		}{{"timeout", d.Timeout}, {"positive_ttl", d.PositiveTTL}, {"negative_ttl", d.NegativeTTL}, {"error_ttl", d.ErrorTTL}} {
			if f.v <= 0 {
				bad("dns.%s: must be positive, got %s", f.name, f.v)
			}
		}
		for _, f := range []struct {
			name string
			v    int
		}{{"workers", d.Workers}, {"queue_size", d.QueueSize}, {"cache_size", d.CacheSize}} {
			if f.v <= 0 {
				bad("dns.%s: must be positive, got %d", f.name, f.v)
			}
		}
		if d.Workers > 256 {
			bad("dns.workers: at most 256, got %d", d.Workers)
		}
	}
	return errors.Join(errs...)
}

// Option adjusts an Engine beyond its Config (tests, tools).
type Option func(*options)

type options struct {
	resolver Resolver
	now      func() time.Time
}

// WithResolver replaces the DNS resolver (tests; see dnstest for a real
// DNS server on loopback).
func WithResolver(r Resolver) Option { return func(o *options) { o.resolver = r } }

// WithClock replaces time.Now for cache expiry (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

//go:embed data/ranges.json.gz
var embeddedRanges []byte

var embeddedSnapshot = sync.OnceValues(func() (*ranges.Snapshot, error) {
	return ranges.Parse(embeddedRanges)
})

// EmbeddedRanges returns the snapshot compiled into the binary.
func EmbeddedRanges() (*ranges.Snapshot, error) { return embeddedSnapshot() }

// Engine implements detect.Engine.
type Engine struct {
	cfg      Config
	log      zerolog.Logger
	bots     []Bot
	tokens   *tokenIndex
	ai       *AICatalogue
	table    atomic.Pointer[rangeTable]
	dns      *fcrdns // nil when DNS is disabled
	m        *metrics
	reloadMu sync.Mutex
}

// New builds the engine: it loads the embedded ranges and cfg.RangesFile,
// compiles the UA token index and the AI catalogue. It starts no goroutine;
// call Start for the DNS workers and Close to stop them.
// log is used as given: the server's wiring has already named the engine
// in it (engine=...), and a second With would repeat the field.
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer, opts ...Option) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("verified: %w", err)
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	e := &Engine{cfg: cfg, log: log, m: newMetrics(reg)}
	for _, b := range builtinBots {
		if !slices.Contains(cfg.DisabledBots, b.ID) {
			e.bots = append(e.bots, b)
		}
	}
	e.bots = append(e.bots, cfg.Bots...)

	ai, err := DefaultAICatalogue()
	if err != nil {
		return nil, fmt.Errorf("verified: %w", err)
	}
	e.ai = ai
	e.tokens = newTokenIndex()
	for i, b := range e.bots {
		for _, t := range b.Tokens {
			e.tokens.add(t, i, -1)
		}
	}
	if cfg.AI {
		for i, a := range ai.Agents {
			if a.Excluded == "" {
				e.tokens.add(a.Name, -1, i)
			}
		}
	}
	if err := e.Reload(); err != nil {
		return nil, err
	}
	if cfg.DNS.Enabled {
		res := o.resolver
		if res == nil {
			res = systemResolver(cfg.DNS.Server)
		}
		var domains []string
		for _, b := range e.bots {
			for _, d := range b.RDNS {
				if !slices.Contains(domains, d) {
					domains = append(domains, d)
				}
			}
		}
		dns, err := newFCrDNS(res, domains, cfg.DNS, o.now, e.m)
		if err != nil {
			return nil, err
		}
		e.dns = dns
	}
	return e, nil
}

// systemResolver returns the Go resolver, pointed at server when set.
func systemResolver(server string) Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		},
	}
}

// Reload re-reads cfg.RangesFile and swaps the range table atomically;
// requests in flight keep the table they started with. On error the current
// table stays.
func (e *Engine) Reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	base, err := EmbeddedRanges()
	if err != nil {
		return fmt.Errorf("verified: embedded ranges: %w", err)
	}
	snap, missing, err := ranges.Layer(base, e.cfg.RangesFile)
	if err != nil {
		return fmt.Errorf("verified.ranges_file: %w", err)
	}
	if missing {
		e.log.Warn().Str("ranges_file", e.cfg.RangesFile).Msg("ranges file not found; using the embedded snapshot (run update-ranges)")
	}
	rt, err := buildTable(e.bots, snap)
	if err != nil {
		return fmt.Errorf("verified: %w", err)
	}
	for _, set := range rt.missing {
		e.log.Warn().Str("set", set).Msg("no ranges for this set; its bots verify by reverse DNS only")
	}
	e.table.Store(rt)
	e.log.Info().Int("prefixes", rt.prefixes).Int("bots", len(e.bots)).Msg("verified-bot ranges loaded")
	return nil
}

// Start launches the background DNS workers (no-op when DNS is disabled).
func (e *Engine) Start() {
	if e.dns != nil {
		e.dns.start()
	}
}

// Close stops the DNS workers, cancelling lookups in flight. Evaluate keeps
// working afterwards (claims needing DNS stay unverified).
func (e *Engine) Close() error {
	if e.dns != nil {
		e.dns.stop()
	}
	return nil
}

// Settle waits until the queued DNS lookups are answered. For tools and
// tests (eval, replay) that want the verdict of a second pass.
func (e *Engine) Settle(ctx context.Context) error {
	if e.dns == nil {
		return nil
	}
	return e.dns.settle(ctx)
}

// Name implements detect.Engine.
func (e *Engine) Name() string { return "verified" }

// Evaluate implements detect.Engine. It never blocks on DNS.
func (e *Engine) Evaluate(ctx context.Context, r *detect.Request, v *detect.Verdict) error {
	e.evaluate(ctx, r, v, false)
	return nil
}

// EvaluateSync is Evaluate, except that a needed reverse-DNS check is done
// in the caller's goroutine (bounded by dns.timeout) instead of queued. For
// offline use — replaying logs, evaluation — never on the request path.
func (e *Engine) EvaluateSync(ctx context.Context, r *detect.Request, v *detect.Verdict) error {
	e.evaluate(ctx, r, v, true)
	return nil
}

// Check evaluates one (address, user agent) pair synchronously and returns
// the verdict this engine alone gives it (eval and replay tooling).
func (e *Engine) Check(ctx context.Context, ip netip.Addr, ua string) *detect.Verdict {
	r := &detect.Request{ClientIP: ip, Headers: detect.Headers{"user-agent": ua}}
	v := &detect.Verdict{}
	e.evaluate(ctx, r, v, true)
	v.Finalize()
	return v
}

func (e *Engine) evaluate(ctx context.Context, r *detect.Request, v *detect.Verdict, sync bool) {
	ua := r.UserAgent()
	if ua == "" {
		return
	}
	m := e.tokens.scan(ua)
	if m.ai >= 0 {
		markAI(v, e.ai.Agents[m.ai].Category)
	}
	if m.bots == 0 {
		return
	}
	ip := r.ClientIP.WithZone("").Unmap()
	rt := e.table.Load()
	if in := m.bots & rt.lookup(ip); in != 0 {
		e.verify(v, bits.TrailingZeros64(in), IDVerifiedRanges)
		return
	}
	if !judgeable(ip) {
		// No address, or one that is never a crawler's (private, loopback,
		// carrier NAT): the client address is unknown or mis-derived, so
		// neither verify nor call anyone a spoof.
		e.tagEach(v, m.bots, "unverified-")
		return
	}
	var dns dnsResult
	if e.dns != nil && e.needsDNS(m.bots) {
		if sync {
			dns = e.dns.lookupSync(ctx, ip)
		} else {
			dns = e.dns.lookup(ip)
		}
	}
	if dns.state == dnsDone {
		for set := m.bots; set != 0; set &= set - 1 {
			i := bits.TrailingZeros64(set)
			if dns.confirms(e.bots[i].RDNS) {
				e.verify(v, i, IDVerifiedFCrDNS)
				return
			}
		}
	}
	for set := m.bots; set != 0; set &= set - 1 {
		i := bits.TrailingZeros64(set)
		b := e.bots[i]
		switch {
		case len(b.RDNS) == 0 && rt.perBot[i] > 0:
			e.spoofed(v, b, IDSpoofedRanges)
		case len(b.RDNS) > 0 && e.dns != nil && dns.state == dnsDone:
			e.spoofed(v, b, IDSpoofedFCrDNS)
		default:
			// DNS pending, failed transiently, disabled, or no ranges loaded.
			e.m.verdicts.WithLabelValues("unverified").Inc()
			v.AddTags("unverified-" + b.ID)
		}
	}
}

// verify records bot i as verified. A verified bot is automated for certain:
// when nothing has scored yet it gets score 1 with source verified_bot (as
// Cloudflare scores verified bots); a score 1 from heuristics keeps its source
// and gains the detection ID; a score already computed between 2 and 99 (an
// engine ordered before this one) is kept.
func (e *Engine) verify(v *detect.Verdict, i int, id int) {
	b := e.bots[i]
	v.MarkVerified(b.ID, b.Category)
	if v.Score <= detect.ScoreAutomated {
		v.Automated(detect.SourceVerifiedBot, id)
	}
	if e.cfg.AI && isAICategory(b.Category) {
		markAI(v, b.Category)
	}
	e.m.verdicts.WithLabelValues("verified").Inc()
}

// spoofed records a disproven claim: score 1 from heuristics (a static rule,
// not a verification) with the detection ID and spoofed-<bot>.
func (e *Engine) spoofed(v *detect.Verdict, b Bot, id int) {
	v.Automated(detect.SourceHeuristics, id, "spoofed-"+b.ID)
	e.m.verdicts.WithLabelValues("spoofed").Inc()
}

func (e *Engine) tagEach(v *detect.Verdict, set uint64, prefix string) {
	for ; set != 0; set &= set - 1 {
		v.AddTags(prefix + e.bots[bits.TrailingZeros64(set)].ID)
		e.m.verdicts.WithLabelValues("unverified").Inc()
	}
}

func (e *Engine) needsDNS(set uint64) bool {
	for ; set != 0; set &= set - 1 {
		if len(e.bots[bits.TrailingZeros64(set)].RDNS) > 0 {
			return true
		}
	}
	return false
}

func markAI(v *detect.Verdict, category string) {
	v.AI = true
	if v.AICategory == "" {
		v.AICategory = category
	}
	v.AddTags(AITag(category))
}

func isAICategory(c string) bool { return c == AICrawler || c == AISearch || c == AIAssistant }

var carrierNAT = netip.MustParsePrefix("100.64.0.0/10")

// judgeable reports whether ip can belong to a crawler on the Internet.
func judgeable(ip netip.Addr) bool {
	return ip.IsValid() && ip.IsGlobalUnicast() && !ip.IsPrivate() && !carrierNAT.Contains(ip)
}

// Bots returns the active bot catalogue (built-in minus disabled plus
// configured).
func (e *Engine) Bots() []Bot { return slices.Clone(e.bots) }

// Ranges returns the prefixes bot id is verified from, as loaded (embedded
// snapshot overlaid with the ranges file, plus configured prefixes).
func (e *Engine) Ranges(id string) []netip.Prefix {
	rt := e.table.Load()
	for _, b := range e.bots {
		if b.ID != id {
			continue
		}
		var out []netip.Prefix
		for _, s := range b.Sets {
			out = append(out, rt.snap.Prefixes(s)...)
		}
		for _, s := range b.Prefixes {
			if p, err := netip.ParsePrefix(s); err == nil {
				out = append(out, p.Masked())
			}
		}
		return out
	}
	return nil
}

// AICatalogue returns the catalogue in use.
func (e *Engine) AICatalogue() *AICatalogue { return e.ai }
