package behavior

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect"
)

// BenchmarkOffer measures the analysis of one event (synchronous engine:
// classification, three keys' state updates, the detectors) against a
// baseline that only touches the event, in the same run.
func BenchmarkOffer(b *testing.B) {
	evs := make([]detect.Event, 4096)
	for i := range evs {
		evs[i] = detect.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), ClientIP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}),
			Method: "GET", Host: "shop.example", Path: fmt.Sprintf("/product/%d", i%300), Status: 200, UserAgent: chromeUA,
			SessionID: fmt.Sprintf("s%d", i%1000), Headers: detect.Headers{"accept-language": "en"}}
	}
	b.Run("Baseline", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for i := 0; b.Loop(); i++ {
			n += len(evs[i%len(evs)].Path)
		}
		_ = n
	})
	b.Run("Analysis", func(b *testing.B) {
		e, _ := syncEngine(b, DefaultConfig())
		b.ReportAllocs()
		cpu0 := cpuTime()
		n := 0
		for i := 0; b.Loop(); i++ {
			ev := &evs[i%len(evs)]
			ev.Time = t0.Add(time.Duration(i) * time.Millisecond)
			e.Offer(ev)
			n++
		}
		// CPU time does not depend on how busy the shared machine is.
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n), "cpu-ns/event")
	})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
