package verified

import (
	"context"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
)

// Benchmarks per request; compare each with BenchmarkBaseline (an engine
// that does nothing, called the same way) from the same run.

func benchEval(b *testing.B, e detect.Engine, ip netip.Addr, ua string) {
	r := &detect.Request{ClientIP: ip, Headers: detect.Headers{
		"user-agent": ua, "accept": "text/html", "accept-language": "en-US,en;q=0.9",
		"accept-encoding": "gzip, br", "sec-ch-ua": `"Chromium";v="139"`,
	}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v := detect.Verdict{}
		_ = e.Evaluate(ctx, r, &v)
	}
}

func benchEngine(b *testing.B) *Engine {
	res := newFakeResolver()
	res.fcrdns("203.0.113.7", "cpe-203-0-113-7.example-isp.net")
	e := testEngine(b, DefaultConfig(), WithResolver(res))
	e.Start()
	// Warm the DNS cache for the spoofed case.
	e.Check(context.Background(), residential, uaGooglebot)
	return e
}

func BenchmarkBaseline(b *testing.B) {
	nop := detect.EngineFunc{EngineName: "nop", Fn: func(context.Context, *detect.Request, *detect.Verdict) error { return nil }}
	benchEval(b, nop, residential, uaChrome)
}

func BenchmarkEvaluate(b *testing.B) {
	e := benchEngine(b)
	g := firstAddr(b, e, "googlebot")
	cases := []struct {
		name string
		ip   netip.Addr
		ua   string
	}{
		{"browser", residential, uaChrome},
		{"googlebot-verified", g, uaGooglebot},
		{"googlebot-spoofed-cached", residential, uaGooglebot},
		{"gptbot-spoofed", residential, uaGPTBot},
		{"ai-claudebot", residential, uaClaudeBot},
		{"ua-10KiB", residential, strings.Repeat("Mozilla/5.0 ", 10<<10/12)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchEval(b, e, c.ip, c.ua) })
	}
}

// BenchmarkLoad measures start-up: parsing the embedded snapshot, building
// the prefix table, the token index and the AI catalogue. It reports the
// heap the engine keeps (live bytes after GC) as kept-B.
func BenchmarkLoad(b *testing.B) {
	var kept uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e, err := New(DefaultConfig(), zerolog.Nop(), nil)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(e)
	}
	b.ReportMetric(float64(kept), "kept-B")
}
