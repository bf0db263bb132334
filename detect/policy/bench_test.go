package policy

import (
	"context"
	"net/netip"
	"testing"

	"github.com/botwarden/botwarden/detect"
)

// nopDecider is the do-nothing baseline: it allows everything.
type nopDecider struct{}

func (nopDecider) Decide(_ context.Context, _ *detect.Request, v *detect.Verdict) {
	v.Action, v.EnforcedAction, v.RuleID, v.Mode = detect.ActionAllow, detect.ActionAllow, DefaultRuleID, detect.ModeMitigate
}

// benchTraffic is a realistic mix: mostly people, some automation, a
// verified crawler, static assets.
func benchTraffic() []struct {
	r *detect.Request
	v detect.Verdict
} {
	human := browser()
	asset := browser()
	asset.Path = "/static/app.3f9a1c.js"
	curl := browser()
	curl.Headers = detect.Headers{"user-agent": "curl/8.5.0", "accept": "*/*"}
	curl.Path = "/login"
	curl.Method = "POST"
	google := browser()
	google.ClientIP = netip.MustParseAddr("66.249.66.1")
	google.Headers = detect.Headers{"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "accept": "*/*"}
	scraper := browser()
	scraper.Path = "/api/products?page=7"
	scraper.ClientIP = netip.MustParseAddr("10.20.30.40")
	scraper.Headers["x-api-key"] = "k-123"
	verified := detect.Verdict{Score: 1, Source: detect.SourceHeuristics}
	verified.MarkVerified("googlebot", "search_engine")
	return []struct {
		r *detect.Request
		v detect.Verdict
	}{
		{human, detect.Verdict{Score: 87, Source: detect.SourceML}},
		{human, detect.Verdict{Score: 64, Source: detect.SourceML}},
		{asset, detect.Verdict{Score: 71, Source: detect.SourceML}},
		{curl, detect.Verdict{Score: 1, Source: detect.SourceHeuristics, DetectionIDs: []int{100}, Tags: []string{"http-library"}}},
		{google, verified},
		{scraper, detect.Verdict{Score: 14, Source: detect.SourceML, IP: detect.IPInfo{Datacenter: true, ASN: 16509}}},
	}
}

// BenchmarkDecide measures one Decide over the traffic mix with the
// embedded default policy and with testdata/example.yaml (more rules, CIDR
// lists, header and cookie reads, two rate limits), against a do-nothing
// Decider in the same run; "-parallel" runs on every core at once (shared
// policy pointer, pooled activations, rate-limit shards).
func BenchmarkDecide(b *testing.B) {
	def, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	ex, err := LoadFile("testdata/example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	traffic := benchTraffic()
	deciders := []struct {
		name string
		d    detect.Decider
	}{
		{"baseline-nop", nopDecider{}},
		{"default-policy", deciderFor(b, def)},
		{"example-policy", deciderFor(b, ex)},
	}
	for _, parallel := range []bool{false, true} {
		for _, bc := range deciders {
			name := bc.name
			if parallel {
				name += "-parallel"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				run := func(next func() bool) {
					ctx := context.Background()
					v := new(detect.Verdict)
					for i := 0; next(); i++ {
						t := &traffic[i%len(traffic)]
						*v = t.v // fresh evidence; Decide writes the decision fields
						bc.d.Decide(ctx, t.r, v)
					}
				}
				if parallel {
					b.RunParallel(func(pb *testing.PB) { run(pb.Next) })
				} else {
					run(b.Loop)
				}
			})
		}
	}
}

// BenchmarkCompile is the cost of loading the example policy (a reload).
func BenchmarkCompile(b *testing.B) {
	data, err := readFile("testdata/example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(data, "example.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}
