package loadtest

import (
	"errors"
	"fmt"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec clientCodec wraps
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// answer is what the load generator reads of a CheckResponse while it
// measures: the gRPC status code it tallies and which reply the proxy
// would apply. It skips the rest (headers, cookies, metadata, pages)
// instead of decoding them: in production that decoding is Envoy's work,
// in Envoy's process; done here in Go, on the same cores, it would charge
// the server under test for the client's CPU, and far more for botwarden's
// answer (headers, metadata) than for the do-nothing server's empty one. Config.FullDecode measures with complete decoding instead, and
// every run first fetches each answer once fully decoded (verify).
type answer struct {
	code       int32
	ok, denied bool
	wireLength int
}

// Fields of envoy.service.auth.v3.CheckResponse and google.rpc.Status.
const (
	responseStatus  protowire.Number = 1
	responseDenied  protowire.Number = 2
	responseOK      protowire.Number = 3
	statusCodeField protowire.Number = 1
)

var errTruncated = errors.New("truncated CheckResponse")

func (a *answer) decode(b []byte) error {
	*a = answer{wireLength: len(b)}
	return fields(b, func(num protowire.Number, typ protowire.Type, value []byte) error {
		switch {
		case num == responseStatus && typ == protowire.BytesType:
			status, _ := protowire.ConsumeBytes(value) // fields checked it
			return fields(status, func(num protowire.Number, typ protowire.Type, value []byte) error {
				if num == statusCodeField && typ == protowire.VarintType {
					code, _ := protowire.ConsumeVarint(value)
					a.code = int32(code)
				}
				return nil
			})
		case num == responseDenied:
			a.ok, a.denied = false, true
		case num == responseOK:
			a.ok, a.denied = true, false
		}
		return nil
	})
}

// fields calls fn with every field of the message in b: its number, wire
// type and encoded value (as protowire.ConsumeFieldValue delimits it).
func fields(b []byte, fn func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errTruncated, protowire.ParseError(n))
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return fmt.Errorf("%w: field %d: %w", errTruncated, num, protowire.ParseError(n))
		}
		if err := fn(num, typ, b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// fromResponse is the answer a fully decoded response amounts to.
func fromResponse(r *authv3.CheckResponse) answer {
	return answer{code: r.GetStatus().GetCode(), ok: r.GetOkResponse() != nil, denied: r.GetDeniedResponse() != nil}
}

// clientCodec is the standard protobuf codec, except that it decodes
// answers into *answer.
type clientCodec struct{ encoding.CodecV2 }

func newClientCodec() clientCodec { return clientCodec{encoding.GetCodecV2("proto")} }

func (c clientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	a, ok := v.(*answer)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return a.decode(buf.ReadOnlyData())
}
