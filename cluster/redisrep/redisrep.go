// Package redisrep shares the analysis's reputation verdicts between
// replicas through Redis. Every replica keeps the whole set in its local
// bigcache (the near cache), so a Check reads memory only and never waits
// for the network: a verdict written by any replica is stored in Redis and
// pushed to the others over Redis pub/sub, and a replica that (re)connects
// loads what it missed with one SCAN of the verdict keys. When Redis is
// away the replica keeps answering from what it has, and counts the
// lookups made while it may be behind.
package redisrep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/botwarden/botwarden/internal/promreg"
)

// Options configures a Store.
type Options struct {
	// Prefix starts every Redis key and the pub/sub channel name, so
	// several deployments can share one Redis.
	Prefix string
	// WriteTimeout bounds a verdict's write to Redis (the analysis path).
	WriteTimeout time.Duration
	// PingInterval is how often the connection is checked; a failed ping
	// marks the near cache as possibly behind until the next resync.
	PingInterval time.Duration
	Logger       zerolog.Logger
	Registerer   prometheus.Registerer
}

// Store is a reputation.Store: reads from the near cache, writes through to
// Redis and to every other replica's near cache.
type Store struct {
	near    *reputation.Local
	client  redis.UniversalClient
	opt     Options
	channel string
	origin  string

	// synced is true while the subscription is live and the last resync
	// finished: the near cache then holds everything Redis holds.
	synced  atomic.Bool
	resyncC chan struct{}
	m       metrics
}

type metrics struct {
	hit, miss, stale          prometheus.Counter
	pushApplied, pushSelf     prometheus.Counter
	pushBad                   prometheus.Counter
	writeErr, pingErr, resErr prometheus.Counter
	resyncs                   prometheus.Counter
	resynced                  prometheus.Counter
}

var _ reputation.Store = (*Store)(nil)

// New returns a store over near (which it fills) and client. Call Run to
// start the subscription; until it has synced, lookups count as stale.
func New(near *reputation.Local, client redis.UniversalClient, opt Options) (*Store, error) {
	if near == nil || client == nil {
		return nil, errors.New("redisrep: nil near cache or client")
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 250 * time.Millisecond
	}
	if opt.PingInterval <= 0 {
		opt.PingInterval = time.Second
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	s := &Store{
		near: near, client: client, opt: opt,
		channel: opt.Prefix + "verdicts",
		origin:  hex.EncodeToString(id[:]),
		resyncC: make(chan struct{}, 1),
	}
	if err := s.m.register(opt.Registerer); err != nil {
		return nil, err
	}
	return s, nil
}

func (m *metrics) register(reg prometheus.Registerer) error {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_cluster_reputation_lookups_total",
		Help: "Reputation lookups on the near cache by result: hit, miss; stale counts lookups (of either result) made while the near cache may be behind Redis (disconnected or resyncing)."},
		[]string{"result"})
	push := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_cluster_reputation_push_total",
		Help: "Verdict pushes received over Redis pub/sub: applied, self (this replica's own echo), bad (did not decode; skipped)."},
		[]string{"result"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_cluster_redis_errors_total",
		Help: "Redis operations that failed, by operation."}, []string{"op"})
	resyncs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_cluster_reputation_resyncs_total",
		Help: "Near-cache resyncs from Redis (after a (re)connect) by result: done, verdicts (loaded)."}, []string{"result"})
	var err error
	if lookups, err = promreg.Register(reg, lookups); err != nil {
		return err
	}
	if push, err = promreg.Register(reg, push); err != nil {
		return err
	}
	if errs, err = promreg.Register(reg, errs); err != nil {
		return err
	}
	if resyncs, err = promreg.Register(reg, resyncs); err != nil {
		return err
	}
	m.hit, m.miss, m.stale = lookups.WithLabelValues("hit"), lookups.WithLabelValues("miss"), lookups.WithLabelValues("stale")
	m.pushApplied, m.pushSelf, m.pushBad = push.WithLabelValues("applied"), push.WithLabelValues("self"), push.WithLabelValues("bad")
	m.writeErr, m.pingErr, m.resErr = errs.WithLabelValues("verdict_write"), errs.WithLabelValues("ping"), errs.WithLabelValues("resync")
	m.resyncs, m.resynced = resyncs.WithLabelValues("done"), resyncs.WithLabelValues("verdicts")
	return nil
}

// Synced reports whether the near cache holds everything Redis holds (the
// subscription is live and the last resync finished).
func (s *Store) Synced() bool { return s.synced.Load() }

// Get implements reputation.Store from the near cache only.
func (s *Store) Get(ctx context.Context, keys []string, dst []Verdict) ([]Verdict, error) {
	n := len(dst)
	dst, err := s.near.Get(ctx, keys, dst)
	if len(dst) > n {
		s.m.hit.Inc()
	} else {
		s.m.miss.Inc()
	}
	if !s.synced.Load() {
		s.m.stale.Inc()
	}
	return dst, err
}

// HasFeedback implements reputation.FeedbackIndex from the near cache,
// which holds every verdict any replica wrote (feedback ones included).
func (s *Store) HasFeedback(clientKey string) bool { return s.near.HasFeedback(clientKey) }

// Verdict is reputation.Verdict (for the Store signature).
type Verdict = reputation.Verdict

// Put implements reputation.Store: the near cache first (this replica
// enforces at once, whatever Redis does), then Redis and the push to the
// other replicas in one round trip. A Redis failure is returned (the
// analysis counts it) but the local verdict stands.
func (s *Store) Put(ctx context.Context, v Verdict) error {
	if err := s.near.Put(ctx, v); err != nil {
		return err
	}
	rec := appendRecord(nil, v)
	push := appendPush(nil, s.origin, v)
	ctx, cancel := context.WithTimeout(ctx, s.opt.WriteTimeout)
	defer cancel()
	key := redisKey(s.opt.Prefix, v.Key)
	ttl := time.Until(v.Expiry)
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		if ttl < time.Millisecond {
			p.Del(ctx, key)
		} else {
			p.Set(ctx, key, rec, ttl)
		}
		p.Publish(ctx, s.channel, push)
		return nil
	})
	if err != nil {
		s.m.writeErr.Inc()
		return fmt.Errorf("redisrep: write %q: %w", v.Key, err)
	}
	return nil
}

// Run keeps the near cache in step with Redis until ctx is done: it
// applies pushes, resyncs after every (re)subscription, and pings to notice
// a silent outage.
func (s *Store) Run(ctx context.Context) error {
	ps := s.client.Subscribe(ctx, s.channel)
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(s.opt.PingInterval), redis.WithChannelSize(4096))
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.resyncLoop(ctx) })
	wg.Go(func() { s.pingLoop(ctx) })
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-ch:
			if !ok {
				return nil
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				// A (re)subscription: what was published while we were
				// away is only in Redis now.
				s.synced.Store(false)
				s.triggerResync()
			case *redis.Message:
				s.apply(ctx, m.Payload)
			}
		}
	}
}

func (s *Store) apply(ctx context.Context, payload string) {
	origin, v, err := decodePush([]byte(payload))
	switch {
	case err != nil:
		s.m.pushBad.Inc()
		s.opt.Logger.Debug().Err(err).Msg("redisrep: undecodable push skipped")
	case origin == s.origin:
		s.m.pushSelf.Inc()
	default:
		if err := s.near.Put(ctx, v); err != nil {
			s.m.pushBad.Inc()
			return
		}
		s.m.pushApplied.Inc()
	}
}

func (s *Store) triggerResync() {
	select {
	case s.resyncC <- struct{}{}:
	default:
	}
}

// pingLoop marks the near cache as possibly behind when Redis stops
// answering, and asks for a resync when it answers again: the subscription
// may have survived a short outage without a reconnect, but writes made
// meanwhile by a replica that could not reach Redis were never pushed.
func (s *Store) pingLoop(ctx context.Context) {
	t := time.NewTicker(s.opt.PingInterval)
	defer t.Stop()
	down := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.opt.PingInterval/2)
		err := s.client.Ping(pctx).Err()
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.m.pingErr.Inc()
			s.synced.Store(false)
			down = true
			continue
		}
		if down {
			down = false
			s.triggerResync()
		}
	}
}

func (s *Store) resyncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.resyncC:
		}
		for ctx.Err() == nil {
			n, err := s.resync(ctx)
			if err == nil {
				s.synced.Store(true)
				s.m.resyncs.Inc()
				s.m.resynced.Add(float64(n))
				s.opt.Logger.Info().Int("verdicts", n).Msg("redisrep: near cache resynced from Redis")
				break
			}
			s.m.resErr.Inc()
			s.opt.Logger.Warn().Err(err).Msg("redisrep: resync failed; retrying")
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.opt.PingInterval):
			}
		}
	}
}

// resync loads every verdict in Redis into the near cache.
func (s *Store) resync(ctx context.Context) (int, error) {
	var cursor uint64
	n := 0
	for {
		keys, next, err := s.client.Scan(ctx, cursor, s.opt.Prefix+"v*", 1000).Result()
		if err != nil {
			return n, fmt.Errorf("scan: %w", err)
		}
		if len(keys) > 0 {
			vals, err := s.client.MGet(ctx, keys...).Result()
			if err != nil {
				return n, fmt.Errorf("mget: %w", err)
			}
			for _, raw := range vals {
				str, ok := raw.(string)
				if !ok {
					continue // expired between SCAN and MGET
				}
				v, err := decodeRecord([]byte(str))
				if err != nil {
					s.m.pushBad.Inc()
					continue
				}
				if s.near.Put(ctx, v) == nil {
					n++
				}
			}
		}
		if cursor = next; cursor == 0 {
			return n, nil
		}
	}
}
