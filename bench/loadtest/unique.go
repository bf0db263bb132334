package loadtest

import (
	"bytes"
	"fmt"
	"sync/atomic"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// idDigits is the width of the sequence number Fresh stamps into every
// request's x-request-id.
const idDigits = 12

// Fresh is a request in wire form that is a new request every time it is
// sent: Envoy gives every request its own x-request-id, and botwarden keys
// on it (the analytics writer joins a decision with its access-log entry
// by it and stores a repeated id once), so a mix that repeated a hundred
// ids would measure a writer with almost nothing to store. The request is
// marshalled once with a fixed-width placeholder at the end of its id;
// Next copies the bytes and writes a sequence number over the placeholder,
// the same work for every target.
type Fresh struct {
	wire []byte
	at   int // offset of the placeholder's digits in wire
}

// seq numbers the sends of every Fresh of a process.
var seq atomic.Uint64

// NewFresh marshals req with its x-request-id (or "bench" if it has none)
// followed by "-" and idDigits zeros.
func NewFresh(req *authv3.CheckRequest) (*Fresh, error) {
	out := proto.Clone(req).(*authv3.CheckRequest)
	h := out.GetAttributes().GetRequest().GetHttp().GetHeaders()
	if h == nil {
		return nil, fmt.Errorf("loadtest: request without HTTP headers")
	}
	id := h["x-request-id"]
	if id == "" {
		id = "bench"
	}
	placeholder := id + "-" + string(bytes.Repeat([]byte{'0'}, idDigits))
	h["x-request-id"] = placeholder
	b, err := proto.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("loadtest: marshal request: %w", err)
	}
	i := bytes.Index(b, []byte(placeholder))
	if i < 0 || bytes.Count(b, []byte(placeholder)) != 1 {
		return nil, fmt.Errorf("loadtest: x-request-id %q not found once in the request's bytes", placeholder)
	}
	return &Fresh{wire: b, at: i + len(placeholder) - idDigits}, nil
}

// Next returns a copy of the request's bytes with the next sequence number
// in its x-request-id.
func (f *Fresh) Next() []byte {
	b := make([]byte, len(f.wire))
	copy(b, f.wire)
	n := seq.Add(1)
	for i := f.at + idDigits - 1; i >= f.at; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return b
}

// freshCall is what the load generator hands to conn.Invoke: the client
// codec sends Next's bytes as they are.
type freshCall struct{ *Fresh }

func (c clientCodec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(freshCall); ok {
		return mem.BufferSlice{mem.SliceBuffer(f.Next())}, nil
	}
	return c.CodecV2.Marshal(v)
}
