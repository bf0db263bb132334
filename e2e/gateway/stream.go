package gateway

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// ConnInfo is what Options.Fingerprint is told about a request's connection.
type ConnInfo struct {
	Peer netip.AddrPort
	// Request lets a test pick a fingerprint per client (by user-agent, say).
	Request *http.Request
	// TLS is what the in-repo TLS listener computed from the ClientHello;
	// zero on plain HTTP.
	TLS Fingerprints
}

// Filter is an HTTP filter in the in-repo gateway's decoder chain, placed
// before ext_authz (where the Wasm filter sits in envoy-wasm.yaml). It may
// change the request headers (the route is chosen after it, as Envoy
// re-picks the route when a Wasm filter changes headers), set dynamic
// metadata, or answer the request itself.
type Filter interface {
	// DecodeHeaders runs once per request. A non-nil reply stops the chain:
	// ext_authz and the upstream are skipped and the reply is sent (Envoy's
	// sendLocalReply).
	DecodeHeaders(s *Stream) *LocalReply
}

// ResponseFilter is a Filter that also sees response headers (encoder
// chain, in reverse filter order), local replies included.
type ResponseFilter interface {
	EncodeHeaders(s *Stream, resp *HeaderMap)
}

// BodyFilter is a ResponseFilter that also sees the upstream response
// body, whole, and returns what goes on to the client: the gateway then
// buffers the body, as Envoy does for a filter that buffers it
// (StopIterationAndBuffer). Local replies do not go through it.
type BodyFilter interface {
	EncodeBody(s *Stream, body []byte) []byte
}

// LogFilter is a Filter told when the request is complete (Proxy-Wasm's
// proxy_on_log), before the access loggers run.
type LogFilter interface {
	OnLog(s *Stream)
}

// FilterFunc adapts a function to Filter.
type FilterFunc func(s *Stream) *LocalReply

// DecodeHeaders calls f.
func (f FilterFunc) DecodeHeaders(s *Stream) *LocalReply { return f(s) }

// LocalReply is a response the gateway generates itself.
type LocalReply struct {
	Status  int
	Headers []Header // added after the defaults (content-type text/plain when Body is set)
	Body    string
	// Details is the response code details in the access log
	// (e.g. "ext_authz_denied", "wasm_local_reply").
	Details string
}

// Stream is one request going through the gateway, as the filters see it.
type Stream struct {
	// ID is Envoy's stream id: ext_authz's request.http.id.
	ID    uint64
	Start time.Time
	// Headers are the request headers, pseudo-headers first. Filters may
	// change them; the upstream receives what is left after ext_authz.
	Headers *HeaderMap
	// Protocol is "HTTP/1.0", "HTTP/1.1" or "HTTP/2".
	Protocol string
	// Peer is the TCP peer (ext_authz source.address); Client is the HTTP
	// connection manager's trusted client address (x-forwarded-for with
	// xff_num_trusted_hops; the access log's downstream_remote_address and
	// Wasm's source.address). Local is the listener address.
	Peer, Client, Local netip.AddrPort
	// TLS is nil on plain HTTP.
	TLS *TLSInfo
	// Fingerprints are the connection's TLS fingerprints (from the
	// ClientHello, or Options.Fingerprint); empty when there are none.
	Fingerprints Fingerprints

	mu       sync.Mutex
	metadata map[string]*structpb.Struct

	// set as the request goes through the chain
	route        *route
	flags        responseFlags
	details      string
	upstreamAddr string
	upstreamName string
	respHeaders  *HeaderMap
	status       int
	bytesOut     uint64
	bytesIn      uint64
	authzOK      *okMutations // response mutations of an OK check, for the encoder
}

// TLSInfo describes the downstream TLS connection.
type TLSInfo struct {
	Version     uint16
	CipherSuite uint16
	SNI         string
}

// SetMetadata merges fields into the dynamic metadata namespace ns (Envoy's
// setDynamicMetadata merges too). Filters use it; ext_authz writes
// envoy.filters.http.ext_authz.
func (s *Stream) SetMetadata(ns string, fields *structpb.Struct) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.metadata == nil {
		s.metadata = map[string]*structpb.Struct{}
	}
	cur, ok := s.metadata[ns]
	if !ok {
		s.metadata[ns] = proto.Clone(fields).(*structpb.Struct)
		return
	}
	if cur.Fields == nil {
		cur.Fields = map[string]*structpb.Value{}
	}
	for k, v := range fields.GetFields() {
		cur.Fields[k] = proto.Clone(v).(*structpb.Value)
	}
}

// Metadata returns a copy of namespace ns, or nil.
func (s *Stream) Metadata(ns string) *structpb.Struct {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.metadata[ns]; ok {
		return proto.Clone(m).(*structpb.Struct)
	}
	return nil
}

// allMetadata returns a copy of every namespace.
func (s *Stream) allMetadata() map[string]*structpb.Struct {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*structpb.Struct, len(s.metadata))
	for k, v := range s.metadata {
		out[k] = proto.Clone(v).(*structpb.Struct)
	}
	return out
}

// ResponseHeaders are the headers sent to the client (nil until then).
func (s *Stream) ResponseHeaders() *HeaderMap { return s.respHeaders }

// Status is the status sent to the client (0 until then).
func (s *Stream) Status() int { return s.status }

// RouteName is the name of the route the request matched ("" if none yet).
func (s *Stream) RouteName() string {
	if s.route == nil {
		return ""
	}
	return s.route.name
}

// responseFlags are the access log's response flags this gateway can raise.
type responseFlags struct {
	unauthorizedExternal bool // UAEX
	noRoute              bool // NR
	upstreamConnFailure  bool // UF
	upstreamTimeout      bool // UT
	downstreamReset      bool // DC
}
