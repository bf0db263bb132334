package network

import (
	"context"
	"net/netip"
	"runtime"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ranges"
)

// Compare with BenchmarkBaseline (a do-nothing engine) from the same run.

func benchEval(b *testing.B, e detect.Engine, ip netip.Addr) {
	r := &detect.Request{ClientIP: ip, Headers: detect.Headers{"user-agent": "Mozilla/5.0"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v := detect.Verdict{}
		_ = e.Evaluate(ctx, r, &v)
	}
}

func BenchmarkBaseline(b *testing.B) {
	nop := detect.EngineFunc{EngineName: "nop", Fn: func(context.Context, *detect.Request, *detect.Verdict) error { return nil }}
	benchEval(b, nop, netip.MustParseAddr("86.1.2.3"))
}

func BenchmarkEvaluate(b *testing.B) {
	e := newEngine(b, DefaultConfig())
	s := embedded(b)
	cases := map[string]netip.Addr{
		"residential-v4": netip.MustParseAddr("86.1.2.3"),
		"residential-v6": netip.MustParseAddr("2a02:c7f:1::1"),
		"aws":            inside(s.Prefixes("cloud-amazon")[0]),
		"x4bnet":         inside(s.Prefixes(setDatacenter)[100]),
		"private-relay":  inside(s.Prefixes(setPrivateRelay)[0]),
	}
	for name, ip := range cases {
		b.Run(name, func(b *testing.B) { benchEval(b, e, ip) })
	}
}

func BenchmarkEvaluateWithMMDB(b *testing.B) {
	cfg := DefaultConfig()
	cfg.MMDB = []string{writeMMDBB(b, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"86.0.0.0/13": {"autonomous_system_number": mmdbtype.Uint32(5089), "autonomous_system_organization": mmdbtype.String("Virgin Media Limited")},
	}), writeMMDBB(b, "GeoLite2-Country", map[string]mmdbtype.Map{
		"86.0.0.0/13": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")}},
	})}
	e := newEngine(b, cfg)
	benchEval(b, e, netip.MustParseAddr("86.1.2.3"))
}

// BenchmarkLoad measures building the tables from a parsed snapshot and
// reports the heap the tables keep as kept-B.
func BenchmarkLoad(b *testing.B) {
	s := embedded(b)
	var kept uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		t := buildTables(s)
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(t)
	}
	b.ReportMetric(float64(kept), "kept-B")
}

// BenchmarkParseSnapshot is the parsing part of start-up: gunzip and decode
// the embedded snapshot.
func BenchmarkParseSnapshot(b *testing.B) {
	for b.Loop() {
		if _, err := ranges.Parse(embeddedRanges); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew is the whole start-up: parse the snapshot, build the tables.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(DefaultConfig(), zerolog.Nop(), nil); err != nil {
			b.Fatal(err)
		}
	}
}
