package extauthz

import (
	"context"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/botwarden/botwarden/detect"
)

// rawClientCodec sends []byte requests as they are, so a test can put on
// the wire what protobuf-go would refuse to marshal.
type rawClientCodec struct{ encoding.CodecV2 }

func (c rawClientCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.([]byte); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// requestBytes is a CheckRequest carrying one extra header, encoded by
// hand: value may be any bytes.
func requestBytes(t *testing.T, name string, value []byte) []byte {
	t.Helper()
	base, err := proto.Marshal(checkRequest("/wire", chromeUA, nil))
	if err != nil {
		t.Fatal(err)
	}
	// attributes(1) > request(4) > http(2) > headers(3) map entry; the
	// parser merges this second occurrence into the first.
	var entry, httpReq, req, attrs []byte
	entry = protowire.AppendTag(entry, 1, protowire.BytesType)
	entry = protowire.AppendString(entry, name)
	entry = protowire.AppendTag(entry, 2, protowire.BytesType)
	entry = protowire.AppendBytes(entry, value)
	httpReq = protowire.AppendTag(httpReq, 3, protowire.BytesType)
	httpReq = protowire.AppendBytes(httpReq, entry)
	req = protowire.AppendTag(req, 2, protowire.BytesType)
	req = protowire.AppendBytes(req, httpReq)
	attrs = protowire.AppendTag(attrs, 4, protowire.BytesType)
	attrs = protowire.AppendBytes(attrs, req)
	out := protowire.AppendTag(base, 1, protowire.BytesType)
	return protowire.AppendBytes(out, attrs)
}

// TestCheckWireBadInput drives the real gRPC server (package wire decoding)
// with what a client or a broken proxy can send.
func TestCheckWireBadInput(t *testing.T) {
	conn := serveGRPC(t, newTestServer(t, testPipeline(), Options{}))
	invoke := func(b []byte) (*authv3.CheckResponse, error) {
		resp := &authv3.CheckResponse{}
		err := conn.Invoke(context.Background(), authv3.Authorization_Check_FullMethodName, b, resp,
			grpc.ForceCodecV2(rawClientCodec{encoding.GetCodecV2("proto")}))
		return resp, err
	}
	tests := []struct {
		name     string
		body     []byte
		wantCode codes.Code // of the decision; the RPC must succeed
	}{
		{"browser", requestBytes(t, "accept-language", []byte("en")), codes.OK},
		{"100 KiB header value", requestBytes(t, "x-filler", []byte(strings.Repeat("a", 100<<10))), codes.OK},
		{"100 KiB user agent of an HTTP library", requestBytes(t, "user-agent", []byte("curl/8.5.0 "+strings.Repeat("z", 100<<10))), codes.PermissionDenied},
		{"non-UTF-8 header value", requestBytes(t, "x-odd", []byte{0xff, 0xfe, 'a', 0xc3}), codes.OK},
		{"non-UTF-8 user agent", requestBytes(t, "user-agent", []byte("curl/\xff\xfe")), codes.PermissionDenied},
		{"empty request", nil, codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := invoke(tt.body)
			if err != nil {
				t.Fatalf("gRPC error for a decision: %v", err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != tt.wantCode {
				t.Fatalf("decision %v, want %v", got, tt.wantCode)
			}
			if resp.GetDynamicMetadata().GetFields()[detect.FieldBotScore] == nil {
				t.Fatal("answer without metadata")
			}
		})
	}
	for _, garbage := range [][]byte{{0xff, 0xff, 0xff}, {0x0a, 0x80}, {0x0a, 0x05, 0x01}} {
		if _, err := invoke(garbage); status.Code(err) != codes.Internal {
			t.Fatalf("malformed request %x: %v, want an Internal RPC error", garbage, err)
		}
	}
	if _, err := invoke(requestBytes(t, "accept", []byte("*/*"))); err != nil {
		t.Fatalf("server unusable after malformed requests: %v", err)
	}
}
