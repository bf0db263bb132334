package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/botwarden/botwarden/internal/promreg"
	"github.com/rs/zerolog"
)

// Config configures the in-process limiter.
type Config struct {
	// MaxKeys bounds the number of buckets held in memory (about 100 bytes
	// each plus the key). Past it the least recently used bucket is dropped,
	// which forgives that key: a bound on memory, never on correctness for
	// keys that are still active.
	MaxKeys int `yaml:"max_keys"`
	// Shards spreads keys over this many independently locked maps so that
	// concurrent checks rarely contend. Rounded up to a power of two.
	Shards int `yaml:"shards"`
	// SweepInterval is how often Run drops buckets that have refilled
	// completely (a full bucket is the same as no bucket).
	SweepInterval time.Duration `yaml:"sweep_interval"`
}

// DefaultConfig returns the defaults: 262,144 keys (~40 MiB worst case), 64
// shards, a sweep every minute.
func DefaultConfig() Config {
	return Config{MaxKeys: 1 << 18, Shards: 64, SweepInterval: time.Minute}
}

// Validate reports configuration errors, naming the field.
func (c Config) Validate() error {
	var errs []error
	if c.Shards < 1 || c.Shards > 4096 {
		errs = append(errs, fmt.Errorf("shards: must be in [1, 4096], got %d", c.Shards))
	}
	if c.MaxKeys < c.Shards {
		errs = append(errs, fmt.Errorf("max_keys: must be at least shards (%d), got %d", c.Shards, c.MaxKeys))
	}
	if c.SweepInterval < time.Second {
		errs = append(errs, fmt.Errorf("sweep_interval: must be at least 1s, got %s", c.SweepInterval))
	}
	return errors.Join(errs...)
}

// Local is an in-process token-bucket limiter.
//
// Each bucket is stored as one timestamp, the instant at which it will be
// full again (the GCRA formulation of a token bucket): with refill interval
// T = Period/Rate and capacity B, the bucket holds B - (full-now)/T tokens.
// Taking a token moves full forward by T; a bucket whose full time has
// passed holds B tokens and can be forgotten. This keeps a bucket at one
// int64, needs no floating point and no background refill.
// golang.org/x/time/rate is not used: its Limiter is 80 bytes per key (a
// mutex, a fixed limit, float tokens, two time.Time) against the one int64
// here, and the limit here comes with each call under a shared shard lock.
type Local struct {
	shards   []shard
	mask     uint64
	seed     maphash.Seed
	perShard int
	sweep    time.Duration
	log      zerolog.Logger

	evictIdle     prometheus.Counter
	evictCapacity prometheus.Counter
	warnMu        sync.Mutex
	lastWarn      time.Time
}

type shard struct {
	mu sync.Mutex
	m  map[string]*bucket
	// LRU list: head is the most recently used bucket.
	head, tail *bucket
	_          [32]byte // keep shards' hot fields on separate cache lines
}

type bucket struct {
	key        string
	full       int64 // unix nanoseconds at which the bucket is full again
	prev, next *bucket
}

var _ Limiter = (*Local)(nil)

// NewLocal builds the in-process limiter. log and reg may be zero/nil.
func NewLocal(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Local, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ratelimit config: %w", err)
	}
	n := 1 << bits.Len(uint(cfg.Shards-1))
	l := &Local{
		shards:   make([]shard, n),
		mask:     uint64(n - 1),
		seed:     maphash.MakeSeed(),
		perShard: max(1, cfg.MaxKeys/n),
		sweep:    cfg.SweepInterval,
		log:      log,
	}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*bucket)
	}
	evictions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "botwarden_ratelimit_evictions_total",
		Help: "Rate-limit buckets dropped: idle (full again) or capacity (max_keys reached while still in use).",
	}, []string{"reason"})
	keys := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "botwarden_ratelimit_keys",
		Help: "Rate-limit buckets held in memory.",
	}, func() float64 { return float64(l.Len()) })
	if reg != nil {
		var err error
		if evictions, err = promreg.Register(reg, evictions); err != nil {
			return nil, fmt.Errorf("ratelimit: %w", err)
		}
		// The gauge reads this instance; a second limiter on the same
		// registry keeps the first one's gauge rather than failing.
		if err := reg.Register(keys); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return nil, fmt.Errorf("ratelimit metrics: %w", err)
		}
	}
	l.evictIdle = evictions.WithLabelValues("idle")
	l.evictCapacity = evictions.WithLabelValues("capacity")
	return l, nil
}

// Allow takes one token from key's bucket under limit. It never returns an
// error for a valid limit.
func (l *Local) Allow(_ context.Context, key string, limit Limit, now time.Time) (Result, error) {
	if err := limit.Validate(); err != nil {
		return Result{Allowed: true}, fmt.Errorf("ratelimit: invalid limit: %w", err)
	}
	t := now.UnixNano()
	interval := limit.interval()
	span := interval * limit.capacity() // time to refill an empty bucket

	s := &l.shards[maphash.String(l.seed, key)&l.mask]
	s.mu.Lock()
	b, ok := s.m[key]
	if !ok {
		b = l.insert(s, key, t)
	} else {
		s.touch(b)
	}
	full := max(b.full, t)
	next := full + interval
	allowAt := next - span
	var res Result
	if t < allowAt {
		res = Result{RetryAfter: time.Duration(allowAt - t)}
	} else {
		b.full = next
		res = Result{Allowed: true, Remaining: int((t - allowAt) / interval)}
	}
	s.mu.Unlock()
	return res, nil
}

// insert adds a bucket for key, evicting the least recently used one when
// the shard is at capacity. Called with s.mu held.
func (l *Local) insert(s *shard, key string, now int64) *bucket {
	if len(s.m) >= l.perShard && s.tail != nil {
		old := s.tail
		s.unlink(old)
		delete(s.m, old.key)
		if old.full <= now {
			l.evictIdle.Inc()
		} else {
			l.evictCapacity.Inc()
			l.warnCapacity()
		}
	}
	b := &bucket{key: key, full: now}
	s.m[key] = b
	s.pushFront(b)
	return b
}

// warnCapacity logs, at most once a minute, that active buckets are being
// dropped: max_keys is too small for the traffic and limits leak.
func (l *Local) warnCapacity() {
	l.warnMu.Lock()
	defer l.warnMu.Unlock()
	if time.Since(l.lastWarn) < time.Minute {
		return
	}
	l.lastWarn = time.Now()
	l.log.Warn().Int("max_keys", l.perShard*len(l.shards)).
		Msg("rate limiter at capacity: evicting buckets still in use; raise ratelimit max_keys")
}

// Sweep drops every bucket that is full at now; it returns how many.
func (l *Local) Sweep(now time.Time) int {
	t := now.UnixNano()
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for b := s.tail; b != nil; {
			prev := b.prev
			if b.full <= t {
				s.unlink(b)
				delete(s.m, b.key)
				n++
			}
			b = prev
		}
		s.mu.Unlock()
	}
	l.evictIdle.Add(float64(n))
	return n
}

// Run sweeps idle buckets every SweepInterval until ctx is done. Memory is
// bounded without it (by MaxKeys); it returns memory sooner after a burst of
// distinct keys.
func (l *Local) Run(ctx context.Context) error {
	t := time.NewTicker(l.sweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			l.Sweep(now)
		}
	}
}

// Len returns the number of buckets held.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (s *shard) pushFront(b *bucket) {
	b.prev, b.next = nil, s.head
	if s.head != nil {
		s.head.prev = b
	}
	s.head = b
	if s.tail == nil {
		s.tail = b
	}
}

func (s *shard) unlink(b *bucket) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		s.head = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		s.tail = b.prev
	}
	b.prev, b.next = nil, nil
}

func (s *shard) touch(b *bucket) {
	if s.head == b {
		return
	}
	s.unlink(b)
	s.pushFront(b)
}
