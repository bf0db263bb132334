package redislimit

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/ratelimit"
	"github.com/botwarden/botwarden/internal/metricstest"
	"github.com/botwarden/botwarden/internal/redistest"
	"github.com/botwarden/botwarden/internal/slowproxy"
)

func newLimiter(t *testing.T, addr string, reg *prometheus.Registry, timeout time.Duration) *Limiter {
	t.Helper()
	local, err := ratelimit.NewLocal(ratelimit.DefaultConfig(), zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	l, err := New(c, local, Options{Prefix: "bwtest:", Timeout: timeout, OpenFor: 200 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestGlobalAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	limit := ratelimit.Limit{Rate: 10, Period: time.Minute}
	tests := []struct {
		name     string
		replicas int
	}{{"one replica", 1}, {"three replicas", 3}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ls []*Limiter
			for range tt.replicas {
				// A generous timeout: this is about atomicity, and a
				// fallback on a loaded machine would count per replica.
				ls = append(ls, newLimiter(t, srv.Addr, prometheus.NewRegistry(), time.Second))
			}
			key := "rule|ip:" + tt.name
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for i := range 60 {
				wg.Go(func() {
					res, err := ls[i%len(ls)].Allow(context.Background(), key, limit, time.Now())
					if err != nil {
						t.Error(err)
					}
					if res.Allowed {
						allowed.Add(1)
					} else if res.RetryAfter <= 0 || res.RetryAfter > 7*time.Second {
						t.Errorf("retry after %v, want (0, 6s]", res.RetryAfter)
					}
				})
			}
			wg.Wait()
			if n := allowed.Load(); n != 10 {
				t.Fatalf("allowed %d of 60 across %d replicas, want exactly the burst of 10", n, tt.replicas)
			}
		})
	}
}

func TestRefillAndLongKeys(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	l := newLimiter(t, srv.Addr, reg, time.Second)
	ctx := context.Background()
	limit := ratelimit.Limit{Rate: 20, Period: time.Second, Burst: 2} // one token per 50 ms
	key := strings.Repeat("k", 10_000)
	for i, want := range []bool{true, true, false} {
		if res, _ := l.Allow(ctx, key, limit, time.Now()); res.Allowed != want {
			t.Fatalf("call %d allowed=%v", i, res.Allowed)
		}
	}
	// The denied key is answered locally until its retry time.
	if res, _ := l.Allow(ctx, key, limit, time.Now()); res.Allowed {
		t.Fatal("allowed right after denial")
	}
	if metricstest.Sum(t, reg, "botwarden_cluster_ratelimit_answers_total", map[string]string{"by": "cached"}) < 1 {
		t.Error("over-limit key not answered from the local cache")
	}
	time.Sleep(150 * time.Millisecond)
	if res, _ := l.Allow(ctx, key, limit, time.Now()); !res.Allowed {
		t.Fatal("bucket did not refill")
	}
	rc := srv.Client()
	defer rc.Close()
	for _, k := range rc.Keys(ctx, "bwtest:*").Val() {
		if len(k) > 200 {
			t.Errorf("Redis key of %d bytes", len(k))
		}
		if ttl := rc.PTTL(ctx, k).Val(); ttl <= 0 || ttl > 2*time.Second {
			t.Errorf("bucket TTL %v, want until full (≤ the span)", ttl)
		}
	}
}

func TestFallbackAndRecovery(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	l := newLimiter(t, srv.Addr, reg, 20*time.Millisecond)
	ctx := context.Background()
	limit := ratelimit.Limit{Rate: 1000, Period: time.Second}
	if _, err := l.Allow(ctx, "a", limit, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for range 20 {
		start := time.Now()
		res, err := l.Allow(ctx, "a", limit, time.Now())
		if err != nil || !res.Allowed {
			t.Fatalf("fallback: %+v %v", res, err)
		}
		if d := time.Since(start); d > 300*time.Millisecond {
			t.Fatalf("Allow with Redis down took %v", d)
		}
	}
	fb := metricstest.Sum(t, reg, "botwarden_cluster_ratelimit_answers_total", map[string]string{"by": "fallback"})
	if fb != 20 {
		t.Errorf("fallbacks counted %v, want 20", fb)
	}
	if e := metricstest.Sum(t, reg, "botwarden_cluster_redis_errors_total", nil); e < 1 || e > 5 {
		t.Errorf("redis errors %v: the breaker should keep most calls off a dead Redis", e)
	}
	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for metricstest.Sum(t, reg, "botwarden_cluster_ratelimit_answers_total", map[string]string{"by": "redis"}) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("did not go back to Redis after the restart")
		}
		_, _ = l.Allow(ctx, "a", limit, time.Now())
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSlowRedisMeetsTimeout(t *testing.T) {
	srv := redistest.Start(t)
	p, err := slowproxy.Start(srv.Addr, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	reg := prometheus.NewRegistry()
	l := newLimiter(t, p.Addr(), reg, 20*time.Millisecond)
	limit := ratelimit.Limit{Rate: 1000, Period: time.Second}
	var worst time.Duration
	for range 50 {
		start := time.Now()
		res, err := l.Allow(context.Background(), "slow", limit, time.Now())
		if err != nil || !res.Allowed {
			t.Fatalf("%+v %v", res, err)
		}
		worst = max(worst, time.Since(start))
	}
	// The timeout is 20 ms; the bound leaves room for a loaded machine but
	// is far below the 200 ms Redis takes.
	if worst > 150*time.Millisecond {
		t.Fatalf("slowest Allow %v with Redis answering after 200 ms", worst)
	}
	t.Logf("slowest Allow %v", worst)
}

func BenchmarkAllow(b *testing.B) {
	srv := redistest.Start(b)
	local, _ := ratelimit.NewLocal(ratelimit.DefaultConfig(), zerolog.Nop(), nil)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	shared, _ := New(c, local, Options{Prefix: "bwbench:"})
	limit := ratelimit.Limit{Rate: 1_000_000, Period: time.Second, Burst: 100_000}
	for _, bc := range []struct {
		name string
		l    ratelimit.Limiter
	}{{"local", local}, {"redis", shared}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_, _ = bc.l.Allow(context.Background(), "bench", limit, time.Now())
			}
		})
	}
}
