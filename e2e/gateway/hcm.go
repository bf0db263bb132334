package gateway

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// Headers the HTTP connection manager removes from requests of external
// clients when it is the edge (use_remote_address): Envoy's "header
// sanitizing" list. x-forwarded-for, x-forwarded-proto and x-request-id are
// handled on their own below.
var sanitizedHeaders = []string{
	"x-envoy-decorator-operation", "x-envoy-downstream-service-cluster", "x-envoy-downstream-service-node",
	"x-envoy-expected-rq-timeout-ms", "x-envoy-external-address", "x-envoy-force-trace", "x-envoy-internal",
	"x-envoy-ip-tags", "x-envoy-max-retries", "x-envoy-retry-grpc-on", "x-envoy-retry-on",
	"x-envoy-retriable-status-codes", "x-envoy-retriable-header-names", "x-envoy-upstream-alt-stat-name",
	"x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-rq-timeout-alt-response",
	"x-envoy-upstream-rq-timeout-ms", "x-envoy-hedge-on-per-try-timeout", "x-forwarded-client-cert",
}

// hopByHop are connection-specific headers the connection manager drops.
var hopByHop = []string{"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}

// newStream turns an incoming request into a Stream the way Envoy's HTTP
// codec and connection manager do before the first HTTP filter runs. A
// non-nil reply (a rejected or redirected path) ends the request there.
func (g *InRepo) newStream(r *http.Request) (*Stream, *LocalReply) {
	s := &Stream{ID: randomUint64(), Start: time.Now(), Protocol: protocolOf(r)}
	if r.Body != nil {
		r.Body = counter{r.Body, &s.bytesIn}
	}
	s.Peer, _ = netip.ParseAddrPort(r.RemoteAddr)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.Local, _ = netip.ParseAddrPort(la.String())
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
		s.TLS = &TLSInfo{Version: r.TLS.Version, CipherSuite: r.TLS.CipherSuite, SNI: r.TLS.ServerName}
		s.Fingerprints = g.fingerprintsOf(r)
	}
	if g.opts.Fingerprint != nil {
		s.Fingerprints = g.opts.Fingerprint(ConnInfo{Peer: s.Peer, Request: r, TLS: s.Fingerprints})
	}

	h := NewHeaderMap(
		Header{":authority", r.Host},
		Header{":path", r.RequestURI},
		Header{":method", r.Method},
		Header{":scheme", scheme},
	)
	// Go keeps headers in a map; wire order is lost (Envoy would keep it).
	for _, k := range slices.Sorted(maps.Keys(r.Header)) {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "_") {
			switch g.plan.hcm.underscores {
			case corev3.HttpProtocolOptions_DROP_HEADER:
				continue
			case corev3.HttpProtocolOptions_REJECT_REQUEST:
				s.Headers = h
				return s, &LocalReply{Status: http.StatusBadRequest, Body: "Bad Request", Details: "http1.unexpected_underscore"}
			}
		}
		for _, v := range r.Header[k] {
			h.Add(lk, v)
		}
	}
	for _, name := range hopByHop {
		if name == "te" && strings.EqualFold(h.Value("te"), "trailers") {
			continue
		}
		h.Remove(name)
	}
	s.Headers = h
	if reply := g.normalizePath(s); reply != nil {
		return s, reply
	}
	g.forwardedFor(s, scheme)
	return s, nil
}

// forwardedFor applies use_remote_address / xff_num_trusted_hops: the
// x-forwarded-for append, the trusted client address, x-forwarded-proto,
// internal/external sanitizing and x-request-id.
func (g *InRepo) forwardedFor(s *Stream, scheme string) {
	hcm, h := g.plan.hcm, s.Headers
	if hcm.useRemoteAddress && !hcm.skipXFFAppend && s.Peer.IsValid() {
		h.Append("x-forwarded-for", s.Peer.Addr().String())
	}
	s.Client = s.Peer
	xff := splitXFF(h.Value("x-forwarded-for"))
	// With use_remote_address the peer was just appended, so the client is
	// xff_num_trusted_hops entries from the right; without it, the client
	// is the (hops+1)-th from the right. Too few entries: the peer.
	idx := len(xff) - 1 - int(hcm.xffHops)
	if !hcm.useRemoteAddress || hcm.xffHops > 0 {
		if idx >= 0 && idx < len(xff) {
			if a, err := netip.ParseAddr(xff[idx]); err == nil {
				s.Client = netip.AddrPortFrom(a, 0)
			}
		}
	}
	if hcm.useRemoteAddress {
		h.Set("x-forwarded-proto", scheme)
	} else if !h.Has("x-forwarded-proto") {
		h.Set("x-forwarded-proto", scheme)
	}
	edge := false
	if hcm.useRemoteAddress {
		if isInternal(s.Client.Addr()) {
			h.Set("x-envoy-internal", "true")
		} else {
			edge = true
			for _, name := range sanitizedHeaders {
				h.Remove(name)
			}
			h.Set("x-envoy-external-address", s.Client.Addr().String())
		}
	}
	if hcm.generateRequestID && (!h.Has("x-request-id") || edge && !hcm.preserveExternalRequestID) {
		h.Set("x-request-id", uuid4())
	}
}

func splitXFF(v string) []string {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// normalizePath applies normalize_path, merge_slashes and
// path_with_escaped_slashes_action to :path (the query is left alone).
func (g *InRepo) normalizePath(s *Stream) *LocalReply {
	hcm := g.plan.hcm
	full := s.Headers.Value(":path")
	if !strings.HasPrefix(full, "/") {
		return nil // "*" (OPTIONS) or absolute-form: Envoy leaves these to the codec
	}
	path, query, hasQuery := strings.Cut(full, "?")
	redirect := false
	switch hcm.escapedSlashes {
	case hcmv3.HttpConnectionManager_REJECT_REQUEST:
		if hasEscapedSlash(path) {
			return &LocalReply{Status: http.StatusBadRequest, Body: "Bad Request", Details: "path_normalization_failed"}
		}
	case hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT, hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD:
		if hasEscapedSlash(path) {
			path = unescapeSlashes(path)
			redirect = hcm.escapedSlashes == hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT
		}
	}
	if hcm.normalizePath {
		path = removeDotSegments(strings.ReplaceAll(path, `\`, "/"))
	}
	if hcm.mergeSlashes {
		for strings.Contains(path, "//") {
			path = strings.ReplaceAll(path, "//", "/")
		}
	}
	if hasQuery {
		path += "?" + query
	}
	if redirect {
		return &LocalReply{Status: http.StatusTemporaryRedirect, Headers: []Header{{"location", path}}, Details: "path_normalization_redirect"}
	}
	s.Headers.Set(":path", path)
	return nil
}

func hasEscapedSlash(p string) bool {
	l := strings.ToLower(p)
	return strings.Contains(l, "%2f") || strings.Contains(l, "%5c")
}

func unescapeSlashes(p string) string {
	return strings.NewReplacer("%2F", "/", "%2f", "/", "%5C", `\`, "%5c", `\`).Replace(p)
}

// removeDotSegments is RFC 3986 §5.2.4 on an absolute path. Like Envoy's
// URL canonicaliser, "%2e" counts as a dot inside a dot segment, so an
// encoded "/%2e%2e/" cannot climb past a route prefix.
func removeDotSegments(p string) string {
	var out []string
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if i == 0 {
			continue // before the leading '/'
		}
		switch strings.ReplaceAll(strings.ToLower(seg), "%2e", ".") {
		case ".":
			if i == len(segs)-1 {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if i == len(segs)-1 {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}

func protocolOf(r *http.Request) string {
	switch {
	case r.ProtoMajor == 2:
		return "HTTP/2"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "HTTP/1.0"
	default:
		return "HTTP/1.1"
	}
}

func randomUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// uuid4 is how Envoy's default request-ID extension makes x-request-id.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
