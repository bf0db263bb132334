package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// nopLimiter is the do-nothing baseline: it allows everything.
type nopLimiter struct{}

func (nopLimiter) Allow(context.Context, string, Limit, time.Time) (Result, error) {
	return Result{Allowed: true}, nil
}

// BenchmarkAllow compares the local limiter with the do-nothing baseline on
// one hot key (worst contention) and on 100,000 distinct keys (map and LRU
// work, evictions at the 65,536-key bound), all goroutines in parallel.
func BenchmarkAllow(b *testing.B) {
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = "ip:203.0." + strconv.Itoa(i>>8) + "." + strconv.Itoa(i&255)
	}
	lim := Limit{Rate: 100, Period: time.Second, Burst: 200}
	local, err := NewLocal(Config{MaxKeys: 1 << 16, Shards: 64, SweepInterval: time.Minute}, zerolog.Nop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		l    Limiter
		hot  bool
	}{
		{"baseline-nop", nopLimiter{}, false},
		{"local-one-key", local, true},
		{"local-100k-keys", local, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var seq atomic.Uint64
			now := time.Now()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(7919))
				for pb.Next() {
					k := keys[0]
					if !bc.hot {
						i++
						k = keys[i%len(keys)]
					}
					if _, err := bc.l.Allow(context.Background(), k, lim, now); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
