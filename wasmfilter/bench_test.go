//go:build unix

package wasmfilter_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/wasmfilter/emulator"
	"github.com/botwarden/botwarden/wasmfilter/internal/cookietest"
)

// BenchmarkModule is the per-request cost of the compiled filter in wazero
// (the proxytest host) against the do-nothing module built the same way
// (cmd/noop), in the same run. Every sub-benchmark pays the same host-side
// cost (proxytest's context creation, header copies, properties), so
// filter/<case> minus noop is what the filter adds per request, and the
// ratio is what `make bench` reports. Besides ns/op (wall time) each case
// reports cpu-ns/op, the process's CPU time per request: on a shared,
// oversubscribed machine wall time mostly measures waiting for a core.
// Compare with:
//
//	go test -run '^$' -bench Module -benchmem -count 6 ./wasmfilter/
func BenchmarkModule(b *testing.B) {
	filter, noop := modules(b)
	b.Logf("module sizes: filter %d bytes, noop %d bytes", len(filter), len(noop))
	f := newFixture(b)
	cfg := f.config(b, nil)

	noopVM, err := emulator.Load(noop)
	if err != nil {
		b.Fatal(err)
	}
	defer noopVM.Close()
	valid := f.cookie(b, nil)
	cases := []struct {
		name string
		vm   *emulator.VM
		req  [][2]string
	}{
		{"noop", noopVM, headers(valid)},
		{"filter/no-cookie", filterVM(b), headers("")},
		{"filter/fast-path", filterVM(b), headers(valid)},
		{"filter/tampered", filterVM(b), headers(cookietest.Tamper(valid))},
		{"filter/blocked", filterVM(b), headers(f.cookie(b, func(c *token.Claims) { c.Flags = token.Blocked }))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h, err := c.vm.Start(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				if _, err := h.Request(c.req, client); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the user+system CPU time the process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
