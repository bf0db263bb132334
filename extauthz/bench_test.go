package extauthz

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/extauthz/wire"
)

// browserCheckRequest is what Envoy sends for a Chrome navigation.
func browserCheckRequest() *authv3.CheckRequest {
	return checkRequest("/products/42?ref=home", chromeUA, map[string]string{
		"accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
		"accept-encoding":           "gzip, deflate, br, zstd",
		"accept-language":           "en-US,en;q=0.9",
		"cookie":                    "theme=dark; _ga=GA1.1.1234567890.1700000000",
		"sec-ch-ua":                 `"Chromium";v="126", "Google Chrome";v="126", "Not-A.Brand";v="8"`,
		"sec-ch-ua-mobile":          "?0",
		"sec-ch-ua-platform":        `"Linux"`,
		"sec-fetch-dest":            "document",
		"sec-fetch-mode":            "navigate",
		"sec-fetch-site":            "same-origin",
		"sec-fetch-user":            "?1",
		"upgrade-insecure-requests": "1",
		"x-forwarded-for":           "203.0.113.9",
		"x-forwarded-proto":         "https",
		"x-envoy-external-address":  "203.0.113.9",
		"x-botwarden-ja4":           "t13d1516h2_8daaf6152771_02713d6af862",
	})
}

// noopAuthz is the do-nothing baseline: answer OK, look at nothing.
type noopAuthz struct {
	authv3.UnimplementedAuthorizationServer
}

var noopResponse = &authv3.CheckResponse{Status: &rpcstatus.Status{}}

func (noopAuthz) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return noopResponse, nil
}

// BenchmarkCheck measures one Check in process. "codec" variants add what
// gRPC does around the handler (unmarshal the request, marshal the
// response), so their ratio to codec/noop is the server-side cost of a
// decision relative to a do-nothing ext_authz server.
func BenchmarkCheck(b *testing.B) {
	wire, err := proto.Marshal(browserCheckRequest())
	if err != nil {
		b.Fatal(err)
	}
	servers := []struct {
		name string
		srv  authv3.AuthorizationServer
	}{
		{"noop", noopAuthz{}},
		{"empty_pipeline", newTestServer(b, &detect.Pipeline{}, Options{})},
		{"trivial_engine", newTestServer(b, testPipeline(), Options{})},
		{"trivial_engine_inline", newTestServer(b, &detect.Pipeline{Engines: []detect.Engine{testEngine}, Decider: testDecider{}, Budget: -1}, Options{})},
	}
	for _, s := range servers {
		b.Run("handler/"+s.name, func(b *testing.B) {
			req := browserCheckRequest()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.srv.Check(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, s := range servers {
		b.Run("codec/"+s.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				req := &authv3.CheckRequest{}
				if err := proto.Unmarshal(wire, req); err != nil {
					b.Fatal(err)
				}
				resp, err := s.srv.Check(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := proto.Marshal(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConvert isolates the CheckRequest → detect.Request conversion.
func BenchmarkConvert(b *testing.B) {
	req := browserCheckRequest()
	cfg := DefaultConfig()
	cfg.ClientIP = ClientIPConfig{UseXFF: true, PeerFallback: true}
	lim := cfg.limits()
	b.ReportAllocs()
	for b.Loop() {
		fromCheckRequest(req, cfg.ClientIP, lim)
	}
}

// BenchmarkAnswer is what the gRPC server spends answering once the
// verdict is known, per kind of answer: the mapping of the request and of
// the verdict, the metadata and the marshalling, with the test engine and
// decider (no real pipeline).
func BenchmarkAnswer(b *testing.B) {
	s := newTestServer(b, &detect.Pipeline{Engines: []detect.Engine{testEngine}, Decider: testDecider{}, Budget: -1}, Options{})
	cases := []struct{ name, path, ua string }{
		{"allow", "/products/42", chromeUA},
		{"allow-cookies", "/cookie/a", chromeUA},
		{"block", "/products/42", curlUA},
		{"rate-limit", "/limited/x", chromeUA},
	}
	ctx := context.Background()
	for _, tc := range cases {
		req := wireRequest(b, checkRequest(tc.path, tc.ua, nil))
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				data, err := wire.Codec{}.Marshal(s.checkWire(ctx, req))
				if err != nil {
					b.Fatal(err)
				}
				data.Free()
			}
		})
	}
}
