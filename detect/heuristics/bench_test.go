package heuristics_test

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics"
	"github.com/botwarden/botwarden/detect/ml"
)

// chromeRequest is a realistic Chrome navigation over HTTPS/2.
func chromeRequest() *detect.Request {
	return &detect.Request{
		Method: "GET", Scheme: "https", Host: "shop.example", Path: "/products/4711?ref=home", Protocol: "HTTP/2",
		Headers: detect.Headers{
			"sec-ch-ua":                 `"Chromium";v="147", "Google Chrome";v="147", "Not.A/Brand";v="99"`,
			"sec-ch-ua-mobile":          "?0",
			"sec-ch-ua-platform":        `"Windows"`,
			"upgrade-insecure-requests": "1",
			"user-agent":                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36",
			"accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
			"sec-fetch-site":            "same-origin",
			"sec-fetch-mode":            "navigate",
			"sec-fetch-user":            "?1",
			"sec-fetch-dest":            "document",
			"referer":                   "https://shop.example/",
			"accept-encoding":           "gzip, deflate, br, zstd",
			"accept-language":           "en-US,en;q=0.9",
			"cookie":                    "sid=8f2c1a; cart=3",
			"priority":                  "u=0, i",
			"x-botwarden-ja4":           "t13d1517h2_8daaf6152771_b1ff8ab2d16f",
			"x-request-id":              "5d3c1b7e-0c1f-4f7e-9d0b-1f2e3d4c5b6a",
		},
		HeaderOrder: []string{"sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "upgrade-insecure-requests", "user-agent", "accept", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-user", "sec-fetch-dest", "referer", "accept-encoding", "accept-language", "cookie", "priority"},
	}
}

func botRequest() *detect.Request {
	return &detect.Request{
		Method: "GET", Scheme: "https", Host: "shop.example", Path: "/api/v1/prices", Protocol: "HTTP/1.1",
		Headers: detect.Headers{"user-agent": "python-requests/2.32.3", "accept-encoding": "gzip, deflate", "accept": "*/*", "connection": "keep-alive"},
	}
}

// cpuTime is the process's user+system CPU time. The machine these
// benchmarks run on is shared, so wall time per op swings with other load;
// CPU time per op is reported next to it as "cpu-ns/op".
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchPipeline(b *testing.B, engines []detect.Engine, r *detect.Request) {
	p := &detect.Pipeline{Engines: engines, Budget: -1}
	ctx := context.Background()
	b.ReportAllocs()
	start := cpuTime()
	n := 0
	for b.Loop() {
		p.Check(ctx, r)
		n++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
}

func newEngines(b *testing.B) (*heuristics.Engine, *ml.Engine) {
	h, err := heuristics.New(heuristics.DefaultConfig(), zerolog.Nop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	m, err := ml.New(ml.DefaultConfig(), zerolog.Nop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return h, m
}

// BenchmarkPipeline compares the heuristics and ML engines with an empty
// pipeline on the same requests; report the ratios, not the absolute times.
func BenchmarkPipeline(b *testing.B) {
	h, m := newEngines(b)
	for _, tc := range []struct {
		name string
		r    *detect.Request
	}{{"chrome", chromeRequest()}, {"python-requests", botRequest()}} {
		b.Run(tc.name+"/empty-baseline", func(b *testing.B) { benchPipeline(b, nil, tc.r) })
		b.Run(tc.name+"/heuristics", func(b *testing.B) { benchPipeline(b, []detect.Engine{h}, tc.r) })
		b.Run(tc.name+"/heuristics+ml", func(b *testing.B) { benchPipeline(b, []detect.Engine{h, m}, tc.r) })
	}
}

// BenchmarkClassifyUA measures the UA database alone.
func BenchmarkClassifyUA(b *testing.B) {
	h, _ := newEngines(b)
	db := h.UADB()
	for _, ua := range []string{
		chromeRequest().UserAgent(),
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"python-requests/2.32.3",
	} {
		b.Run(ua[:min(24, len(ua))], func(b *testing.B) {
			b.ReportAllocs()
			start, n := cpuTime(), 0
			for b.Loop() {
				db.Classify(ua)
				n++
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
		})
	}
}

// BenchmarkStartup measures building the engine (compiling the UA
// database) and reports the heap it retains.
func BenchmarkStartup(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var keep *heuristics.Engine
	start := time.Now()
	for b.Loop() {
		h, err := heuristics.New(heuristics.DefaultConfig(), zerolog.Nop(), nil)
		if err != nil {
			b.Fatal(err)
		}
		keep = h
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/start")
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MiB-heap-retained")
	runtime.KeepAlive(keep)
}
