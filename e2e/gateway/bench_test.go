package gateway

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkRequest compares one request through the in-repo gateway (route,
// header mutation, ext_authz over loopback gRPC to a double that allows,
// upstream proxy, access-log entry) with the same request straight to the
// origin: the gateway's cost as the e2e timings see it.
func BenchmarkRequest(b *testing.B) {
	r := newRig(b, Options{}, nil)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}
	run := func(b *testing.B, url string) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, "http://"+r.gw.opts.Clusters["origin"]+"/bench") })
	b.Run("gateway", func(b *testing.B) { run(b, r.gw.URL()+"/bench") })
}
