package eventbus

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/internal/natstest"
)

// counter is an Analysis that only counts, so the benchmark measures the
// bus: encode, publish, JetStream, the partitioned consumers, decode.
type counter struct{ n *atomic.Int64 }

func (c counter) OfferKinds(*detect.Event, behavior.Kinds) bool { c.n.Add(1); return true }

// BenchmarkEventsThroughJetStream: events offered to one replica's
// publisher until three replicas' consumers have analysed every copy
// (two per event: session, and IP with network), against the embedded
// server on loopback. Reported as events/s.
func BenchmarkEventsThroughJetStream(b *testing.B) {
	srv := natstest.Start(b)
	cfg := testConfig()
	cfg.Partitions = 16
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nc, js := connectB(b, srv.URL)
	if err := Setup(ctx, js, cfg); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	for range 3 {
		_, cjs := connectB(b, srv.URL)
		c, err := NewConsumer(cfg, cjs, counter{&n}, zerolog.Nop(), prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		go func() { _ = c.Run(ctx) }()
	}
	p, err := NewPublisher(cfg, nc, behavior.DefaultConfig().Keys, 1<<20, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = p.Run(ctx) }()
	ev := detect.Event{Method: "GET", Host: "shop.example", Path: "/product/1", Status: 200,
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0", Headers: detect.Headers{"accept": "text/html"}}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		e := ev
		e.Time = time.Now()
		e.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		e.SessionID = "s" + e.ClientIP.String()
		for !p.Offer(&e) {
			time.Sleep(time.Millisecond)
		}
	}
	for n.Load() < int64(2*b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
