package behavior

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/internal/metricstest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
)

func TestAsyncWorkers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workers = 2
	rec := &recorder{}
	reg := prometheus.NewRegistry()
	e, err := New(cfg, zerolog.Nop(), reg, rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()

	g := newGen("192.0.2.99")
	g.session = "scraper"
	for i := range 100 {
		g.get(50*time.Millisecond, fmt.Sprintf("/product/%d", 1000+i))
	}
	for i := range g.out {
		if !e.Offer(&g.out[i]) {
			t.Fatal("Offer dropped with empty queues")
		}
	}
	waitIdle(t, e)
	for _, k := range []string{"ip:192.0.2.99", "session:scraper"} {
		if v, ok := rec.get(k); !ok || v.Score != 1 {
			t.Errorf("%s: %+v %v", k, v, ok)
		}
	}
	if got := e.Tracked(); got != 3 { // ip, session, net
		t.Errorf("tracked %d keys, want 3", got)
	}
	var m dto.Metric
	if err := e.m.lag.Write(&m); err != nil || m.GetHistogram().GetSampleCount() == 0 {
		t.Errorf("lag histogram empty: %v", err)
	}
	if err := e.Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitIdle(t *testing.T, e *Engine) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for e.Pending() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("analysis still has %d pending units", e.Pending())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestQueueOverflow: a slow (here: stopped) analysis drops and counts
// instead of blocking the caller.
func TestQueueOverflow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workers, cfg.QueueSize = 1, 4
	cfg.Keys = KeysConfig{IP: true, V4PrefixBits: 24, V6PrefixBits: 64}
	reg := prometheus.NewRegistry()
	e, err := New(cfg, zerolog.Nop(), reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := &detect.Event{Time: t0, ClientIP: netip.MustParseAddr("192.0.2.1"), Method: "GET", Path: "/"}
	accepted := 0
	for range 10 {
		if e.Offer(ev) {
			accepted++
		}
	}
	if accepted != 4 {
		t.Errorf("accepted %d, want 4", accepted)
	}
	if got := metricstest.Value(t, e.m.events.WithLabelValues("dropped")); got != 6 {
		t.Errorf("dropped metric %v, want 6", got)
	}
	// An event with no key is accepted and counted as unkeyed.
	if !e.Offer(&detect.Event{Time: t0, Path: "/"}) || metricstest.Value(t, e.m.events.WithLabelValues("unkeyed")) != 1 {
		t.Error("unkeyed event not counted")
	}
}

func TestEviction(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxTracked = 100
	cfg.Keys = KeysConfig{IP: true, V4PrefixBits: 24, V6PrefixBits: 64}
	e, _ := syncEngine(t, cfg)
	for i := range 1000 {
		ev := &detect.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), ClientIP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Method: "GET", Path: "/"}
		e.Offer(ev)
	}
	if got := e.Tracked(); got != 100 {
		t.Errorf("tracked %d, want 100", got)
	}
	if got := e.Evictions(); got != 900 {
		t.Errorf("evictions %d, want 900", got)
	}
}

func TestAnomaly(t *testing.T) {
	for _, tagOnly := range []bool{false, true} {
		t.Run(fmt.Sprint("tag_only=", tagOnly), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Anomaly.Enabled, cfg.Anomaly.TagOnly = true, tagOnly
			e, rec := syncEngine(t, cfg)
			// Baseline: 3000 requests of Chrome users with one JA4.
			for i := range 3000 {
				ev := &detect.Event{Time: t0.Add(time.Duration(i) * 20 * time.Millisecond), Host: "shop.example",
					ClientIP: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8 % 16), byte(i)}), Method: "GET", Path: "/", Status: 200,
					UserAgent: chromeUA, JA4: "t13d1516h2_8daaf6152771_b186095e22b6"}
				if i%3 == 0 {
					ev.Path = "/static/app.css"
				}
				e.Offer(ev)
			}
			if len(rec.all) != 0 {
				t.Fatalf("baseline traffic flagged: %+v", rec.all[0])
			}
			// An outlier: an unseen client library with an unseen JA4.
			for i := range 4 {
				e.Offer(&detect.Event{Time: t0.Add(time.Minute + time.Duration(i)*3*time.Second), Host: "shop.example",
					ClientIP: netip.MustParseAddr("192.0.2.200"), Method: "GET", Path: "/", Status: 200,
					UserAgent: "python-requests/2.31", JA4: "t13d0000h1_weird"})
			}
			v, ok := rec.get("ip:192.0.2.200")
			if !ok || !slices.Contains(v.Tags, TagAnomaly) {
				t.Fatalf("outlier verdict %+v %v", v, ok)
			}
			if tagOnly && v.Score != 99-anomalyTagRisk || !tagOnly && (v.Score != 1 || v.Source != detect.SourceAnomaly) {
				t.Errorf("verdict %+v", v)
			}
		})
	}
	// Off by default: the same outlier is not flagged.
	e, rec := syncEngine(t, DefaultConfig())
	for i := range 5 {
		e.Offer(&detect.Event{Time: t0.Add(time.Duration(i) * time.Second), ClientIP: netip.MustParseAddr("192.0.2.200"), Method: "GET", Path: "/", Status: 200, UserAgent: "x"})
	}
	if len(rec.all) != 0 {
		t.Errorf("anomaly detection ran while disabled: %+v", rec.all)
	}
}

// TestMemoryPerClient measures the heap per tracked client at one million
// clients (each tracked under its IP and session, plus the shared /24s):
// the bound is 1 KiB.
func TestMemoryPerClient(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~0.5 GB; skipped with -short")
	}
	const clients = 1_000_000
	cfg := DefaultConfig()
	cfg.MaxTracked = 3 * clients
	e, _ := syncEngine(t, cfg)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ev := detect.Event{Method: "GET", Path: "/", Status: 200, UserAgent: chromeUA}
	for i := range clients {
		ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
		ev.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		ev.SessionID = fmt.Sprintf("%016x", i)
		e.Offer(&ev)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / clients
	t.Logf("%d clients, %d keys tracked: %.0f bytes of heap per client (%.0f per key)", clients, e.Tracked(), per, per*clients/float64(e.Tracked()))
	if per > 1024 {
		t.Errorf("%.0f bytes per client, want ≤ 1024", per)
	}
	runtime.KeepAlive(e)
}
