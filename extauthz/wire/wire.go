// Package wire is the fast path of botwarden's ext_authz gRPC server: the
// Check request decoded straight from the protobuf wire format, the answer
// marshalled with go-control-plane's vtprotobuf code and its dynamic
// metadata written as wire bytes, and the service description whose handler
// ties them together. Package extauthz holds the mapping itself (CheckRequest
// to detect.Request, verdict to CheckResponse) in go-control-plane's types;
// nothing here decides what a field means, only how to move it quickly.
//
// Why it exists: protobuf-go decodes a CheckRequest through reflection,
// allocating every message, map and string and validating UTF-8, and
// go-control-plane ships vtprotobuf marshal code but no unmarshal code; for
// a request the size of a browser's that costs more than the detection
// pipeline. Request.Unmarshal reads only the fields the mapping reads, with
// protowire (the library's own low-level reader, so there is no hand-rolled
// varint code), into pooled go-control-plane messages. BENCHMARKS.md at the
// repository root has the figures and how to reproduce them.
//
// A faster decoder is only acceptable if it agrees with proto.Unmarshal. On
// every input proto.Unmarshal accepts, Unmarshal gives the same values for
// every field it reads (FuzzUnmarshal checks exactly that, differentially):
// last value wins for singular fields, repeated occurrences of a
// sub-message merge, a oneof member replaced by another is cleared, a known
// field with an unexpected wire type is skipped as unknown, map entries may
// omit or repeat their key and value in any order. On input proto.Unmarshal
// rejects, Unmarshal may succeed or fail but never panics or loops;
// malformed wire data returns an error wrapped as "wire: <message>: <cause>".
//
// Deliberate divergence: proto.Unmarshal rejects invalid UTF-8 in string
// fields, Unmarshal accepts it and keeps the bytes as they are. Envoy already
// replaces invalid header bytes, and a verdict is worth more than an RPC
// error. Unmarshal also does not look inside the fields it skips, so input
// that is malformed only there (say, a bad tls_session) decodes fine.
//
// There is no size limit of its own: work and memory are linear in len(b),
// which gRPC's receive limit (4 MiB by default) already bounds.
package wire

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Request is a CheckRequest decoded by Unmarshal: CheckRequest holds the
// fields package extauthz reads, and nothing else; the other fields of
// Request are the messages it points into, kept so that a pooled Request
// decodes the next one without allocating them again. Every string is a
// fresh copy (or a static interned constant), never a view into the decoded
// buffer, so any string may be kept after the call without pinning it.
// The context_extensions map is new on every call, since a detect.Request
// keeps it; the header map and slices are reused.
type Request struct {
	authv3.CheckRequest

	attrs     authv3.AttributeContext
	source    authv3.AttributeContext_Peer
	address   corev3.Address
	socket    corev3.Address_SocketAddress
	sockAddr  corev3.SocketAddress
	request   authv3.AttributeContext_Request
	time      timestamppb.Timestamp
	http      authv3.AttributeContext_HttpRequest
	headerMap corev3.HeaderMap
	headers   map[string]string
	values    []corev3.HeaderValue
	pointers  []*corev3.HeaderValue
}

// Field numbers, from the go-control-plane generated code
// (service/auth/v3/attribute_context.pb.go, external_auth.pb.go,
// config/core/v3/address.pb.go, base.pb.go) and timestamppb.
const (
	checkRequestAttributes = 1

	attrSource            = 1 // AttributeContext.Peer
	attrRequest           = 4 // AttributeContext.Request
	attrContextExtensions = 10

	peerAddress = 1 // config.core.v3.Address

	addressSocketAddress = 1 // oneof address { socket_address = 1;
	addressPipe          = 2 //                 pipe = 2;
	addressEnvoyInternal = 3 //                 envoy_internal_address = 3; }
	socketAddressAddress = 2

	requestTime      = 1 // google.protobuf.Timestamp
	requestHTTP      = 2 // AttributeContext.HttpRequest
	timestampSeconds = 1
	timestampNanos   = 2

	httpID        = 1
	httpMethod    = 2
	httpHeaders   = 3 // map<string, string>
	httpPath      = 4
	httpHost      = 5
	httpScheme    = 6
	httpQuery     = 7
	httpProtocol  = 10
	httpHeaderMap = 13 // config.core.v3.HeaderMap

	headerMapHeaders    = 1 // repeated HeaderValue
	headerValueKey      = 1
	headerValueValue    = 2
	headerValueRawValue = 3

	mapEntryKey   = 1
	mapEntryValue = 2
)

const (
	// A browser request plus Envoy's own headers fit without growing.
	initialHeaderCapacity = 32
	// Envoy rejects requests whose headers exceed max_request_headers_kb,
	// 60 KiB by default, so an HttpRequest larger than this carries a
	// body or comes from a hostile client; only then is the extra pass
	// that sizes the header map up front worth it.
	largeHTTPRequest = 64 << 10
)

// Unmarshal resets r, reusing its header map and slices, and decodes the
// CheckRequest in b into it. b is not retained. On error r holds whatever
// was decoded before the error.
func (r *Request) Unmarshal(b []byte) error {
	r.reset()
	d := decoder{r: r}
	return d.checkRequest(b)
}

// reset empties every message, keeping the header map and slices.
func (r *Request) reset() {
	clear(r.headers)
	clear(r.values)
	clear(r.pointers)
	r.CheckRequest = authv3.CheckRequest{}
	r.attrs = authv3.AttributeContext{}
	r.source = authv3.AttributeContext_Peer{}
	r.address = corev3.Address{}
	r.socket = corev3.Address_SocketAddress{}
	r.sockAddr = corev3.SocketAddress{}
	r.request = authv3.AttributeContext_Request{}
	r.time = timestamppb.Timestamp{}
	r.http = authv3.AttributeContext_HttpRequest{}
	r.headerMap = corev3.HeaderMap{}
	r.values, r.pointers = r.values[:0], r.pointers[:0]
}

// Pooled reports whether r is small enough to keep for the next request:
// one grown by a request with thousands of headers is left to the GC.
func (r *Request) Pooled() bool {
	return len(r.headers) <= maxPooledHeaders && cap(r.values) <= maxPooledHeaders
}

const maxPooledHeaders = 256

// decoder walks the message tree of one Unmarshal call.
type decoder struct{ r *Request }

// field is one decoded field: its number and wire type, and its payload
// for the two types this package reads.
type field struct {
	num    protowire.Number
	typ    protowire.Type
	bytes  []byte // BytesType
	varint uint64 // VarintType
}

func (f field) isBytes(num protowire.Number) bool {
	return f.num == num && f.typ == protowire.BytesType
}

func (f field) isVarint(num protowire.Number) bool {
	return f.num == num && f.typ == protowire.VarintType
}

// each calls fn for every field of the message in b, in wire order. Groups
// and other wire types are consumed whole (protowire.ConsumeFieldValue), so
// fn never sees their contents; it decides per field what to keep, and a
// field it does not recognise (including a known number with an unexpected
// wire type, which protobuf-go also treats as unknown) is simply ignored.
func each(msg string, b []byte, fn func(field) error) error {
	for len(b) > 0 {
		var f field
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("wire: %s: %w", msg, protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber { // protobuf-go rejects these too
			return fmt.Errorf("wire: %s: field number %d out of range", msg, num)
		}
		b = b[n:]
		f.num, f.typ = num, typ
		switch typ {
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			f.varint, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("wire: %s field %d: %w", msg, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// only calls fn with the payload of every length-delimited field num of
// the message in b, for messages of which one field is read.
func only(msg string, b []byte, num protowire.Number, fn func([]byte) error) error {
	return each(msg, b, func(f field) error {
		if f.isBytes(num) {
			return fn(f.bytes)
		}
		return nil
	})
}

// Each sub-message below is attached to its parent when it is first seen,
// as proto.Unmarshal does, and later occurrences merge into it.

func (d *decoder) checkRequest(b []byte) error {
	return only("CheckRequest", b, checkRequestAttributes, func(b []byte) error {
		d.r.Attributes = &d.r.attrs
		return d.attributes(b)
	})
}

func (d *decoder) attributes(b []byte) error {
	a := &d.r.attrs
	return each("AttributeContext", b, func(f field) error {
		switch {
		case f.isBytes(attrSource):
			a.Source = &d.r.source
			return d.peer(f.bytes)
		case f.isBytes(attrRequest):
			a.Request = &d.r.request
			return d.request(f.bytes)
		case f.isBytes(attrContextExtensions):
			k, v, err := mapEntry("AttributeContext.context_extensions", f.bytes)
			if err != nil {
				return err
			}
			if a.ContextExtensions == nil {
				a.ContextExtensions = make(map[string]string)
			}
			a.ContextExtensions[k] = v
		}
		return nil
	})
}

func (d *decoder) peer(b []byte) error {
	return only("AttributeContext.Peer", b, peerAddress, func(b []byte) error {
		d.r.source.Address = &d.r.address
		return d.address(b)
	})
}

func (d *decoder) address(b []byte) error {
	r := d.r
	return each("Address", b, func(f field) error {
		switch {
		case f.isBytes(addressSocketAddress):
			// A second socket_address merges into the first; after
			// another member of the oneof it starts afresh.
			if r.address.Address == nil {
				r.sockAddr = corev3.SocketAddress{}
				r.socket.SocketAddress = &r.sockAddr
				r.address.Address = &r.socket
			}
			return d.socketAddress(f.bytes)
		case f.isBytes(addressPipe), f.isBytes(addressEnvoyInternal):
			// Another member of the oneof replaces socket_address; which
			// one is not read, so none is kept.
			r.address.Address = nil
		}
		return nil
	})
}

func (d *decoder) socketAddress(b []byte) error {
	return only("SocketAddress", b, socketAddressAddress, func(v []byte) error {
		d.r.sockAddr.Address = str(v)
		return nil
	})
}

func (d *decoder) request(b []byte) error {
	r := d.r
	return each("AttributeContext.Request", b, func(f field) error {
		switch {
		case f.isBytes(requestTime):
			r.request.Time = &r.time
			return d.timestamp(f.bytes)
		case f.isBytes(requestHTTP):
			r.request.Http = &r.http
			return d.http(f.bytes)
		}
		return nil
	})
}

func (d *decoder) timestamp(b []byte) error {
	t := &d.r.time
	return each("Timestamp", b, func(f field) error {
		switch {
		case f.isVarint(timestampSeconds):
			t.Seconds = int64(f.varint)
		case f.isVarint(timestampNanos):
			t.Nanos = int32(f.varint) // int32 fields keep the low 32 bits
		}
		return nil
	})
}

func (d *decoder) http(b []byte) error {
	h := &d.r.http
	if len(b) > largeHTTPRequest && h.Headers == nil {
		n, err := count("HttpRequest", b, httpHeaders)
		if err != nil {
			return err
		}
		if n > len(d.r.headers) {
			d.r.headers = make(map[string]string, n)
		}
	}
	return each("HttpRequest", b, func(f field) error {
		if f.typ != protowire.BytesType {
			return nil // HttpRequest.size, the only varint, is not read
		}
		switch f.num {
		case httpID:
			h.Id = str(f.bytes)
		case httpMethod:
			h.Method = str(f.bytes)
		case httpPath:
			h.Path = str(f.bytes)
		case httpHost:
			h.Host = str(f.bytes)
		case httpScheme:
			h.Scheme = str(f.bytes)
		case httpQuery:
			h.Query = str(f.bytes)
		case httpProtocol:
			h.Protocol = str(f.bytes)
		case httpHeaders:
			k, v, err := mapEntry("HttpRequest.headers", f.bytes)
			if err != nil {
				return err
			}
			if h.Headers == nil {
				if d.r.headers == nil {
					d.r.headers = make(map[string]string, initialHeaderCapacity)
				}
				h.Headers = d.r.headers
			}
			h.Headers[k] = v
		case httpHeaderMap:
			h.HeaderMap = &d.r.headerMap
			return d.headerMap(f.bytes)
		}
		return nil
	})
}

// headerMap appends the HeaderValues of one header_map occurrence. The
// values live in one slice and the pointers the message holds in another,
// both reused, instead of one allocation per header.
func (d *decoder) headerMap(b []byte) error {
	r := d.r
	n, err := count("HeaderMap", b, headerMapHeaders)
	if err != nil {
		return err
	}
	if need := len(r.values) + n; need > cap(r.values) {
		// Growing would move the values the pointers point at: start a
		// new backing array and copy, leaving the old one to the
		// pointers already handed out.
		values := make([]corev3.HeaderValue, len(r.values), max(need, initialHeaderCapacity))
		for i := range r.values {
			values[i] = corev3.HeaderValue{Key: r.values[i].Key, Value: r.values[i].Value, RawValue: r.values[i].RawValue}
			r.pointers[i] = &values[i]
		}
		r.values = values
	}
	err = each("HeaderMap", b, func(f field) error {
		if !f.isBytes(headerMapHeaders) {
			return nil
		}
		r.values = append(r.values, corev3.HeaderValue{})
		h := &r.values[len(r.values)-1]
		err := each("HeaderValue", f.bytes, func(f field) error {
			switch {
			case f.isBytes(headerValueKey):
				h.Key = str(f.bytes)
			case f.isBytes(headerValueValue):
				h.Value = str(f.bytes)
			case f.isBytes(headerValueRawValue):
				h.RawValue = nil
				if len(f.bytes) > 0 {
					h.RawValue = append([]byte(nil), f.bytes...)
				}
			}
			return nil
		})
		r.pointers = append(r.pointers, h)
		return err
	})
	r.headerMap.Headers = r.pointers
	return err
}

// Tags of a map entry's key and value (fields 1 and 2, length-delimited).
var (
	mapKeyTag   = byte(protowire.EncodeTag(mapEntryKey, protowire.BytesType))
	mapValueTag = byte(protowire.EncodeTag(mapEntryValue, protowire.BytesType))
)

// keyThenValue splits b if it is exactly a key field followed by a value
// field; ok is false for any other layout, which the general path reads.
func keyThenValue(b []byte) (k, v []byte, ok bool) {
	if len(b) == 0 || b[0] != mapKeyTag {
		return nil, nil, false
	}
	k, n := protowire.ConsumeBytes(b[1:])
	if n < 0 {
		return nil, nil, false
	}
	rest := b[1+n:]
	if len(rest) == 0 || rest[0] != mapValueTag {
		return nil, nil, false
	}
	v, m := protowire.ConsumeBytes(rest[1:])
	if m < 0 || 1+m != len(rest) {
		return nil, nil, false
	}
	return k, v, true
}

// count returns how many length-delimited fields numbered num the message
// in b holds, so that a slice or map can be sized once: on hostile input of
// millions of tiny entries, repeated growth would allocate several times
// the final size.
func count(msg string, b []byte, num protowire.Number) (int, error) {
	n := 0
	err := only(msg, b, num, func([]byte) error {
		n++
		return nil
	})
	return n, err
}

// mapEntry decodes a map<string, string> entry: fields in any order,
// repeated (last wins) or missing (""). The form every encoder writes, the
// key and then the value, is read straight off: a header map is most of
// a request, and this saves walking each entry field by field.
func mapEntry(msg string, b []byte) (key, value string, err error) {
	if k, v, ok := keyThenValue(b); ok {
		return str(k), str(v), nil
	}
	err = each(msg, b, func(f field) error {
		switch {
		case f.isBytes(mapEntryKey):
			key = str(f.bytes)
		case f.isBytes(mapEntryValue):
			value = str(f.bytes)
		}
		return nil
	})
	return key, value, err
}
