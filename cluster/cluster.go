// Package cluster turns several botwarden replicas into one: it holds the
// `cluster:` configuration and the connections to Redis and NATS JetStream,
// and builds from them the shared parts the server wires in place of the
// in-process ones — the reputation store (redisrep), the rate limiter
// (redislimit), the challenge replay store (challenge.Redis) and the
// partitioned analysis (eventbus). With both addresses empty nothing here
// runs and botwarden is the single process it always was.
//
// Every shared part answers from local state when its backend is away and
// counts it; /readyz reports the connections (Ready).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/accesslog"
	"github.com/botwarden/botwarden/cluster/eventbus"
	"github.com/botwarden/botwarden/cluster/redislimit"
	"github.com/botwarden/botwarden/cluster/redisrep"
	"github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/detect/challenge"
	"github.com/botwarden/botwarden/detect/ratelimit"
	"github.com/botwarden/botwarden/detect/reputation"
)

// Cluster holds the connections. Build the parts, then Run.
type Cluster struct {
	cfg   Config
	log   zerolog.Logger
	reg   prometheus.Registerer
	redis redis.UniversalClient
	nc    *nats.Conn
	js    jetstream.JetStream

	redisUp atomic.Bool
	busUp   atomic.Bool // stream and group set up
	runners []func(ctx context.Context) error
}

// Open connects (lazily: a backend that is down at start is retried in the
// background, the replica serves from local state meanwhile).
func Open(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c := &Cluster{cfg: cfg, log: log, reg: reg}
	if cfg.RedisAddr != "" {
		// go-redis prints every failed dial; the outage is already
		// counted and logged once by the parts that notice it.
		redis.SetLogger(redisLog{log})
		c.redis = redis.NewClient(&redis.Options{
			Addr: cfg.RedisAddr, Password: cfg.RedisPassword, DB: cfg.RedisDB,
			// The caller's deadline is the budget: go-redis only
			// honours it with ContextTimeoutEnabled.
			ContextTimeoutEnabled: true,
			DialTimeout:           500 * time.Millisecond,
			ReadTimeout:           time.Second, WriteTimeout: time.Second,
			MaxRetries: -1, // a retry would exceed the budget; the callers fall back
			PoolSize:   64, MinIdleConns: 4,
		})
	}
	if cfg.NATSURL != "" {
		nc, err := nats.Connect(cfg.NATSURL,
			nats.Name("botwarden"),
			nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
			nats.ReconnectWait(250*time.Millisecond), nats.ReconnectJitter(100*time.Millisecond, time.Second),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				log.Warn().Err(err).Msg("cluster: NATS disconnected; events buffered")
			}),
			nats.ReconnectHandler(func(*nats.Conn) { log.Info().Msg("cluster: NATS reconnected") }))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("cluster: nats_url: %w", err)
		}
		c.nc = nc
		if c.js, err = jetstream.New(nc); err != nil {
			c.Close()
			return nil, fmt.Errorf("cluster: jetstream: %w", err)
		}
	}
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "botwarden_cluster_connected",
		Help: "Whether the cluster backend answers (1) or not (0), by backend; absent when not configured."}, []string{"backend"})
	if reg != nil {
		if err := reg.Register(up); err != nil {
			c.Close()
			return nil, fmt.Errorf("cluster: metrics: %w", err)
		}
	}
	c.runners = append(c.runners, func(ctx context.Context) error {
		c.monitor(ctx, up)
		return nil
	})
	return c, nil
}

// Redis reports whether Redis is configured.
func (c *Cluster) Redis() bool { return c.redis != nil }

// NATS reports whether NATS is configured.
func (c *Cluster) NATS() bool { return c.nc != nil }

// Store returns the shared reputation store over near, or near itself
// without Redis.
func (c *Cluster) Store(near *reputation.Local) (reputation.Store, error) {
	if c.redis == nil {
		return near, nil
	}
	s, err := redisrep.New(near, c.redis, redisrep.Options{
		Prefix: c.cfg.KeyPrefix, WriteTimeout: c.cfg.WriteTimeout,
		Logger: c.log.With().Str("part", "reputation").Logger(), Registerer: c.reg,
	})
	if err != nil {
		return nil, err
	}
	c.runners = append(c.runners, s.Run)
	return s, nil
}

// Limiter returns the shared rate limiter falling back to local, or local
// without Redis.
func (c *Cluster) Limiter(local ratelimit.Limiter) (ratelimit.Limiter, error) {
	if c.redis == nil {
		return local, nil
	}
	return redislimit.New(c.redis, local, redislimit.Options{Prefix: c.cfg.KeyPrefix, Timeout: c.cfg.Timeout, Registerer: c.reg})
}

// Replay returns the shared challenge replay store, or nil (the challenge
// keeps its in-process one) without Redis.
func (c *Cluster) Replay() challenge.ReplayStore {
	if c.redis == nil {
		return nil
	}
	return challenge.NewRedis(c.redis, c.cfg.KeyPrefix+"replay:", c.cfg.WriteTimeout)
}

// Analysis wires the partitioned analysis: it returns the sink the
// access-log receiver should feed (the publisher) and starts consuming
// this replica's partitions into an. Without NATS it returns an itself.
func (c *Cluster) Analysis(an *behavior.Engine, keys behavior.KeysConfig) (accesslog.Sink, error) {
	if c.nc == nil {
		return an, nil
	}
	bus := c.cfg.bus()
	pub, err := eventbus.NewPublisher(bus, c.nc, keys, c.cfg.PublishBuffer, c.log.With().Str("part", "publisher").Logger(), c.reg)
	if err != nil {
		return nil, err
	}
	cons, err := eventbus.NewConsumer(bus, c.js, an, c.log.With().Str("part", "consumer").Logger(), c.reg)
	if err != nil {
		return nil, err
	}
	c.runners = append(c.runners, pub.Run, func(ctx context.Context) error {
		if !c.setupBus(ctx) {
			return nil
		}
		return cons.Run(ctx)
	})
	return pub, nil
}

// setupBus creates the stream and group, retrying while NATS is away.
func (c *Cluster) setupBus(ctx context.Context) bool {
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := eventbus.Setup(sctx, c.js, c.cfg.bus())
		cancel()
		if err == nil {
			c.busUp.Store(true)
			return true
		}
		c.log.Warn().Err(err).Msg("cluster: event stream setup failed; retrying")
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

// Run runs the background parts (subscriptions, consumers, publisher)
// until ctx is done.
func (c *Cluster) Run(ctx context.Context) {
	done := make(chan struct{}, len(c.runners))
	for _, r := range c.runners {
		go func() {
			if err := r(ctx); err != nil && ctx.Err() == nil {
				c.log.Error().Err(err).Msg("cluster: background part stopped")
			}
			done <- struct{}{}
		}()
	}
	for range c.runners {
		<-done
	}
}

// monitor keeps the connection gauges and the Redis state /readyz reads.
func (c *Cluster) monitor(ctx context.Context, up *prometheus.GaugeVec) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if c.redis != nil {
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			ok := c.redis.Ping(pctx).Err() == nil
			cancel()
			c.redisUp.Store(ok)
			up.WithLabelValues("redis").Set(b2f(ok))
		}
		if c.nc != nil {
			up.WithLabelValues("nats").Set(b2f(c.nc.IsConnected()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// redisLog sends go-redis's own messages to the debug log.
type redisLog struct{ log zerolog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug().Msgf("redis: "+format, v...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Ready says whether this replica should receive traffic, and what is
// degraded: with readiness fail, a configured backend that is away makes
// it not ready; with degrade it stays ready and says so.
func (c *Cluster) Ready() (ready bool, detail string) {
	var down []string
	if c.redis != nil && !c.redisUp.Load() {
		down = append(down, "redis")
	}
	if c.nc != nil && (!c.nc.IsConnected() || !c.busUp.Load()) {
		down = append(down, "nats")
	}
	if len(down) == 0 {
		return true, ""
	}
	detail = "cluster degraded: " + strings.Join(down, ", ") + " unreachable; serving from local state"
	return c.cfg.Readiness != ReadinessFail, detail
}

// Close closes the connections.
func (c *Cluster) Close() error {
	var errs []error
	if c.redis != nil {
		errs = append(errs, c.redis.Close())
	}
	if c.nc != nil {
		c.nc.Close()
	}
	return errors.Join(errs...)
}
