package wire

import (
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
)

// BenchmarkUnmarshal decodes the same ~1 KB, 22-header browser request
// with proto.Unmarshal into a new message (what the gRPC codec does: the
// baseline) and with Request.Unmarshal into a reused Request (a pooled one) and a
// new one.
func BenchmarkUnmarshal(b *testing.B) {
	wire := marshal(b, browserRequest())
	b.Run("proto.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			var req authv3.CheckRequest
			if err := proto.Unmarshal(wire, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wire", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		var r Request
		for b.Loop() {
			if err := r.Unmarshal(wire); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wire-new", func(b *testing.B) {
		b.SetBytes(int64(len(wire)))
		b.ReportAllocs()
		for b.Loop() {
			var r Request
			if err := r.Unmarshal(wire); err != nil {
				b.Fatal(err)
			}
		}
	})
}
