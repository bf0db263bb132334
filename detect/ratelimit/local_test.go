package ratelimit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/internal/metricstest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newLocal(t testing.TB, cfg Config) *Local {
	t.Helper()
	l, err := NewLocal(cfg, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// step is one call in a scripted sequence against one key.
type step struct {
	at        time.Duration // offset from t0
	allowed   bool
	remaining int
	retry     time.Duration
}

func TestLocalTokenBucket(t *testing.T) {
	tests := []struct {
		name  string
		limit Limit
		steps []step
	}{
		{
			name:  "burst defaults to rate then refills one per interval",
			limit: Limit{Rate: 3, Period: 3 * time.Second},
			steps: []step{
				{0, true, 2, 0},
				{0, true, 1, 0},
				{0, true, 0, 0},
				{0, false, 0, time.Second},
				{500 * time.Millisecond, false, 0, 500 * time.Millisecond},
				{time.Second, true, 0, 0},
				{time.Second, false, 0, time.Second},
				{10 * time.Second, true, 2, 0}, // idle long enough: full again, capped at capacity
			},
		},
		{
			name:  "explicit burst larger than rate",
			limit: Limit{Rate: 1, Period: time.Minute, Burst: 2},
			steps: []step{
				{0, true, 1, 0},
				{0, true, 0, 0},
				{0, false, 0, time.Minute},
				{30 * time.Second, false, 0, 30 * time.Second},
				{time.Minute, true, 0, 0},
				{3 * time.Minute, true, 1, 0},
			},
		},
		{
			name:  "burst of one is a strict spacing",
			limit: Limit{Rate: 10, Period: time.Second, Burst: 1},
			steps: []step{
				{0, true, 0, 0},
				{50 * time.Millisecond, false, 0, 50 * time.Millisecond},
				{100 * time.Millisecond, true, 0, 0},
				{150 * time.Millisecond, false, 0, 50 * time.Millisecond},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLocal(t, DefaultConfig())
			for i, s := range tt.steps {
				got, err := l.Allow(context.Background(), "k", tt.limit, t0.Add(s.at))
				if err != nil {
					t.Fatal(err)
				}
				want := Result{Allowed: s.allowed, Remaining: s.remaining, RetryAfter: s.retry}
				if got != want {
					t.Fatalf("step %d at +%s: got %+v, want %+v", i, s.at, got, want)
				}
			}
		})
	}
}

func TestLocalKeysAreIndependent(t *testing.T) {
	l := newLocal(t, DefaultConfig())
	lim := Limit{Rate: 1, Period: time.Hour}
	for _, k := range []string{"a", "b", "c"} {
		if r, _ := l.Allow(context.Background(), k, lim, t0); !r.Allowed {
			t.Fatalf("first event of %s denied", k)
		}
	}
	if r, _ := l.Allow(context.Background(), "a", lim, t0); r.Allowed {
		t.Fatal("second event of a allowed")
	}
}

func TestLimitValidate(t *testing.T) {
	tests := []struct {
		limit Limit
		want  string // substring of the error, "" for valid
	}{
		{Limit{Rate: 10, Period: time.Second}, ""},
		{Limit{Rate: 0, Period: time.Second}, "requests"},
		{Limit{Rate: 1, Period: 0}, "period"},
		{Limit{Rate: 1, Period: 48 * time.Hour}, "period"},
		{Limit{Rate: 1, Period: time.Second, Burst: -1}, "burst"},
		{Limit{Rate: 1, Period: time.Second, Burst: MaxBurst + 1}, "burst"},
		{Limit{Rate: 2000, Period: time.Microsecond}, "nanosecond"},
	}
	for _, tt := range tests {
		err := tt.limit.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: got %v, want error containing %q", tt.limit, err, tt.want)
		}
	}
	l := newLocal(t, DefaultConfig())
	r, err := l.Allow(context.Background(), "k", Limit{}, t0)
	if err == nil || !r.Allowed {
		t.Fatalf("invalid limit: want error and fail-open result, got %+v, %v", r, err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{MaxKeys: 1, Shards: 0, SweepInterval: 0}
	err := bad.Validate()
	for _, field := range []string{"shards", "sweep_interval"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("want error naming %s, got %v", field, err)
		}
	}
	if _, err := NewLocal(bad, zerolog.Nop(), nil); err == nil {
		t.Fatal("NewLocal accepted a bad config")
	}
}

func TestLocalBoundedMemory(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, err := NewLocal(Config{MaxKeys: 64, Shards: 4, SweepInterval: time.Minute}, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	lim := Limit{Rate: 1, Period: time.Second}
	for i := range 10_000 {
		l.Allow(context.Background(), fmt.Sprintf("k%d", i), lim, t0)
	}
	if n := l.Len(); n > 64 {
		t.Fatalf("holding %d buckets, max 64", n)
	}
	// Every bucket was in use at t0 when it was dropped.
	evicted := metricstest.Value(t, l.evictCapacity)
	if evicted < 10_000-64 {
		t.Fatalf("capacity evictions = %v", evicted)
	}
	if got := metricstest.Value(t, l.evictIdle); got != 0 {
		t.Fatalf("idle evictions = %v", got)
	}
	// After a second every bucket has refilled: a sweep drops them all.
	if n := l.Sweep(t0.Add(time.Second)); n != 64 && n != l.perShard*len(l.shards) {
		t.Fatalf("swept %d", n)
	}
	if l.Len() != 0 {
		t.Fatalf("%d buckets left after sweep", l.Len())
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if !slices.Contains(names, "botwarden_ratelimit_keys") {
		t.Fatalf("keys gauge not registered: %v", names)
	}
}

func TestLocalLRUKeepsActiveKeys(t *testing.T) {
	l := newLocal(t, Config{MaxKeys: 4, Shards: 1, SweepInterval: time.Minute})
	lim := Limit{Rate: 1, Period: time.Hour}
	ctx := context.Background()
	l.Allow(ctx, "hot", lim, t0)
	for i := range 100 {
		// "hot" is touched between every new key, so it is never the least
		// recently used one and its empty bucket survives.
		if r, _ := l.Allow(ctx, "hot", lim, t0); r.Allowed {
			t.Fatalf("hot key allowed again after %d other keys", i)
		}
		l.Allow(ctx, fmt.Sprintf("cold%d", i), lim, t0)
	}
}

func TestSweepKeepsBucketsInUse(t *testing.T) {
	l := newLocal(t, DefaultConfig())
	lim := Limit{Rate: 1, Period: time.Minute}
	ctx := context.Background()
	l.Allow(ctx, "idle", lim, t0)
	l.Allow(ctx, "busy", lim, t0.Add(50*time.Second))
	if n := l.Sweep(t0.Add(time.Minute)); n != 1 {
		t.Fatalf("swept %d, want 1", n)
	}
	if r, _ := l.Allow(ctx, "busy", lim, t0.Add(time.Minute)); r.Allowed {
		t.Fatal("sweep forgot a bucket still in use")
	}
}

func TestRunStopsWithContext(t *testing.T) {
	l := newLocal(t, Config{MaxKeys: 16, Shards: 1, SweepInterval: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// With the clock frozen, exactly Burst of many concurrent events on one key
// are allowed: the shard lock makes take-a-token atomic.
func TestLocalConcurrentExactCount(t *testing.T) {
	l := newLocal(t, Config{MaxKeys: 1024, Shards: 8, SweepInterval: time.Minute})
	lim := Limit{Rate: 1, Period: time.Hour, Burst: 500}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				key := "shared"
				if i%2 == 1 {
					key = fmt.Sprintf("own%d", g) // other keys in flight on other shards
				}
				r, err := l.Allow(context.Background(), key, lim, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Allowed && key == "shared" {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != 500 {
		t.Fatalf("allowed %d events on the shared key, want exactly 500", got)
	}
}

func TestMetricsShareRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		if _, err := NewLocal(DefaultConfig(), zerolog.Nop(), reg); err != nil {
			t.Fatalf("second limiter on one registry: %v", err)
		}
	}
}
