package reputation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/allegro/bigcache/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// LocalConfig configures the embedded in-process store.
type LocalConfig struct {
	// MaxTTL is the longest a verdict can live (bigcache's life window);
	// longer expiries are cut to it.
	MaxTTL time.Duration `yaml:"max_ttl"`
	// MaxEntries sizes the cache up front (no reallocation below it).
	MaxEntries int `yaml:"max_entries"`
	// MaxSizeMB caps the cache's memory; the oldest verdicts are evicted
	// first when it is reached. 0 = unbounded.
	MaxSizeMB int `yaml:"max_size_mb"`
	// Shards is bigcache's shard count (a power of two).
	Shards int `yaml:"shards"`
}

// DefaultLocalConfig returns the defaults: 1 h max TTL, 1M entries, 256 MB.
func DefaultLocalConfig() LocalConfig {
	return LocalConfig{MaxTTL: time.Hour, MaxEntries: 1 << 20, MaxSizeMB: 256, Shards: 256}
}

// Validate reports every invalid field by its name.
func (c LocalConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.MaxTTL < time.Second {
		bad("max_ttl: must be at least 1s, got %s", c.MaxTTL)
	}
	if c.MaxEntries < 1 {
		bad("max_entries: must be positive, got %d", c.MaxEntries)
	}
	if c.MaxSizeMB < 0 {
		bad("max_size_mb: must not be negative, got %d", c.MaxSizeMB)
	}
	if c.Shards < 1 || c.Shards&(c.Shards-1) != 0 {
		bad("shards: must be a power of two, got %d", c.Shards)
	}
	return errors.Join(errs...)
}

// Local is the embedded Store: a bigcache of compactly encoded verdicts.
// bigcache keeps entries in large byte slices, so millions of verdicts cost
// the garbage collector nothing.
type Local struct {
	cache  *bigcache.BigCache
	once   sync.Once
	closed chan struct{}
	maxTTL time.Duration
	now    func() time.Time
	puts   prometheus.Counter
	hits   prometheus.Counter

	// feedback indexes the client keys that have an operator's verdict
	// under KeyFeedback, with its expiry (see HasFeedback). Operators
	// file few reports and the engine asks on every Check, so it is a
	// copy-on-write map, read without a lock; nil when empty.
	feedback   atomic.Pointer[map[string]time.Time]
	feedbackMu sync.Mutex
}

// NewLocal builds the store. Its cleanup goroutine stops when ctx is done or
// Close is called (use one or the other; after either the store must not
// be used). now is the clock (nil: time.Now), injectable for replay.
func NewLocal(ctx context.Context, cfg LocalConfig, log zerolog.Logger, reg prometheus.Registerer, now func() time.Time) (*Local, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("reputation: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	bc := bigcache.DefaultConfig(cfg.MaxTTL)
	bc.Shards = cfg.Shards
	bc.MaxEntriesInWindow = cfg.MaxEntries
	bc.MaxEntrySize = 64
	bc.HardMaxCacheSize = cfg.MaxSizeMB
	bc.CleanWindow = max(cfg.MaxTTL/10, time.Second)
	bc.Verbose = false
	bc.Logger = log0{}
	// bigcache prints to stdout when its context ends; stopping it through
	// Close instead keeps it quiet.
	cache, err := bigcache.New(context.Background(), bc)
	if err != nil {
		return nil, fmt.Errorf("reputation: bigcache: %w", err)
	}
	l := &Local{
		cache: cache, closed: make(chan struct{}), maxTTL: cfg.MaxTTL, now: now,
		puts: prometheus.NewCounter(prometheus.CounterOpts{Name: "botwarden_reputation_puts_total", Help: "Verdicts written to the local reputation store."}),
		hits: prometheus.NewCounter(prometheus.CounterOpts{Name: "botwarden_reputation_hits_total", Help: "Local reputation lookups that found an unexpired verdict."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{l.puts, l.hits} {
			if err := reg.Register(c); err != nil {
				log.Warn().Err(err).Msg("reputation: metric not registered")
			}
		}
		_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "botwarden_reputation_entries", Help: "Verdicts in the local reputation store (expired ones until cleanup)."},
			func() float64 { return float64(cache.Len()) }))
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = l.Close()
		case <-l.closed:
		}
	}()
	return l, nil
}

// log0 discards bigcache's log lines.
type log0 struct{}

func (log0) Printf(string, ...any) {}

// Close stops the cleanup goroutine and frees the cache. It may be called
// more than once (and is called when NewLocal's context ends).
func (l *Local) Close() error {
	var err error
	l.once.Do(func() {
		close(l.closed)
		err = l.cache.Close()
	})
	return err
}

// Get implements Store. Corrupt records are skipped (and would be replaced
// by the next Put).
func (l *Local) Get(_ context.Context, keys []string, dst []Verdict) ([]Verdict, error) {
	var now time.Time
	for _, k := range keys {
		if k == "" {
			continue
		}
		b, err := l.cache.Get(k)
		if err != nil {
			continue // bigcache.ErrEntryNotFound: the common case
		}
		v, err := DecodeVerdict(k, b)
		if err != nil {
			continue
		}
		if now.IsZero() {
			now = l.now()
		}
		if v.Expired(now) {
			continue
		}
		l.hits.Inc()
		dst = append(dst, v)
	}
	return dst, nil
}

// HasFeedback implements FeedbackIndex: whether client key k (ip:…,
// net:…, session:…, ja4:…) may have an unexpired verdict under
// KeyFeedback(k). An atomic load when no report is live.
func (l *Local) HasFeedback(k string) bool {
	m := l.feedback.Load()
	if m == nil {
		return false
	}
	e, ok := (*m)[k]
	return ok && e.After(l.now())
}

// indexFeedback records (or, with an expiry not after now, forgets) the
// feedback verdict about client key k, dropping expired entries.
func (l *Local) indexFeedback(k string, expiry, now time.Time) {
	l.feedbackMu.Lock()
	defer l.feedbackMu.Unlock()
	m := map[string]time.Time{}
	if old := l.feedback.Load(); old != nil {
		for key, e := range *old {
			if e.After(now) {
				m[key] = e
			}
		}
	}
	if expiry.After(now) {
		m[k] = expiry
	} else {
		delete(m, k)
	}
	if len(m) == 0 {
		l.feedback.Store(nil)
		return
	}
	l.feedback.Store(&m)
}

// Put implements Store. An already expired verdict deletes the key.
func (l *Local) Put(_ context.Context, v Verdict) error {
	if v.Key == "" {
		return errors.New("reputation: verdict without key")
	}
	now := l.now()
	if client, ok := strings.CutPrefix(v.Key, PrefixFeedback); ok {
		// Indexed after the write below (a reader that sees the index
		// finds the verdict), with the expiry the cache will keep.
		defer func() {
			exp := v.Expiry
			if limit := now.Add(l.maxTTL); exp.After(limit) {
				exp = limit
			}
			l.indexFeedback(client, exp, now)
		}()
	}
	if v.Expired(now) {
		if err := l.cache.Delete(v.Key); err != nil && !errors.Is(err, bigcache.ErrEntryNotFound) {
			return fmt.Errorf("reputation: delete %q: %w", v.Key, err)
		}
		return nil
	}
	if v.Expiry.Sub(now) > l.maxTTL {
		v.Expiry = now.Add(l.maxTTL)
	}
	var buf [128]byte
	if err := l.cache.Set(v.Key, v.AppendBinary(buf[:0])); err != nil {
		return fmt.Errorf("reputation: set %q: %w", v.Key, err)
	}
	l.puts.Inc()
	return nil
}
