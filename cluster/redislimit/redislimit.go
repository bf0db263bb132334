// Package redislimit is a ratelimit.Limiter shared by every replica: a
// GCRA bucket per key in Redis, checked and updated by one Lua script so
// concurrent Checks on different replicas cannot both take the last token.
//
// The bucket is the same one-timestamp GCRA as ratelimit.Local (the instant
// the bucket is full again), kept in microseconds on Redis's own clock so
// replicas with skewed clocks agree. Like envoyproxy/ratelimit, a key Redis
// has said is over its limit is answered locally until its retry time, so a
// client hammering past its limit costs Redis nothing. When Redis fails or
// is slower than the timeout, the local limiter answers (per replica, so a
// limit is N times looser during an outage) and the fallback is counted; a
// circuit breaker then keeps Checks off Redis for a while instead of making
// each of them wait for the timeout.
package redislimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/botwarden/botwarden/detect/ratelimit"
	"github.com/botwarden/botwarden/internal/promreg"
)

// gcra takes one token from the bucket at KEYS[1]. ARGV: refill interval
// and bucket span (interval × capacity), in microseconds. Returns
// {allowed, remaining, retry_after_us}.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local full = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if full < now then full = now end
local nxt = full + interval
local allow_at = nxt - span
if now < allow_at then
  return {0, 0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.floor((nxt - now) / 1000) + 1)
return {1, math.floor((now - allow_at) / interval), 0}
`)

// maxKey: longer keys are hashed (the policy already hashes long request
// values; this bounds whatever else reaches the limiter).
const maxKey = 128

// Options configures a Limiter.
type Options struct {
	// Prefix starts every bucket key.
	Prefix string
	// Timeout bounds one Redis call (it is on the Check's path).
	Timeout time.Duration
	// OpenFor is how long the breaker keeps Checks off Redis after it
	// failed; then one Check probes it.
	OpenFor    time.Duration
	Registerer prometheus.Registerer
}

// Limiter is the shared limiter.
type Limiter struct {
	client    redis.UniversalClient
	local     ratelimit.Limiter
	opt       Options
	breaker   *gobreaker.CircuitBreaker[ratelimit.Result]
	overLimit *expirable.LRU[string, time.Time]

	redisN, localN, cachedN, fallbackN prometheus.Counter
	errN                               prometheus.Counter
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// New returns a limiter on client that falls back to local.
func New(client redis.UniversalClient, local ratelimit.Limiter, opt Options) (*Limiter, error) {
	if client == nil || local == nil {
		return nil, errors.New("redislimit: nil client or fallback")
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Millisecond
	}
	if opt.OpenFor <= 0 {
		opt.OpenFor = time.Second
	}
	l := &Limiter{client: client, local: local, opt: opt,
		overLimit: expirable.NewLRU[string, time.Time](1<<16, nil, ratelimit.MaxPeriod)}
	l.breaker = gobreaker.NewCircuitBreaker[ratelimit.Result](gobreaker.Settings{
		Name:        "redis-ratelimit",
		Timeout:     opt.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 2 },
	})
	answers := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_cluster_ratelimit_answers_total",
		Help: "Shared rate-limit decisions by who answered: redis, cached (a key Redis said was over its limit), fallback (the local limiter, Redis failed or the breaker was open)."},
		[]string{"by"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_cluster_redis_errors_total",
		Help: "Redis operations that failed, by operation."}, []string{"op"})
	var err error
	if answers, err = promreg.Register(opt.Registerer, answers); err != nil {
		return nil, err
	}
	if errs, err = promreg.Register(opt.Registerer, errs); err != nil {
		return nil, err
	}
	l.redisN, l.cachedN, l.fallbackN = answers.WithLabelValues("redis"), answers.WithLabelValues("cached"), answers.WithLabelValues("fallback")
	l.errN = errs.WithLabelValues("ratelimit")
	return l, nil
}

// Allow implements ratelimit.Limiter.
func (l *Limiter) Allow(ctx context.Context, key string, limit ratelimit.Limit, now time.Time) (ratelimit.Result, error) {
	if err := limit.Validate(); err != nil {
		return ratelimit.Result{Allowed: true}, fmt.Errorf("redislimit: invalid limit: %w", err)
	}
	rkey := l.redisKey(key, limit)
	if until, ok := l.overLimit.Get(rkey); ok && now.Before(until) {
		l.cachedN.Inc()
		return ratelimit.Result{RetryAfter: until.Sub(now)}, nil
	}
	res, err := l.breaker.Execute(func() (ratelimit.Result, error) { return l.redis(ctx, rkey, limit) })
	if err != nil {
		if !errors.Is(err, gobreaker.ErrOpenState) && !errors.Is(err, gobreaker.ErrTooManyRequests) {
			l.errN.Inc()
		}
		l.fallbackN.Inc()
		return l.local.Allow(ctx, key, limit, now)
	}
	l.redisN.Inc()
	if !res.Allowed && res.RetryAfter > 0 {
		l.overLimit.Add(rkey, now.Add(res.RetryAfter))
	}
	return res, nil
}

func (l *Limiter) redis(ctx context.Context, rkey string, limit ratelimit.Limit) (ratelimit.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opt.Timeout)
	defer cancel()
	capacity := int64(limit.Burst)
	if capacity == 0 {
		capacity = int64(limit.Rate)
	}
	intervalUs := max(limit.Period.Microseconds()/int64(limit.Rate), 1)
	out, err := gcra.Run(ctx, l.client, []string{rkey}, intervalUs, intervalUs*capacity).Int64Slice()
	if err != nil {
		return ratelimit.Result{}, fmt.Errorf("redislimit: %w", err)
	}
	if len(out) != 3 {
		return ratelimit.Result{}, fmt.Errorf("redislimit: script returned %d values", len(out))
	}
	return ratelimit.Result{Allowed: out[0] == 1, Remaining: int(out[1]), RetryAfter: time.Duration(out[2]) * time.Microsecond}, nil
}

// redisKey names key's bucket under limit: a rule whose limit changes on
// reload starts a new bucket rather than reading the old one's timestamp
// with a different interval.
func (l *Limiter) redisKey(key string, limit ratelimit.Limit) string {
	lim := fmt.Sprintf("%d/%d/%d|", limit.Rate, limit.Period.Microseconds(), limit.Burst)
	if len(key) > maxKey {
		sum := sha256.Sum256([]byte(key))
		key = "h:" + hex.EncodeToString(sum[:])
	}
	return l.opt.Prefix + "rl:" + lim + key
}
