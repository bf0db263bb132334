package gateway

import (
	"io"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// finish runs when the response is complete: Wasm-style OnLog filters, then
// one entry per configured gRPC access logger, as Envoy emits at stream end.
func (g *InRepo) finish(s *Stream) {
	for _, f := range g.plan.chain {
		switch f.kind {
		case kindFilter:
			if lf, ok := f.filter.(LogFilter); ok {
				lf.OnLog(s)
			}
		case kindHooks:
			for _, hook := range g.opts.Filters {
				if lf, ok := hook.(LogFilter); ok {
					lf.OnLog(s)
				}
			}
		}
	}
	for i := range g.plan.loggers {
		e := g.entry(s, g.plan.logHdrs[i])
		if l := g.loggers[i]; l != nil {
			l.Log(e)
		}
		if g.opts.Tap != nil {
			g.opts.Tap.Log(e)
		}
	}
}

// entry builds the HTTPAccessLogEntry Envoy's gRPC access logger would send
// (grpc_access_log_utils.cc, http_grpc_access_log_impl.cc).
func (g *InRepo) entry(s *Stream, hdrs logHeaders) *accesslogv3.HTTPAccessLogEntry {
	dur := time.Since(s.Start)
	h := s.Headers
	cp := &accesslogv3.AccessLogCommon{
		DownstreamRemoteAddress:       socketAddress(s.Client),
		DownstreamDirectRemoteAddress: socketAddress(s.Peer),
		DownstreamLocalAddress:        socketAddress(s.Local),
		StartTime:                     timestamppb.New(s.Start),
		TimeToLastRxByte:              durationpb.New(0),
		TimeToLastDownstreamTxByte:    durationpb.New(dur),
		Duration:                      durationpb.New(dur),
		RouteName:                     s.RouteName(),
		UpstreamCluster:               s.upstreamName,
		ResponseFlags:                 s.flags.proto(),
		StreamId:                      h.Value("x-request-id"),
		AccessLogType:                 accesslogv3.AccessLogType_DownstreamEnd,
	}
	if s.upstreamAddr != "" {
		if ap, err := parseAddrPort(s.upstreamAddr); err == nil {
			cp.UpstreamRemoteAddress = socketAddress(ap)
		}
	}
	if md := s.allMetadata(); len(md) > 0 {
		cp.Metadata = &corev3.Metadata{FilterMetadata: md}
	}
	if s.TLS != nil {
		cp.TlsProperties = &accesslogv3.TLSProperties{
			TlsVersion:     tlsVersion(s.TLS.Version),
			TlsCipherSuite: wrapperspb.UInt32(uint32(s.TLS.CipherSuite)),
			TlsSniHostname: s.TLS.SNI,
			Ja3Fingerprint: s.Fingerprints.JA3, // the entry has no JA4 field
		}
	}
	req := &accesslogv3.HTTPRequestProperties{
		RequestMethod:       requestMethod(h.Value(":method")),
		Scheme:              h.Value(":scheme"),
		Authority:           sanitizeUTF8(h.Value(":authority")),
		Path:                sanitizeUTF8(h.Value(":path")),
		UserAgent:           sanitizeUTF8(h.Value("user-agent")),
		Referer:             sanitizeUTF8(h.Value("referer")),
		ForwardedFor:        sanitizeUTF8(h.Value("x-forwarded-for")),
		RequestId:           h.Value("x-request-id"),
		OriginalPath:        sanitizeUTF8(h.Value("x-envoy-original-path")),
		RequestHeadersBytes: h.ByteSize(),
		RequestBodyBytes:    s.bytesIn,
		RequestHeaders:      pick(h, hdrs.request),
	}
	resp := &accesslogv3.HTTPResponseProperties{
		ResponseCodeDetails: s.details,
		ResponseBodyBytes:   s.bytesOut,
	}
	if s.status != 0 {
		resp.ResponseCode = wrapperspb.UInt32(uint32(s.status))
	}
	if s.respHeaders != nil {
		resp.ResponseHeadersBytes = s.respHeaders.ByteSize()
		resp.ResponseHeaders = pick(s.respHeaders, hdrs.response)
	}
	return &accesslogv3.HTTPAccessLogEntry{
		CommonProperties: cp,
		ProtocolVersion:  protocolVersion(s.Protocol),
		Request:          req,
		Response:         resp,
	}
}

// pick returns the named headers (comma-joined when repeated).
func pick(h *HeaderMap, names []string) map[string]string {
	if len(names) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, n := range names {
		if v, ok := h.Get(n); ok {
			out[strings.ToLower(n)] = sanitizeUTF8(v)
		}
	}
	return out
}

func (f responseFlags) proto() *accesslogv3.ResponseFlags {
	rf := &accesslogv3.ResponseFlags{
		NoRouteFound:                    f.noRoute,
		UpstreamConnectionFailure:       f.upstreamConnFailure,
		UpstreamRequestTimeout:          f.upstreamTimeout,
		DownstreamConnectionTermination: f.downstreamReset,
	}
	if f.unauthorizedExternal {
		rf.UnauthorizedDetails = &accesslogv3.ResponseFlags_Unauthorized{Reason: accesslogv3.ResponseFlags_Unauthorized_EXTERNAL_SERVICE}
	}
	return rf
}

func requestMethod(m string) corev3.RequestMethod {
	if v, ok := corev3.RequestMethod_value[strings.ToUpper(m)]; ok {
		return corev3.RequestMethod(v)
	}
	return corev3.RequestMethod_METHOD_UNSPECIFIED
}

func protocolVersion(p string) accesslogv3.HTTPAccessLogEntry_HTTPVersion {
	switch p {
	case "HTTP/1.0":
		return accesslogv3.HTTPAccessLogEntry_HTTP10
	case "HTTP/2":
		return accesslogv3.HTTPAccessLogEntry_HTTP2
	default:
		return accesslogv3.HTTPAccessLogEntry_HTTP11
	}
}

func tlsVersion(v uint16) accesslogv3.TLSProperties_TLSVersion {
	switch v {
	case 0x0301:
		return accesslogv3.TLSProperties_TLSv1
	case 0x0302:
		return accesslogv3.TLSProperties_TLSv1_1
	case 0x0303:
		return accesslogv3.TLSProperties_TLSv1_2
	case 0x0304:
		return accesslogv3.TLSProperties_TLSv1_3
	}
	return accesslogv3.TLSProperties_VERSION_UNSPECIFIED
}

// counter counts request body bytes as the upstream reads them.
type counter struct {
	io.ReadCloser
	n *uint64
}

func (c counter) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	*c.n += uint64(n)
	return n, err
}

// Recorder is an AccessLogger that keeps every entry, for tests to read.
type Recorder struct {
	mu      sync.Mutex
	entries []*accesslogv3.HTTPAccessLogEntry
	notify  chan struct{}
}

// Log implements AccessLogger.
func (r *Recorder) Log(e *accesslogv3.HTTPAccessLogEntry) {
	r.mu.Lock()
	r.entries = append(r.entries, e)
	if r.notify != nil {
		close(r.notify)
		r.notify = nil
	}
	r.mu.Unlock()
}

// Entries returns the entries so far.
func (r *Recorder) Entries() []*accesslogv3.HTTPAccessLogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*accesslogv3.HTTPAccessLogEntry(nil), r.entries...)
}

// WaitFor returns the first entry whose x-request-id (stream_id) is id,
// waiting up to timeout: Envoy delivers entries at flush time.
func (r *Recorder) WaitFor(id string, timeout time.Duration) *accesslogv3.HTTPAccessLogEntry {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for _, e := range r.entries {
			if e.GetCommonProperties().GetStreamId() == id || e.GetRequest().GetRequestId() == id {
				r.mu.Unlock()
				return e
			}
		}
		if r.notify == nil {
			r.notify = make(chan struct{})
		}
		ch := r.notify
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return nil
		}
	}
}
