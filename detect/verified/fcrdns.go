package verified

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/botwarden/botwarden/internal/promreg"
)

// Resolver is the part of *net.Resolver forward-confirmed reverse DNS needs.
// Tests inject their own; production uses net.Resolver (optionally pointed
// at a configured server).
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// dnsState is what is known about one address.
type dnsState uint8

const (
	dnsUnknown dnsState = iota // never looked up, or the queue was full
	dnsPending                 // queued or being resolved
	dnsDone                    // resolved: hosts holds the confirmed names (maybe none)
	dnsError                   // the resolver failed (timeout, SERVFAIL): no verdict
)

// dnsResult is a cached answer: the PTR names of the address that are under
// a known bot domain and resolve forward to the address again.
type dnsResult struct {
	state dnsState
	hosts []string
}

// confirms reports whether one of the confirmed names is in a domain.
func (r dnsResult) confirms(domains []string) bool {
	for _, h := range r.hosts {
		if inDomains(h, domains) {
			return true
		}
	}
	return false
}

func inDomains(host string, domains []string) bool {
	for _, d := range domains {
		if host == d || strings.HasSuffix(host, "."+d) && len(host) > len(d)+1 {
			return true
		}
	}
	return false
}

// maxPTRNames bounds how many PTR names of one address are forward-checked.
const maxPTRNames = 8

// fcrdns verifies addresses by forward-confirmed reverse DNS in the
// background: the hot path only reads the cache and enqueues; a bounded pool
// of workers resolves; results are cached with separate lifetimes for
// confirmed names, definite failures and resolver errors.
type fcrdns struct {
	res     Resolver
	domains []string // every bot's rdns domains: PTR names outside them are not forward-checked
	cfg     DNSConfig
	now     func() time.Time
	m       *metrics

	mu      sync.Mutex
	cache   *simplelru.LRU[netip.Addr, cachedResult] // unlocked LRU: mu guards it
	pending map[netip.Addr]struct{}

	queue       chan netip.Addr
	ctx         context.Context // cancelled by stop: aborts in-flight lookups
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	startMu     sync.Mutex
	started     bool
	stopped     bool
	outstanding int // queued or running lookups (under mu), for settle
}

// cachedResult is a cached answer with its own expiry: confirmed names,
// definite failures and resolver errors live for different lifetimes.
type cachedResult struct {
	r   dnsResult
	exp time.Time
}

func newFCrDNS(res Resolver, domains []string, cfg DNSConfig, now func() time.Time, m *metrics) (*fcrdns, error) {
	cache, err := simplelru.NewLRU[netip.Addr, cachedResult](cfg.CacheSize, nil)
	if err != nil {
		return nil, fmt.Errorf("verified.dns.cache_size: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &fcrdns{
		res: res, domains: domains, cfg: cfg, now: now, m: m,
		cache:   cache,
		pending: map[netip.Addr]struct{}{},
		queue:   make(chan netip.Addr, cfg.QueueSize),
		ctx:     ctx, cancel: cancel,
	}, nil
}

// cached returns the live cached answer for ip; an expired one is removed.
// The caller holds mu.
func (f *fcrdns) cached(ip netip.Addr) (dnsResult, bool) {
	c, ok := f.cache.Get(ip)
	if !ok {
		return dnsResult{}, false
	}
	if !f.now().Before(c.exp) {
		f.cache.Remove(ip)
		return dnsResult{}, false
	}
	return c.r, true
}

// start launches the workers (idempotent; no-op after stop).
func (f *fcrdns) start() {
	f.startMu.Lock()
	defer f.startMu.Unlock()
	if f.started || f.stopped {
		return
	}
	f.started = true
	for range f.cfg.Workers {
		f.wg.Add(1)
		go f.work()
	}
}

// stop cancels in-flight lookups and waits for the workers to exit.
func (f *fcrdns) stop() {
	f.startMu.Lock()
	f.stopped = true
	f.startMu.Unlock()
	f.cancel()
	f.wg.Wait()
}

func (f *fcrdns) work() {
	defer f.wg.Done()
	for {
		select {
		case <-f.ctx.Done():
			return
		case ip := <-f.queue:
			f.resolveAndStore(f.ctx, ip)
			f.mu.Lock()
			f.outstanding--
			f.mu.Unlock()
		}
	}
}

// lookup returns what is known about ip without blocking. An unknown address
// is queued for a background lookup (unless the queue is full).
func (f *fcrdns) lookup(ip netip.Addr) dnsResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.cached(ip); ok {
		f.m.cacheHits.Inc()
		return r
	}
	if _, ok := f.pending[ip]; ok {
		return dnsResult{state: dnsPending}
	}
	select {
	case f.queue <- ip:
		f.pending[ip] = struct{}{}
		f.outstanding++
		f.m.queued.Inc()
		return dnsResult{state: dnsPending}
	default:
		f.m.dropped.Inc()
		return dnsResult{state: dnsUnknown}
	}
}

// lookupSync returns the cached answer for ip or resolves it in the caller's
// goroutine. For offline tools (replay, eval), never for the hot path.
func (f *fcrdns) lookupSync(ctx context.Context, ip netip.Addr) dnsResult {
	f.mu.Lock()
	r, ok := f.cached(ip)
	f.mu.Unlock()
	if ok {
		return r
	}
	return f.resolveAndStore(ctx, ip)
}

// settle waits until every queued lookup has finished (tests, eval). It
// polls: it is never on a request path.
func (f *fcrdns) settle(ctx context.Context) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		f.mu.Lock()
		n := f.outstanding
		f.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (f *fcrdns) resolveAndStore(ctx context.Context, ip netip.Addr) dnsResult {
	start := time.Now()
	r := f.resolve(ctx, ip)
	f.m.lookupSeconds.Observe(time.Since(start).Seconds())
	ttl := f.cfg.PositiveTTL
	switch {
	case r.state == dnsError:
		ttl = f.cfg.ErrorTTL
		f.m.lookups.WithLabelValues("error").Inc()
	case len(r.hosts) == 0:
		ttl = f.cfg.NegativeTTL
		f.m.lookups.WithLabelValues("fail").Inc()
	default:
		f.m.lookups.WithLabelValues("pass").Inc()
	}
	f.mu.Lock()
	delete(f.pending, ip)
	f.cache.Add(ip, cachedResult{r: r, exp: f.now().Add(ttl)})
	f.m.cacheEntries.Set(float64(f.cache.Len()))
	f.mu.Unlock()
	return r
}

// resolve does the forward-confirmed reverse lookup: PTR names of ip, keep
// those under a known bot domain, and keep each whose A/AAAA records include
// ip. A missing PTR or a missing forward record is a definite answer; any
// other resolver failure is an error (cached briefly, never a spoof verdict).
func (f *fcrdns) resolve(ctx context.Context, ip netip.Addr) dnsResult {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	names, err := f.res.LookupAddr(ctx, ip.String())
	if err != nil && !isNotFound(err) && len(names) == 0 {
		return dnsResult{state: dnsError}
	}
	out := dnsResult{state: dnsDone}
	transient := false
	for i, name := range names {
		if i == maxPTRNames {
			break
		}
		host := strings.ToLower(strings.TrimSuffix(name, "."))
		if !inDomains(host, f.domains) {
			continue
		}
		addrs, err := f.res.LookupNetIP(ctx, "ip", host)
		if err != nil {
			if !isNotFound(err) {
				transient = true
			}
			continue
		}
		for _, a := range addrs {
			if a.Unmap() == ip {
				out.hosts = append(out.hosts, host)
				break
			}
		}
	}
	if len(out.hosts) == 0 && transient {
		return dnsResult{state: dnsError}
	}
	return out
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// metrics are the verifier's Prometheus collectors.
type metrics struct {
	lookups       *prometheus.CounterVec
	lookupSeconds prometheus.Histogram
	queued        prometheus.Counter
	dropped       prometheus.Counter
	cacheHits     prometheus.Counter
	cacheEntries  prometheus.Gauge
	verdicts      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "botwarden_verified_dns_lookups_total",
			Help: "Forward-confirmed reverse DNS lookups by result (pass, fail, error).",
		}, []string{"result"}),
		lookupSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "botwarden_verified_dns_lookup_seconds",
			Help:    "Duration of one forward-confirmed reverse DNS lookup.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		queued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "botwarden_verified_dns_queued_total",
			Help: "Addresses queued for a background reverse DNS lookup.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "botwarden_verified_dns_dropped_total",
			Help: "Lookups not queued because the queue was full (the request stayed unverified).",
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "botwarden_verified_dns_cache_hits_total",
			Help: "Reverse DNS answers served from the cache.",
		}),
		cacheEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "botwarden_verified_dns_cache_entries",
			Help: "Addresses in the reverse DNS cache.",
		}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "botwarden_verified_claims_total",
			Help: "Requests whose user agent claims a known bot, by outcome (verified, spoofed, unverified).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		m.lookups = promreg.MustRegister(reg, m.lookups)
		m.lookupSeconds = promreg.MustRegister(reg, m.lookupSeconds)
		m.queued = promreg.MustRegister(reg, m.queued)
		m.dropped = promreg.MustRegister(reg, m.dropped)
		m.cacheHits = promreg.MustRegister(reg, m.cacheHits)
		m.cacheEntries = promreg.MustRegister(reg, m.cacheEntries)
		m.verdicts = promreg.MustRegister(reg, m.verdicts)
	}
	return m
}
