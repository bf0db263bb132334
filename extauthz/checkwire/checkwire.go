// Package checkwire decodes the few fields botwarden reads from an Envoy
// ext_authz envoy.service.auth.v3.CheckRequest straight from the protobuf
// wire format into a flat Request, skipping everything else.
//
// It exists for speed: protobuf-go's reflection-driven proto.Unmarshal of a
// typical ~1 KB CheckRequest costs 15-21 µs and 115-175 allocations (every
// message struct, the header map, UTF-8 validation), more than the whole
// detection pipeline (~6 µs), and go-control-plane ships vtprotobuf marshal
// code but no unmarshal code. On BenchmarkUnmarshal's browser request this
// package takes about a quarter of the time and a ninth of the allocations.
// The wire is read with protowire, the library's own low-level reader, so
// there is no hand-rolled varint code here.
//
// A faster decoder is only acceptable if it agrees with proto.Unmarshal.
// On every input proto.Unmarshal accepts, Unmarshal returns the same view
// (FuzzUnmarshal checks exactly that, differentially): last value wins for
// singular fields, repeated occurrences of a sub-message merge, a oneof
// member replaced by another is cleared, a known field with an unexpected
// wire type is skipped as unknown, map entries may omit or repeat their key
// and value in any order. On input proto.Unmarshal rejects, Unmarshal may
// succeed or fail but never panics or loops; malformed wire data returns an
// error wrapped as "checkwire: <message>: <cause>".
//
// Deliberate divergence: proto.Unmarshal rejects invalid UTF-8 in string
// fields, Unmarshal accepts it and keeps the bytes as they are. Envoy already
// replaces invalid header bytes, and a verdict is worth more than an RPC
// error. Unmarshal also does not look inside the fields it skips, so input
// that is malformed only there (say, a bad tls_session) decodes fine.
//
// There is no size limit of its own: work and memory are linear in len(b),
// which gRPC's receive limit (4 MiB by default) already bounds, and slices
// are sized before hostile millions of tiny header entries are appended,
// so a worst-case 4 MiB request allocates less than proto.Unmarshal's.
package checkwire

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Request is the part of an envoy.service.auth.v3.CheckRequest botwarden
// reads. Every string is a fresh copy (or a static interned constant), never
// a view into the decoded buffer nor a substring of a shared one, so any
// string may be kept after the call without pinning the request.
type Request struct {
	// HasHTTP reports that attributes.request.http was present (even empty).
	HasHTTP bool
	// HttpRequest fields 1, 2, 4, 5, 6, 7 and 10.
	ID, Method, Path, Host, Scheme, Query, Protocol string
	// Headers is HttpRequest.headers (a proto map) with map semantics: a key
	// seen again later on the wire replaces the value but keeps the position
	// of its first occurrence, so keys are unique. An entry without key or
	// value means "".
	Headers []Header
	// HeaderMap is HttpRequest.header_map.headers (Envoy's
	// encode_raw_headers form) in wire order, duplicates kept.
	HeaderMap []RawHeader
	// Time is attributes.request.time; it is set, and HasTime true, only
	// when the timestamp is present and valid per timestamppb's IsValid.
	Time    time.Time
	HasTime bool
	// PeerAddress is attributes.source.address.socket_address.address, ""
	// when absent; HasSocketAddress reports whether the socket_address
	// member of the Address oneof was set.
	PeerAddress      string
	HasSocketAddress bool
	// ContextExtensions is attributes.context_extensions, nil if none. It
	// is a new map on every call.
	ContextExtensions map[string]string
}

// Header is one HttpRequest.headers map entry.
type Header struct{ Key, Value string }

// RawHeader is one envoy.config.core.v3.HeaderValue.
type RawHeader struct {
	Key, Value string
	RawValue   []byte // nil when empty, like proto.Unmarshal
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
	// timestamppb's IsValid range: 0001-01-01T00:00:00Z to
	// 9999-12-31T23:59:59Z.
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799

	// A browser request plus Envoy's own headers fit without growing.
	initialHeaderCapacity = 32
	// Below this many headers a linear scan finds a duplicate key faster
	// than a map; above it (rare in real requests, easy for hostile ones)
	// an index keeps the work linear.
	linearDedupMax = 32
	// Envoy rejects requests whose headers exceed max_request_headers_kb,
	// 60 KiB by default, so an HttpRequest larger than this carries a
	// body or comes from a hostile client; only then is the extra pass
	// that sizes Headers up front worth it.
	largeHTTPRequest = 64 << 10
)

// Unmarshal resets r, reusing the capacity of its Headers and HeaderMap, and
// decodes the CheckRequest in b into it. b is not retained. On error r holds
// whatever was decoded before the error.
func (r *Request) Unmarshal(b []byte) error {
	clear(r.Headers)
	clear(r.HeaderMap)
	*r = Request{Headers: r.Headers[:0], HeaderMap: r.HeaderMap[:0]}
	d := decoder{r: r}
	if err := d.checkRequest(b); err != nil {
		return err
	}
	if d.hasTime && d.seconds >= minTimestampSeconds && d.seconds <= maxTimestampSeconds &&
		d.nanos >= 0 && d.nanos < 1e9 {
		r.Time, r.HasTime = time.Unix(d.seconds, int64(d.nanos)).UTC(), true
	}
	return nil
}

// decoder holds the state that is not in Request itself: the timestamp,
// which can only be validated once every occurrence has been merged, and
// the header index used for hostile numbers of headers.
type decoder struct {
	r       *Request
	hasTime bool
	seconds int64
	nanos   int32
	index   map[string]int // Headers position by key, once past linearDedupMax
}

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
			return fmt.Errorf("checkwire: %s: %w", msg, protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber { // protobuf-go rejects these too
			return fmt.Errorf("checkwire: %s: field number %d out of range", msg, num)
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
			return fmt.Errorf("checkwire: %s field %d: %w", msg, num, protowire.ParseError(n))
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

func (d *decoder) checkRequest(b []byte) error {
	return only("CheckRequest", b, checkRequestAttributes, d.attributes)
}

func (d *decoder) attributes(b []byte) error {
	return each("AttributeContext", b, func(f field) error {
		switch {
		case f.isBytes(attrSource):
			return d.peer(f.bytes)
		case f.isBytes(attrRequest):
			return d.request(f.bytes)
		case f.isBytes(attrContextExtensions):
			k, v, err := mapEntry("AttributeContext.context_extensions", f.bytes)
			if err != nil {
				return err
			}
			if d.r.ContextExtensions == nil {
				d.r.ContextExtensions = make(map[string]string)
			}
			d.r.ContextExtensions[k] = v
		}
		return nil
	})
}

func (d *decoder) peer(b []byte) error {
	return only("AttributeContext.Peer", b, peerAddress, d.address)
}

func (d *decoder) address(b []byte) error {
	return each("Address", b, func(f field) error {
		switch {
		case f.isBytes(addressSocketAddress):
			// A second socket_address merges into the first, so the
			// address decoded so far stays unless this one sets it.
			d.r.HasSocketAddress = true
			return d.socketAddress(f.bytes)
		case f.isBytes(addressPipe), f.isBytes(addressEnvoyInternal):
			// Another member of the oneof replaces socket_address.
			d.r.HasSocketAddress, d.r.PeerAddress = false, ""
		}
		return nil
	})
}

func (d *decoder) socketAddress(b []byte) error {
	return only("SocketAddress", b, socketAddressAddress, func(v []byte) error {
		d.r.PeerAddress = str(v)
		return nil
	})
}

func (d *decoder) request(b []byte) error {
	return each("AttributeContext.Request", b, func(f field) error {
		switch {
		case f.isBytes(requestTime):
			d.hasTime = true
			return d.timestamp(f.bytes)
		case f.isBytes(requestHTTP):
			d.r.HasHTTP = true
			return d.http(f.bytes)
		}
		return nil
	})
}

func (d *decoder) timestamp(b []byte) error {
	return each("Timestamp", b, func(f field) error {
		switch {
		case f.isVarint(timestampSeconds):
			d.seconds = int64(f.varint)
		case f.isVarint(timestampNanos):
			d.nanos = int32(f.varint) // int32 fields keep the low 32 bits
		}
		return nil
	})
}

func (d *decoder) http(b []byte) error {
	r := d.r
	if len(b) > largeHTTPRequest {
		n, err := count("HttpRequest", b, httpHeaders)
		if err != nil {
			return err
		}
		r.Headers = slices.Grow(r.Headers, n)
	}
	return each("HttpRequest", b, func(f field) error {
		if f.typ != protowire.BytesType {
			return nil // HttpRequest.size, the only varint, is not read
		}
		switch f.num {
		case httpID:
			r.ID = str(f.bytes)
		case httpMethod:
			r.Method = str(f.bytes)
		case httpPath:
			r.Path = str(f.bytes)
		case httpHost:
			r.Host = str(f.bytes)
		case httpScheme:
			r.Scheme = str(f.bytes)
		case httpQuery:
			r.Query = str(f.bytes)
		case httpProtocol:
			r.Protocol = str(f.bytes)
		case httpHeaders:
			k, v, err := mapEntry("HttpRequest.headers", f.bytes)
			if err != nil {
				return err
			}
			d.addHeader(k, v)
		case httpHeaderMap:
			return d.headerMap(f.bytes)
		}
		return nil
	})
}

// addHeader adds one headers map entry with map semantics.
func (d *decoder) addHeader(k, v string) {
	r := d.r
	if d.index == nil {
		for i := range r.Headers {
			if r.Headers[i].Key == k {
				r.Headers[i].Value = v
				return
			}
		}
		if len(r.Headers) < linearDedupMax {
			if r.Headers == nil {
				r.Headers = make([]Header, 0, initialHeaderCapacity)
			}
			r.Headers = append(r.Headers, Header{k, v})
			return
		}
		d.index = make(map[string]int, cap(r.Headers))
		for i, h := range r.Headers {
			d.index[h.Key] = i
		}
	}
	if i, ok := d.index[k]; ok {
		r.Headers[i].Value = v
		return
	}
	d.index[k] = len(r.Headers)
	r.Headers = append(r.Headers, Header{k, v})
}

func (d *decoder) headerMap(b []byte) error {
	n, err := count("HeaderMap", b, headerMapHeaders)
	if err != nil {
		return err
	}
	d.r.HeaderMap = slices.Grow(d.r.HeaderMap, n)
	return each("HeaderMap", b, func(f field) error {
		if !f.isBytes(headerMapHeaders) {
			return nil
		}
		var h RawHeader
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
		if err != nil {
			return err
		}
		d.r.HeaderMap = append(d.r.HeaderMap, h)
		return nil
	})
}

// count returns how many length-delimited fields numbered num the message
// in b holds, so that a slice can be grown once: on hostile input of
// millions of tiny entries, append's repeated growth would allocate about
// five times the final slice.
func count(msg string, b []byte, num protowire.Number) (int, error) {
	n := 0
	err := only(msg, b, num, func([]byte) error {
		n++
		return nil
	})
	return n, err
}

// mapEntry decodes a map<string, string> entry: fields in any order,
// repeated (last wins) or missing ("").
func mapEntry(msg string, b []byte) (key, value string, err error) {
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
