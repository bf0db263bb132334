package redisrep

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/botwarden/botwarden/internal/redistest"
)

// BenchmarkGet is the hot path's lookup (four keys, as the reputation
// engine makes) on the bare local store and on the shared store over it,
// for a near-cache hit and a miss: the shared store reads memory only.
func BenchmarkGet(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	near, err := reputation.NewLocal(ctx, reputation.DefaultLocalConfig(), zerolog.Nop(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer near.Close()
	c := srv.Client()
	defer c.Close()
	shared, err := New(near, c, Options{Prefix: "bwbench:", Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	_ = shared.Put(ctx, verdict("ip:192.0.2.1", 5))
	hit := []string{"session:abc", "ip:192.0.2.1", "net:192.0.2.0/24", "ja4:t13d1516h2_8daaf6152771_02713d6af862"}
	miss := []string{"session:abc", "ip:192.0.2.2", "net:192.0.3.0/24", "ja4:t13d1516h2_8daaf6152771_02713d6af862"}
	for _, st := range []struct {
		name  string
		store reputation.Store
	}{{"local", near}, {"shared", shared}} {
		for _, k := range []struct {
			name string
			keys []string
		}{{"hit", hit}, {"miss", miss}} {
			b.Run(st.name+"/"+k.name, func(b *testing.B) {
				b.ReportAllocs()
				dst := make([]reputation.Verdict, 0, 4)
				for b.Loop() {
					dst, _ = st.store.Get(ctx, k.keys, dst[:0])
				}
			})
		}
	}
}

// BenchmarkPushLatency is the time from a verdict's Put on one replica to
// its presence in another replica's near cache (where that replica's next
// Check reads it), over real Redis pub/sub on loopback: p50 and p99.
func BenchmarkPushLatency(b *testing.B) {
	srv := redistest.Start(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stores := make([]*Store, 2)
	for i := range stores {
		near, err := reputation.NewLocal(ctx, reputation.DefaultLocalConfig(), zerolog.Nop(), nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		c := srv.Client()
		defer c.Close()
		if stores[i], err = New(near, c, Options{Prefix: "bwbench:", Registerer: prometheus.NewRegistry()}); err != nil {
			b.Fatal(err)
		}
		go func() { _ = stores[i].Run(ctx) }()
	}
	for !stores[0].Synced() || !stores[1].Synced() {
		time.Sleep(time.Millisecond)
	}
	var lat []time.Duration
	dst := make([]reputation.Verdict, 0, 1)
	for i := 0; b.Loop(); i++ {
		key := []string{fmt.Sprintf("ip:10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}
		start := time.Now()
		if err := stores[0].Put(ctx, verdict(key[0], 5)); err != nil {
			b.Fatal(err)
		}
		for {
			if dst, _ = stores[1].Get(ctx, key, dst[:0]); len(dst) == 1 {
				break
			}
			time.Sleep(20 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
