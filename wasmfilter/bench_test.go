//go:build unix

package wasmfilter_test

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/wasmfilter"
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

// maxEntries is the most entries a js_detection list may have.
const maxEntries = 256

// cpuTime is the user+system CPU time the process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkInjection is the cost of the invisible JS detection per HTML
// response: the same page view (request headers with accept-encoding,
// response headers, a 20 KiB page in two chunks) through the compiled
// filter without and with js_detection, in the same run. With it the
// filter also removes accept-encoding and sets the js-expected marker;
// "+lists" adds 256-entry host and path lists matched at their last
// entry (the most the configuration allows). bytes-added/op is what the
// page grows by.
//
//	go test -run '^$' -bench Injection -benchmem -count 6 ./wasmfilter/
func BenchmarkInjection(b *testing.B) {
	f := newFixture(b)
	body := []byte("<!doctype html><html><head><title>p</title></head><body>" + strings.Repeat("<p>product text</p>", 1070) + "</body></html>")
	resp := [][2]string{{":status", "200"}, {"content-type", "text/html"}, {"content-length", strconv.Itoa(len(body))}}
	req := headers("", [2]string{"accept-encoding", "gzip, deflate, br, zstd"})
	var hosts, paths []string
	for i := range maxEntries - 1 {
		hosts = append(hosts, "*.site"+strconv.Itoa(i)+".example")
		paths = append(paths, "/section"+strconv.Itoa(i)+"/")
	}
	hosts, paths = append(hosts, "shop.example"), append(paths, "/cart")
	for _, c := range []struct {
		name string
		jsd  map[string]any
	}{
		{"filter/html", map[string]any{"enabled": false}},
		{"filter/html+jsd", map[string]any{"enabled": true}},
		{"filter/html+jsd+lists", map[string]any{"enabled": true, "hosts": hosts, "paths": paths}},
	} {
		b.Run(c.name, func(b *testing.B) {
			h, err := filterVM(b).Start(f.config(b, map[string]any{"js_detection": c.jsd}))
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			res, r, err := h.Exchange(req, client, resp, body)
			if err != nil {
				b.Fatal(err)
			}
			_, marked := res.Header(wasmfilter.HeaderJSExpected)
			if injected := len(r.Body) > len(body); injected != c.jsd["enabled"] || marked != injected {
				b.Fatalf("injected %v, marked %v", injected, marked)
			}
			b.ReportAllocs()
			var added int
			cpu0 := cpuTime(b)
			for b.Loop() {
				_, r, err := h.Exchange(req, client, resp, body[:len(body)/2], body[len(body)/2:])
				if err != nil {
					b.Fatal(err)
				}
				added = len(r.Body) - len(body)
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(added), "bytes-added/op")
		})
	}
}
