package extauthz

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botwarden/botwarden/extauthz/wire"
)

// TestCodecRoundTrip checks that every kind of answer wire.Codec marshals
// (with the vtprotobuf code under -tags vtprotobuf, protobuf-go without)
// reads back with protobuf-go as the same message, that the gRPC server's
// answer (metadata written as wire bytes) is the in-process one, and that
// messages without the fast path still work.
func TestCodecRoundTrip(t *testing.T) {
	s := newTestServer(t, testPipeline(), Options{})
	paths := []struct{ name, path, ua string }{
		{"allow", "/products/1", chromeUA},
		{"allow with cookies", "/cookie/a", chromeUA},
		{"block", "/", curlUA},
		{"block with cookies", "/cookie/b", curlUA},
		{"rate limit", "/limited/x", chromeUA},
		{"challenge", "/challenge/y", chromeUA},
		{"monitor", "/monitor/z", curlUA},
		{"verified", "/", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
		{"invalid utf-8 echoed", "/\xff\xfe", "curl/\xc3\x28"},
	}
	t.Logf("vtprotobuf fast path: %v", VTProtobuf())
	for _, tc := range paths {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.Check(context.Background(), checkRequest(tc.path, tc.ua, nil))
			if err != nil {
				t.Fatal(err)
			}
			got := roundTrip(t, resp)
			if !proto.Equal(got, resp) {
				t.Fatalf("round trip changed the answer:\n sent %v\n read %v", resp, got)
			}
			fast := roundTrip(t, s.checkWire(context.Background(), checkRequest(tc.path, tc.ua, nil)))
			if !proto.Equal(fast, resp) {
				t.Fatalf("gRPC answer differs from Check's:\n Check %v\n  gRPC %v", resp, fast)
			}
		})
	}
	t.Run("other messages use the standard codec", func(t *testing.T) {
		st, err := structpb.NewStruct(map[string]any{"a": "b", "n": 1.0})
		if err != nil {
			t.Fatal(err)
		}
		data, err := wire.Codec{}.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var back structpb.Struct
		if err := (wire.Codec{}).Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(st, &back) {
			t.Fatalf("got %v, want %v", &back, st)
		}
	})
	t.Run("non-proto values are an error", func(t *testing.T) {
		if _, err := (wire.Codec{}).Marshal(42); err == nil {
			t.Fatal("marshalled an int")
		}
	})
}

// roundTrip marshals resp (a *authv3.CheckResponse or a *wire.Response)
// with wire.Codec and reads it back with protobuf-go.
func roundTrip(t *testing.T, resp any) *authv3.CheckResponse {
	t.Helper()
	data, err := wire.Codec{}.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Free()
	if m, ok := resp.(proto.Message); ok && data.Len() != proto.Size(m) {
		t.Fatalf("marshalled %d bytes, protobuf-go says %d", data.Len(), proto.Size(m))
	}
	got := &authv3.CheckResponse{}
	if err := proto.Unmarshal(data.Materialize(), got); err != nil {
		t.Fatal(err)
	}
	return got
}

// A large answer (a big block page) goes through grpc's buffer pool.
func TestCodecPooledBuffer(t *testing.T) {
	resp := &authv3.CheckResponse{HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
		Body: string(make([]byte, 64<<10)),
	}}}
	if mem.IsBelowBufferPoolingThreshold(proto.Size(resp)) {
		t.Fatal("test answer is too small to be pooled")
	}
	if got := roundTrip(t, resp); !proto.Equal(got, resp) {
		t.Fatal("pooled round trip changed the answer")
	}
}

// BenchmarkCodecMarshal: a browser's answer as Check returns it, marshalled
// by protobuf-go (the baseline), and as the gRPC server answers it,
// marshalled by wire.Codec (vtprotobuf under -tags vtprotobuf).
func BenchmarkCodecMarshal(b *testing.B) {
	s := newTestServer(b, testPipeline(), Options{})
	typed, err := s.Check(context.Background(), browserCheckRequest())
	if err != nil {
		b.Fatal(err)
	}
	resp := s.checkWire(context.Background(), wireRequest(b, browserCheckRequest()))
	b.Run("proto.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := proto.Marshal(typed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Codec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			data, err := wire.Codec{}.Marshal(resp)
			if err != nil {
				b.Fatal(err)
			}
			data.Free()
		}
	})
}

// wireRequest is req as the gRPC server decodes it.
func wireRequest(t testing.TB, req *authv3.CheckRequest) *authv3.CheckRequest {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var w wire.Request
	if err := w.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	return &w.CheckRequest
}
