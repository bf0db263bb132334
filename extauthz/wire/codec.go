package wire

import (
	"fmt"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the default codec Codec falls back to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Codec is the gRPC codec of botwarden's server: the standard protobuf
// codec (same name, same wire format) that knows the two messages of the
// Check fast path:
//
//   - a *Request is decoded by Request.Unmarshal;
//   - a *Response, and any message with vtprotobuf code (a CheckResponse
//     built by go-control-plane with -tags vtprotobuf, which the Makefile
//     and the Dockerfile set), is marshalled by that generated code rather
//     than through protobuf-go's reflection. Without the tag the method
//     set is absent and protobuf-go marshals, with the same bytes.
//
// Every other message (health, access logs) goes to the standard codec
// unchanged.
type Codec struct{}

// vtMarshaler is the method set protoc-gen-go-vtproto generates in
// go-control-plane's *_vtproto.pb.go files (build tag vtprotobuf).
type vtMarshaler interface {
	SizeVT() int
	MarshalToSizedBufferVTStrict([]byte) (int, error)
}

// protoCodec is grpc-go's registered protobuf codec, the fallback.
var protoCodec = encoding.GetCodecV2("proto")

// VTProtobuf reports whether this binary was built with the vtprotobuf
// marshalling code (-tags vtprotobuf), for the startup log.
func VTProtobuf() bool {
	_, ok := any(&authv3.CheckResponse{}).(vtMarshaler)
	return ok
}

// ServerOption makes a gRPC server use Codec. A server with the service of
// ServiceDesc needs it: only Codec can decode a *Request.
func ServerOption() grpc.ServerOption { return grpc.ForceServerCodecV2(Codec{}) }

func (Codec) Name() string { return "proto" }

func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *Response:
		return encode(m.Msg, m.Metadata)
	case vtMarshaler:
		return encode(v, nil)
	}
	return protoCodec.Marshal(v)
}

// encode encodes msg followed by dynamic_metadata in its wire form (a
// message's encoding may be followed by more of its fields). Small answers
// get their own slice, large ones a buffer from gRPC's pool.
func encode(msg any, metadata []byte) (mem.BufferSlice, error) {
	vt, _ := msg.(vtMarshaler)
	msgLen := 0
	if vt != nil {
		msgLen = vt.SizeVT()
	} else {
		msgLen = proto.Size(msg.(proto.Message))
	}
	size := msgLen + len(metadata)
	if mem.IsBelowBufferPoolingThreshold(size) {
		out := make([]byte, size)
		if err := encodeInto(out, msgLen, msg, vt, metadata); err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(out)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if err := encodeInto((*buf)[:size], msgLen, msg, vt, metadata); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// encodeInto fills out, sized for msg's msgLen bytes and the metadata.
func encodeInto(out []byte, msgLen int, msg any, vt vtMarshaler, metadata []byte) error {
	var err error
	if vt != nil {
		_, err = vt.MarshalToSizedBufferVTStrict(out[:msgLen])
	} else {
		var b []byte
		b, err = proto.MarshalOptions{}.MarshalAppend(out[:0], msg.(proto.Message))
		if err == nil && len(b) != msgLen {
			err = fmt.Errorf("%d bytes, sized %d", len(b), msgLen)
		}
	}
	if err != nil {
		return fmt.Errorf("wire: marshal %T: %w", msg, err)
	}
	copy(out[msgLen:], metadata)
	return nil
}

func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*Request)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return r.Unmarshal(buf.ReadOnlyData()) // copies what it keeps
}

// Response is a CheckResponse as the Check handler answers it: the message
// without dynamic_metadata, and the metadata already in wire form (field
// dynamic_metadata, tag included, as StructWriter.Field writes it), so no
// google.protobuf.Struct map is built per answer.
type Response struct {
	Msg      *authv3.CheckResponse
	Metadata []byte
}

// responseDynamicMetadata is CheckResponse.dynamic_metadata's field number.
const responseDynamicMetadata protowire.Number = 4
