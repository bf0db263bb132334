package server

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"testing"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect"
)

// BenchmarkPipeline measures the pipeline `botwarden serve` runs on its
// defaults (every engine, the default policy, the session finisher) against
// an empty pipeline in the same run. Requests cycle through a browser mix
// and bots from many addresses, so caches see realistic reuse, not one key.
func BenchmarkPipeline(b *testing.B) {
	cfg := config.Default()
	srv, err := New(cfg, zerolog.New(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	reqs := benchRequests(256)
	run := func(b *testing.B, p *detect.Pipeline) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Check(context.Background(), reqs[i%len(reqs)])
			i++
		}
	}
	b.Run("empty-baseline", func(b *testing.B) { run(b, &detect.Pipeline{}) })
	b.Run("all-engines+policy", func(b *testing.B) { run(b, srv.Pipeline()) })
	engines := &detect.Pipeline{Engines: srv.Pipeline().Engines}
	b.Run("all-engines", func(b *testing.B) { run(b, engines) })
	for _, e := range srv.Pipeline().Engines {
		one := &detect.Pipeline{Engines: []detect.Engine{e}}
		b.Run("engine="+e.Name(), func(b *testing.B) { run(b, one) })
	}
}

func benchRequests(n int) []*detect.Request {
	uas := []string{
		chromeUA,
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"python-requests/2.32.3",
		"curl/8.5.0",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
	}
	reqs := make([]*detect.Request, n)
	for i := range reqs {
		h := detect.Headers{}
		for k, v := range chromeHeaders() {
			h[k] = v
		}
		ua := uas[i%len(uas)]
		h["user-agent"] = ua
		if i%len(uas) >= 3 { // non-browsers send few headers
			h = detect.Headers{"user-agent": ua, "accept": "*/*", "accept-encoding": "gzip"}
		}
		reqs[i] = &detect.Request{
			ClientIP: netip.MustParseAddr(fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)),
			Method:   "GET", Scheme: "https", Host: "shop.example", Protocol: "HTTP/2",
			Path: fmt.Sprintf("/product/%d", i), Headers: h,
		}
	}
	return reqs
}
