package ml

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
)

// benchRequests is a mix of what the engine sees: page views with and
// without a session, assets, an API call, a bot, from a few addresses. Each
// request comes with what earlier engines found: base, plus its session.
func benchRequests(base detect.Verdict) ([]*detect.Request, []*detect.Verdict) {
	var out []*detect.Request
	var vs []*detect.Verdict
	for i := 0; i < 64; i++ {
		v := base
		ip := netip.AddrFrom4([4]byte{203, 0, byte(i % 7), byte(i)})
		var r *detect.Request
		switch i % 4 {
		case 0:
			r = page(testChromeUA, fmt.Sprintf("/products/%d", i), detect.Headers{"cookie": "a=b", "referer": "https://shop.example/"})
			v.Session = &detect.Session{ID: fmt.Sprintf("s%d", i%9)}
		case 1:
			r = page(testChromeUA, "/static/app.js", detect.Headers{"sec-fetch-dest": "script", "accept": "*/*"})
		case 2:
			r = page(testFirefoxUA, "/api/v1/cart", detect.Headers{"sec-fetch-dest": "empty", "accept": "application/json"})
		default:
			r = &detect.Request{Method: "GET", Scheme: "https", Protocol: "HTTP/1.1", Path: "/products/1", Headers: detect.Headers{"user-agent": "python-requests/2.32.3", "accept": "*/*"}}
		}
		r.ClientIP = ip
		out, vs = append(out, r), append(vs, &v)
	}
	return out, vs
}

func loadBaseModel(tb testing.TB) *Model {
	tb.Helper()
	f, err := os.Open("testdata/model-2026.08.json")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	m, err := LoadModel(f)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func benchEngines(tb testing.TB) (base, ctx *Engine) {
	tb.Helper()
	cur, err := EmbeddedModel()
	if err != nil {
		tb.Fatal(err)
	}
	if base, err = NewWithModel(loadBaseModel(tb), zerolog.Nop(), nil); err != nil {
		tb.Fatal(err)
	}
	if ctx, err = NewWithModel(cur, zerolog.Nop(), nil); err != nil {
		tb.Fatal(err)
	}
	return base, ctx
}

// BenchmarkScore: the engine's per-request cost with the 2026.08 model
// (71 features, no context) and with today's (context features, page
// windows, calibration).
func BenchmarkScore(b *testing.B) {
	base, ctx := benchEngines(b)
	reqs, vs := benchRequests(detect.Verdict{IP: detect.IPInfo{Datacenter: true}, Tags: []string{"datacenter-ip"}})
	for _, bc := range []struct {
		name string
		e    *Engine
	}{{"model=2026.08", base}, {"model=2026.12", ctx}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				bc.e.Score(reqs[i%len(reqs)], vs[i%len(vs)])
			}
		})
	}
}

// BenchmarkContextRatio reports the cost of the context features as a
// same-run ratio: alternating rounds of the two engines over the same
// requests (the shared machine's load hits both), the median of the
// per-round ratios, and each engine's median ns per request.
func BenchmarkContextRatio(b *testing.B) {
	base, ctx := benchEngines(b)
	reqs, vs := benchRequests(detect.Verdict{})
	const perRound = 20000
	round := func(e *Engine) float64 {
		start := time.Now()
		for i := 0; i < perRound; i++ {
			e.Score(reqs[i%len(reqs)], vs[i%len(vs)])
		}
		return float64(time.Since(start).Nanoseconds()) / perRound
	}
	var ratios, nsBase, nsCtx []float64
	for b.Loop() {
		nb, nc := round(base), round(ctx)
		nsBase, nsCtx, ratios = append(nsBase, nb), append(nsCtx, nc), append(ratios, nc/nb)
	}
	med := func(x []float64) float64 { s := slices.Clone(x); slices.Sort(s); return s[len(s)/2] }
	b.ReportMetric(med(ratios), "ratio")
	b.ReportMetric(med(nsBase), "ns-2026.08/req")
	b.ReportMetric(med(nsCtx), "ns-2026.12/req")
	b.ReportMetric(0, "ns/op")
}
