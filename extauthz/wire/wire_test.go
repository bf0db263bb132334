package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// diff describes how got differs from want, "" if it does not. Headers are
// compared as a set (proto maps have no order) but got's keys must be
// unique; empty slices and RawValues compare equal to nil.
func diff(got, want view) string {
	keys := map[string]bool{}
	for _, h := range got.Headers {
		if keys[h.Key] {
			return fmt.Sprintf("duplicate header key %q in %+v", h.Key, got.Headers)
		}
		keys[h.Key] = true
	}
	if (got.ContextExtensions == nil) != (len(got.ContextExtensions) == 0) {
		return "ContextExtensions is an empty non-nil map"
	}
	got, want = normalize(got), normalize(want)
	if reflect.DeepEqual(got, want) {
		return ""
	}
	return fmt.Sprintf("got  %+v\nwant %+v", got, want)
}

func normalize(r view) view {
	r.Headers = slices.Clone(r.Headers)
	slices.SortFunc(r.Headers, func(a, b Header) int { return strings.Compare(a.Key, b.Key) })
	r.HeaderMap = slices.Clone(r.HeaderMap)
	for i := range r.HeaderMap {
		if len(r.HeaderMap[i].RawValue) == 0 {
			r.HeaderMap[i].RawValue = nil
		}
	}
	if len(r.Headers) == 0 {
		r.Headers = nil
	}
	if len(r.HeaderMap) == 0 {
		r.HeaderMap = nil
	}
	return r
}

// view is the part of a CheckRequest package extauthz reads, in a form
// tests can compare: what Unmarshal must agree with proto.Unmarshal on.
// Headers are in map order.
type view struct {
	HasHTTP                                         bool
	ID, Method, Path, Host, Scheme, Query, Protocol string
	Headers                                         []Header
	HeaderMap                                       []RawHeader
	Time                                            time.Time
	HasTime                                         bool
	PeerAddress                                     string
	HasSocketAddress                                bool
	ContextExtensions                               map[string]string
}

// Header is one HttpRequest.headers map entry.
type Header struct{ Key, Value string }

// RawHeader is one envoy.config.core.v3.HeaderValue.
type RawHeader struct {
	Key, Value string
	RawValue   []byte
}

// viewOf is the view of a decoded CheckRequest, whichever decoder decoded it.
func viewOf(req *authv3.CheckRequest) view {
	attrs := req.GetAttributes()
	http := attrs.GetRequest().GetHttp()
	v := view{
		HasHTTP:  http != nil,
		ID:       http.GetId(),
		Method:   http.GetMethod(),
		Path:     http.GetPath(),
		Host:     http.GetHost(),
		Scheme:   http.GetScheme(),
		Query:    http.GetQuery(),
		Protocol: http.GetProtocol(),
	}
	for k, val := range http.GetHeaders() {
		v.Headers = append(v.Headers, Header{k, val})
	}
	for _, h := range http.GetHeaderMap().GetHeaders() {
		v.HeaderMap = append(v.HeaderMap, RawHeader{h.GetKey(), h.GetValue(), h.GetRawValue()})
	}
	if t := attrs.GetRequest().GetTime(); t != nil && t.IsValid() {
		v.Time, v.HasTime = t.AsTime(), true
	}
	if sa := attrs.GetSource().GetAddress().GetSocketAddress(); sa != nil {
		v.PeerAddress, v.HasSocketAddress = sa.GetAddress(), true
	}
	if ext := attrs.GetContextExtensions(); len(ext) > 0 {
		v.ContextExtensions = ext
	}
	return v
}

func (r *Request) view() view { return viewOf(&r.CheckRequest) }

// timestamppb's IsValid range ends at 9999-12-31T23:59:59Z.
const maxTimestampSeconds = 253402300799

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func socketPeer(ip string, port uint32) *authv3.AttributeContext_Peer {
	return &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}},
	}}}
}

// browserRequest is what Envoy sends for a Chrome page load over HTTP/2:
// about 1 KB and 20 headers, pseudo-headers in the map.
func browserRequest() *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      socketPeer("203.0.113.7", 51234),
		Destination: socketPeer("10.0.0.5", 8443),
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.New(time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)),
			Http: &authv3.AttributeContext_HttpRequest{
				Id: "11829271870953468514", Method: "GET", Path: "/products/widgets?color=blue&page=2",
				Host: "shop.example.com", Scheme: "https", Protocol: "HTTP/2",
				Headers: map[string]string{
					":authority": "shop.example.com", ":method": "GET", ":scheme": "https",
					":path":            "/products/widgets?color=blue&page=2",
					"sec-ch-ua":        `"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"`,
					"sec-ch-ua-mobile": "?0", "sec-ch-ua-platform": `"Windows"`,
					"upgrade-insecure-requests": "1",
					"user-agent":                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
					"accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
					"sec-fetch-site":            "same-origin", "sec-fetch-mode": "navigate", "sec-fetch-user": "?1",
					"sec-fetch-dest": "document", "referer": "https://shop.example.com/products",
					"accept-encoding": "gzip, deflate, br, zstd", "accept-language": "en-US,en;q=0.9",
					"cookie":            "session=9f2c1e7a4b; _ga=GA1.2.1234567890.1700000000",
					"priority":          "u=0, i",
					"x-forwarded-for":   "198.51.100.23, 203.0.113.7",
					"x-forwarded-proto": "https",
					"x-request-id":      "5b0c6a2e-8f7d-4d1b-9a3e-2c4f6e8a0b1d",
				},
			},
		},
		ContextExtensions: map[string]string{"route": "shop", "policy": "strict"},
	}}
}

// samples are CheckRequests shaped like Envoy's, plus the degenerate ones.
func samples() map[string]*authv3.CheckRequest {
	return map[string]*authv3.CheckRequest{
		"browser_h2": browserRequest(),
		"raw_headers_ipv6": {Attributes: &authv3.AttributeContext{
			Source: socketPeer("2001:db8::1", 443),
			Request: &authv3.AttributeContext_Request{
				Time: timestamppb.New(time.Unix(1700000000, 0)),
				Http: &authv3.AttributeContext_HttpRequest{
					Method: "POST", Path: "/api/login", Host: "api.example.com", Scheme: "https", Protocol: "HTTP/1.1",
					Size: 42, Body: `{"user":"a"}`,
					HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
						{Key: ":method", RawValue: []byte("POST")},
						{Key: ":path", RawValue: []byte("/api/login")},
						{Key: "content-type", RawValue: []byte("application/json")},
						{Key: "x-forwarded-for", RawValue: []byte("2001:db8::1")},
						{Key: "x-custom", RawValue: []byte("a")},
						{Key: "x-custom", RawValue: []byte("b\xff")}, // raw bytes need not be UTF-8
						{Key: "x-legacy", Value: "v"},
						{Key: "x-empty"},
					}},
				},
			},
		}},
		"curl_http1": {Attributes: &authv3.AttributeContext{
			Source: socketPeer("127.0.0.1", 40000),
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/", Query: "a=1", Host: "localhost:8080", Scheme: "http", Protocol: "HTTP/1.1",
				Fragment: "top",
				Headers:  map[string]string{"host": "localhost:8080", "user-agent": "curl/8.5.0", "accept": "*/*", "": "empty key"},
			}},
		}},
		"empty":             {},
		"empty_attributes":  {Attributes: &authv3.AttributeContext{}},
		"empty_http":        {Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{}}}},
		"time_only_invalid": {Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Time: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}}}},
		"time_zero":         {Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Time: &timestamppb.Timestamp{}}}},
		"pipe_peer": {Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/envoy.sock"}}}},
		}},
		"empty_socket_address": {Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{}}}},
		}},
		"skipped_fields": {Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: socketPeer("192.0.2.1", 1).Address, Service: "svc", Principal: "spiffe://x",
				Labels: map[string]string{"a": "b"}},
			MetadataContext: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"f": {Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("v")}}}},
			TlsSession:      &authv3.AttributeContext_TLSSession{Sni: "example.com"},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "PUT", RawBody: []byte{0, 1, 2}, Size: -1, Headers: map[string]string{"x-a": "1"},
			}},
			ContextExtensions: map[string]string{"": ""},
		}},
	}
}

func TestUnmarshalMatchesProto(t *testing.T) {
	for name, req := range samples() {
		t.Run(name, func(t *testing.T) {
			b := marshal(t, req)
			var got Request
			if err := got.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			if d := diff(got.view(), viewOf(req)); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// Spot checks that viewOf and the samples say what they should, so the
// differential tests are not comparing two equal mistakes.
func TestBrowserRequestView(t *testing.T) {
	var req Request
	if err := req.Unmarshal(marshal(t, browserRequest())); err != nil {
		t.Fatal(err)
	}
	r := req.view()
	if !r.HasHTTP || r.Method != "GET" || r.Host != "shop.example.com" || r.Protocol != "HTTP/2" ||
		r.PeerAddress != "203.0.113.7" || !r.HasSocketAddress || !r.HasTime ||
		!r.Time.Equal(time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)) ||
		r.ContextExtensions["route"] != "shop" || len(r.Headers) != 22 {
		t.Fatalf("%+v", r)
	}
	i := slices.IndexFunc(r.Headers, func(h Header) bool { return h.Key == "x-forwarded-for" })
	if i < 0 || r.Headers[i].Value != "198.51.100.23, 203.0.113.7" {
		t.Fatalf("x-forwarded-for: %+v", r.Headers)
	}
}

// Wire-level helpers for hand-built messages.
func tagBytes(num protowire.Number, parts ...[]byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, slices.Concat(parts...))
}

func tagString(num protowire.Number, s string) []byte { return tagBytes(num, []byte(s)) }

func tagVarint(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

// inHTTP wraps HttpRequest fields into a whole CheckRequest.
func inHTTP(fields ...[]byte) []byte {
	return inRequest(tagBytes(requestHTTP, fields...))
}

func inRequest(fields ...[]byte) []byte {
	return inAttrs(tagBytes(attrRequest, fields...))
}

func inAttrs(fields ...[]byte) []byte {
	return tagBytes(checkRequestAttributes, fields...)
}

func inAddress(fields ...[]byte) []byte {
	return inAttrs(tagBytes(attrSource, tagBytes(peerAddress, fields...)))
}

func entry(parts ...[]byte) []byte { return tagBytes(httpHeaders, parts...) }

func group(num protowire.Number, inner ...[]byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.StartGroupType)
	b = append(b, slices.Concat(inner...)...)
	return protowire.AppendTag(b, num, protowire.EndGroupType)
}

func TestWireRules(t *testing.T) {
	sock := func(addr string) []byte { return tagBytes(addressSocketAddress, tagString(socketAddressAddress, addr)) }
	tests := []struct {
		name string
		wire []byte
		want view
		// protoRejects marks inputs proto.Unmarshal refuses and Unmarshal
		// deliberately accepts; for the others want must also be
		// proto.Unmarshal's view.
		protoRejects bool
	}{
		{
			name: "last scalar wins",
			wire: inHTTP(tagString(httpMethod, "GET"), tagString(httpMethod, "POST")),
			want: view{HasHTTP: true, Method: "POST"},
		},
		{
			name: "http message twice merges",
			wire: inRequest(tagBytes(requestHTTP, tagString(httpMethod, "GET"), entry(tagString(1, "a"), tagString(2, "1"))),
				tagBytes(requestHTTP, tagString(httpPath, "/x"), entry(tagString(1, "b"), tagString(2, "2")))),
			want: view{HasHTTP: true, Method: "GET", Path: "/x", Headers: []Header{{"a", "1"}, {"b", "2"}}},
		},
		{
			name: "attributes twice merge",
			wire: slices.Concat(inHTTP(tagString(httpHost, "h")), inAddress(sock("192.0.2.1"))),
			want: view{HasHTTP: true, Host: "h", PeerAddress: "192.0.2.1", HasSocketAddress: true},
		},
		{
			name: "timestamp halves merge",
			wire: inRequest(tagBytes(requestTime, tagVarint(timestampSeconds, 1700000000)), tagBytes(requestTime, tagVarint(timestampNanos, 5))),
			want: view{Time: time.Unix(1700000000, 5).UTC(), HasTime: true},
		},
		{
			name: "invalid timestamp is present but not valid",
			wire: inRequest(tagBytes(requestTime, tagVarint(timestampSeconds, uint64(maxTimestampSeconds+1)))),
			want: view{},
		},
		{
			name: "nanos keep the low 32 bits like int32",
			wire: inRequest(tagBytes(requestTime, tagVarint(timestampNanos, 1<<32+7))),
			want: view{Time: time.Unix(0, 7).UTC(), HasTime: true},
		},
		{
			name: "negative nanos invalid",
			wire: inRequest(tagBytes(requestTime, tagVarint(timestampNanos, ^uint64(0)))),
			want: view{},
		},
		{
			name: "socket_address twice merges",
			wire: inAddress(sock("192.0.2.1"), tagBytes(addressSocketAddress, tagVarint(3, 80))),
			want: view{PeerAddress: "192.0.2.1", HasSocketAddress: true},
		},
		{
			name: "pipe replaces socket_address",
			wire: inAddress(sock("192.0.2.1"), tagBytes(addressPipe, tagString(1, "/sock"))),
			want: view{},
		},
		{
			name: "envoy_internal_address replaces socket_address",
			wire: inAddress(sock("192.0.2.1"), tagBytes(addressEnvoyInternal)),
			want: view{},
		},
		{
			name: "socket_address after pipe starts afresh",
			wire: inAddress(sock("192.0.2.1"), tagBytes(addressPipe), tagBytes(addressSocketAddress)),
			want: view{HasSocketAddress: true},
		},
		{
			name: "wrong wire type on a known field is unknown",
			wire: inHTTP(tagString(httpMethod, "GET"), tagVarint(httpMethod, 5), tagVarint(httpHeaders, 1), tagVarint(httpHeaderMap, 1)),
			want: view{HasHTTP: true, Method: "GET"},
		},
		{
			name: "wrong wire type on a sub-message is unknown",
			wire: slices.Concat(inAttrs(tagVarint(attrRequest, 1)), tagVarint(checkRequestAttributes, 9),
				inRequest(protowire.AppendFixed64(protowire.AppendTag(nil, requestTime, protowire.Fixed64Type), 1))),
			want: view{},
		},
		{
			name: "timestamp with fixed64 seconds is unknown",
			wire: inRequest(tagBytes(requestTime, protowire.AppendFixed64(protowire.AppendTag(nil, timestampSeconds, protowire.Fixed64Type), 99))),
			want: view{Time: time.Unix(0, 0).UTC(), HasTime: true},
		},
		{
			name: "duplicate map key: last value wins",
			wire: inHTTP(entry(tagString(1, "a"), tagString(2, "1")), entry(tagString(1, "b"), tagString(2, "2")), entry(tagString(1, "a"), tagString(2, "3"))),
			want: view{HasHTTP: true, Headers: []Header{{"a", "3"}, {"b", "2"}}},
		},
		{
			name: "map entry value before key, repeated, missing",
			wire: inHTTP(entry(tagString(2, "v"), tagString(1, "k")), entry(tagString(1, "x"), tagString(1, "y"), tagString(2, "1"), tagString(2, "2")),
				entry(tagString(1, "nokey-value")), entry(tagString(2, "novalue-key")), entry()), // the empty entry replaces key ""
			want: view{HasHTTP: true, Headers: []Header{{"k", "v"}, {"y", "2"}, {"nokey-value", ""}, {"", ""}}},
		},
		{
			name: "map entry with unknown fields and wrong types",
			wire: inAttrs(tagBytes(attrContextExtensions, tagVarint(1, 3), tagString(1, "k"), tagString(3, "?"), group(4), tagString(2, "v"))),
			want: view{ContextExtensions: map[string]string{"k": "v"}},
		},
		{
			name: "groups are skipped",
			wire: slices.Concat(group(5, tagString(1, "x"), group(6, tagVarint(2, 1))),
				inHTTP(group(15, tagString(1, "y")), tagString(httpPath, "/"), group(httpMethod))),
			want: view{HasHTTP: true, Path: "/"},
		},
		{
			name: "header_map merges, duplicates kept, raw_value last wins",
			wire: inHTTP(tagBytes(httpHeaderMap, tagBytes(headerMapHeaders, tagString(1, "a"), tagString(3, "x"), tagString(3, "y"))),
				tagBytes(httpHeaderMap, tagBytes(headerMapHeaders, tagString(1, "a"), tagString(2, "v"), tagString(3, "z"), tagString(3, "")))),
			want: view{HasHTTP: true, HeaderMap: []RawHeader{{"a", "", []byte("y")}, {"a", "v", nil}}},
		},
		{
			name: "unknown fields everywhere",
			wire: slices.Concat(tagVarint(2, 1), inAttrs(tagString(99, "x"), protowire.AppendFixed32(protowire.AppendTag(nil, 7, protowire.Fixed32Type), 1)),
				inHTTP(tagVarint(9, 1), tagString(11, "body"), tagString(8, "frag"), tagString(1000, "x"))),
			want: view{HasHTTP: true},
		},
		{
			name:         "invalid UTF-8 is kept",
			wire:         inHTTP(tagString(httpPath, "/\xff"), entry(tagString(1, "k\xfe"), tagString(2, "\xc3"))),
			want:         view{HasHTTP: true, Path: "/\xff", Headers: []Header{{"k\xfe", "\xc3"}}},
			protoRejects: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Request
			if err := got.Unmarshal(tt.wire); err != nil {
				t.Fatal(err)
			}
			if d := diff(got.view(), tt.want); d != "" {
				t.Fatal(d)
			}
			var pb authv3.CheckRequest
			err := proto.Unmarshal(tt.wire, &pb)
			if tt.protoRejects {
				if err == nil {
					t.Fatal("proto.Unmarshal accepted it")
				}
				return
			}
			if err != nil {
				t.Fatalf("proto.Unmarshal: %v", err)
			}
			if d := diff(viewOf(&pb), tt.want); d != "" {
				t.Fatalf("want disagrees with proto.Unmarshal:\n%s", d)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	tests := map[string][]byte{
		"bad varint tag":        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"truncated tag":         {0x80},
		"field number 0":        {0x02, 0x00},
		"field number too big":  protowire.AppendVarint(nil, uint64(protowire.MaxValidNumber+1)<<3),
		"length past end":       {0x0a, 0x05, 0x00},
		"huge length":           protowire.AppendVarint([]byte{0x0a}, 1<<62),
		"reserved wire type":    {0x0e},
		"stray end group":       {0x0c},
		"unterminated group":    {0x0b, 0x10, 0x01},
		"mismatched end group":  {0x0b, 0x14},
		"nested truncated":      inHTTP([]byte{0x1a, 0x03, 0x0a, 0x05}),
		"bad map entry":         inAttrs(tagBytes(attrContextExtensions, []byte{0x0a})),
		"bad header value":      inHTTP(tagBytes(httpHeaderMap, tagBytes(headerMapHeaders, []byte{0x1a, 0x01}))),
		"bad timestamp varint":  inRequest(tagBytes(requestTime, []byte{0x08, 0x80})),
		"bad socket address":    inAddress(tagBytes(addressSocketAddress, []byte{0x12})),
		"varint with 11 bytes":  append([]byte{0x10}, bytes.Repeat([]byte{0x80}, 10)...),
		"deep unterminated grp": bytes.Repeat([]byte{0x0b}, 20000),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			var pb authv3.CheckRequest
			if proto.Unmarshal(b, &pb) == nil {
				t.Fatal("proto.Unmarshal accepted the test input")
			}
			var r Request
			err := r.Unmarshal(b)
			if err == nil || !strings.HasPrefix(err.Error(), "wire: ") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestTruncated cuts a real request at every offset: never a panic, and
// wherever proto.Unmarshal accepts the prefix the views agree.
func TestTruncated(t *testing.T) {
	for name, req := range samples() {
		b := marshal(t, req)
		for i := range len(b) + 1 {
			var pb authv3.CheckRequest
			perr := proto.Unmarshal(b[:i], &pb)
			var r Request
			err := r.Unmarshal(b[:i])
			if perr != nil {
				continue
			}
			if err != nil {
				t.Fatalf("%s[:%d]: %v (proto.Unmarshal accepted it)", name, i, err)
			}
			if d := diff(r.view(), viewOf(&pb)); d != "" {
				t.Fatalf("%s[:%d]:\n%s", name, i, d)
			}
		}
	}
}

func TestReuseResets(t *testing.T) {
	var r Request
	if err := r.Unmarshal(marshal(t, browserRequest())); err != nil {
		t.Fatal(err)
	}
	small := samples()["raw_headers_ipv6"]
	if err := r.Unmarshal(marshal(t, small)); err != nil {
		t.Fatal(err)
	}
	if d := diff(r.view(), viewOf(small)); d != "" {
		t.Fatal(d)
	}
	if err := r.Unmarshal(nil); err != nil {
		t.Fatal(err)
	}
	if d := diff(r.view(), view{}); d != "" {
		t.Fatal(d)
	}
}

// Strings must be copies: the gRPC buffer is recycled after the call.
func TestStringsOutliveBuffer(t *testing.T) {
	b := marshal(t, browserRequest())
	var r Request
	if err := r.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	want := viewOf(browserRequest())
	clear(b)
	if d := diff(r.view(), want); d != "" {
		t.Fatal(d)
	}
}

// Many distinct headers, a second time each: duplicates must collapse,
// also when the map is sized up front for a large request.
func TestManyHeaders(t *testing.T) {
	for _, n := range []int{96, largeHTTPRequest / 8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) { testManyHeaders(t, n) })
	}
}

func testManyHeaders(t *testing.T, n int) {
	var entries [][]byte
	want := view{HasHTTP: true}
	for i := range n {
		k := fmt.Sprintf("x-h%d", i)
		entries = append(entries, entry(tagString(1, k), tagString(2, "a")))
		want.Headers = append(want.Headers, Header{k, "b"})
	}
	for i := range n {
		entries = append(entries, entry(tagString(1, fmt.Sprintf("x-h%d", i)), tagString(2, "b")))
	}
	var r Request
	if err := r.Unmarshal(inHTTP(entries...)); err != nil {
		t.Fatal(err)
	}
	if d := diff(r.view(), want); d != "" {
		t.Fatal(d)
	}
}

// Keys and values from the intern table cost nothing once r's slices
// have grown: an allocation count, not a timing.
func TestCommonStringsDoNotAllocate(t *testing.T) {
	b := inHTTP(tagString(httpMethod, "GET"), tagString(httpScheme, "https"), tagString(httpProtocol, "HTTP/2"),
		entry(tagString(1, ":method"), tagString(2, "GET")), entry(tagString(1, "sec-fetch-mode"), tagString(2, "navigate")),
		tagBytes(httpHeaderMap, tagBytes(headerMapHeaders, tagString(1, "accept"), tagString(2, "*/*"))))
	var r Request
	if err := r.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = r.Unmarshal(b) }); n != 0 {
		t.Fatalf("%v allocations per Unmarshal", n)
	}
}

func TestErrorsWrap(t *testing.T) {
	var r Request
	err := r.Unmarshal(inHTTP([]byte{0x22, 0x09}))
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "HttpRequest") {
		t.Fatalf("err = %v", err)
	}
}
