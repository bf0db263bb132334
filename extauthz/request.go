package extauthz

// This file maps Envoy's CheckRequest onto detect.Request: which attributes
// and headers botwarden reads, how headers are normalised and capped, and
// where the client address comes from. response.go maps the verdict back.

import (
	"net/netip"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/botwarden/botwarden/detect"
)

// issue is a bit set of what was wrong with a request during conversion; the
// request is still converted, the server counts the issues.
type issue uint8

const (
	issueMissingAttributes issue = 1 << iota // no attributes or no request.http
	issueTruncated                           // a header, path or host over the cap
	issueTooManyHeaders                      // header names over the cap were dropped
	issueClientIP                            // configured client-IP source absent or malformed
)

var issueNames = [...]string{"missing_attributes", "truncated", "too_many_headers", "client_ip"}

// limits caps what conversion keeps.
type limits struct {
	maxValue   int
	maxHeaders int
}

func (c Config) limits() limits {
	l := limits{maxValue: c.MaxHeaderValueBytes, maxHeaders: c.MaxHeaders}
	if l.maxValue <= 0 {
		l.maxValue = DefaultMaxHeaderValueBytes
	}
	if l.maxHeaders <= 0 {
		l.maxHeaders = DefaultMaxHeaders
	}
	return l
}

// FromCheckRequest converts an ext_authz CheckRequest into a detect.Request.
// It never fails: missing attributes leave fields empty, oversized values
// are truncated to cfg.MaxHeaderValueBytes and the client address follows
// cfg.ClientIP. req may be nil.
func FromCheckRequest(req *authv3.CheckRequest, cfg Config) *detect.Request {
	r, _ := fromCheckRequest(req, cfg.ClientIP, cfg.limits())
	return r
}

// fromCheckRequest is the whole mapping of a CheckRequest, for the gRPC
// server (which decodes the request with package wire) and in-process
// callers alike. Envoy's AttributeContext is documented at
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/service/auth/v3/attribute_context.proto
func fromCheckRequest(req *authv3.CheckRequest, ipcfg ClientIPConfig, lim limits) (*detect.Request, issue) {
	var iss issue
	attrs := req.GetAttributes()
	http := attrs.GetRequest().GetHttp()
	if http == nil {
		iss |= issueMissingAttributes
	}
	r := &detect.Request{
		Method:            http.GetMethod(),
		Path:              http.GetPath(),
		Host:              http.GetHost(),
		Scheme:            http.GetScheme(),
		Protocol:          http.GetProtocol(),
		ContextExtensions: attrs.GetContextExtensions(),
	}
	if len(r.ContextExtensions) == 0 {
		r.ContextExtensions = nil
	}
	if t := attrs.GetRequest().GetTime(); t.IsValid() {
		r.Time = t.AsTime()
	} else {
		r.Time = time.Now()
	}

	// Envoy sends either headers (map) or, with encode_raw_headers,
	// header_map (ordered, raw bytes); take whichever is present.
	var pseudo pseudoHeaders
	if raw := http.GetHeaderMap().GetHeaders(); len(raw) > 0 {
		r.Headers, r.HeaderOrder, pseudo, iss = rawHeaders(raw, lim, iss)
	} else {
		r.Headers, pseudo, iss = mapHeaders(http.GetHeaders(), lim, iss)
	}

	// Attributes first; the pseudo-headers only fill gaps (a hand-built
	// CheckRequest, or a future Envoy that moves them).
	if r.Method == "" {
		r.Method = pseudo.method
	}
	if r.Path == "" {
		r.Path = pseudo.path
	}
	if q := http.GetQuery(); q != "" && !strings.Contains(r.Path, "?") {
		r.Path += "?" + q
	}
	if r.Host == "" {
		r.Host = pseudo.authority
	}
	if r.Host == "" {
		r.Host = r.Headers["host"]
	}
	if r.Scheme == "" {
		r.Scheme = pseudo.scheme
	}
	r.Path, iss = capValue(r.Path, lim, iss)
	r.Host, iss = capValue(lowerASCII(r.Host), lim, iss)
	r.ID = r.Headers["x-request-id"]
	r.Ray = detect.NewRayID(r.ID)

	r.PeerIP = peerAddr(attrs.GetSource().GetAddress().GetSocketAddress())
	r.ClientIP, iss = ipcfg.resolve(r.Headers, r.PeerIP, iss)
	return r, iss
}

type pseudoHeaders struct{ method, path, authority, scheme string }

func (p *pseudoHeaders) set(name, value string) {
	switch name {
	case ":method":
		p.method = value
	case ":path":
		p.path = value
	case ":authority":
		p.authority = value
	case ":scheme":
		p.scheme = value
	}
}

// mapHeaders copies Envoy's header map (already lower-case, duplicates
// already joined with ",") without the pseudo-headers. Two names can only
// meet in h when one of them is lower-cased here, which Envoy's maps never
// need: the names are stored as they come unless one is not lower-case,
// and then the copy starts over, joining names that differ only in case.
func mapHeaders(in map[string]string, lim limits, iss issue) (detect.Headers, pseudoHeaders, issue) {
	var p pseudoHeaders
	h := make(detect.Headers, min(len(in), lim.maxHeaders))
	start := iss
	for k, v := range in {
		if strings.HasPrefix(k, ":") {
			p.set(k, v)
			continue
		}
		if lowerASCII(k) != k {
			clear(h)
			return mixedCaseHeaders(in, h, lim, start)
		}
		if len(h) >= lim.maxHeaders {
			iss |= issueTooManyHeaders
			continue
		}
		h[k], iss = capValue(v, lim, iss)
	}
	return h, p, iss
}

// mixedCaseHeaders is mapHeaders for a map whose names are not all
// lower-case (one built by hand): names equal but for case are joined.
func mixedCaseHeaders(in map[string]string, h detect.Headers, lim limits, iss issue) (detect.Headers, pseudoHeaders, issue) {
	var p pseudoHeaders
	for k, v := range in {
		if strings.HasPrefix(k, ":") {
			p.set(k, v)
			continue
		}
		k = lowerASCII(k)
		if _, dup := h[k]; !dup && len(h) >= lim.maxHeaders {
			iss |= issueTooManyHeaders
			continue
		}
		v, iss = capValue(v, lim, iss)
		if old, dup := h[k]; dup {
			v = old + "," + v
		}
		h[k] = v
	}
	return h, p, iss
}

// rawHeaders converts header_map (encode_raw_headers: key + raw_value, wire
// order, duplicates not merged). Duplicates are joined with "," as Envoy
// does for the map form; HeaderOrder lists each name once, at its first
// appearance.
func rawHeaders(list []*corev3.HeaderValue, lim limits, iss issue) (detect.Headers, []string, pseudoHeaders, issue) {
	var p pseudoHeaders
	h := make(detect.Headers, min(len(list), lim.maxHeaders))
	order := make([]string, 0, min(len(list), lim.maxHeaders))
	for _, hv := range list {
		k := lowerASCII(hv.GetKey())
		v := hv.GetValue()
		if raw := hv.GetRawValue(); len(raw) > 0 {
			v = string(raw[:min(len(raw), lim.maxValue+1)]) // copy no more than the cap needs
		}
		if k == "" {
			continue
		}
		if k[0] == ':' {
			p.set(k, v)
			continue
		}
		v, iss = capValue(v, lim, iss)
		old, dup := h[k]
		switch {
		case dup:
			if len(old)+1+len(v) > lim.maxValue {
				iss |= issueTruncated
				v, _ = capValue(old+","+v, lim, 0)
			} else {
				v = old + "," + v
			}
		case len(h) >= lim.maxHeaders:
			iss |= issueTooManyHeaders
			continue
		default:
			order = append(order, k)
		}
		h[k] = v
	}
	return h, order, p, iss
}

// capValue truncates v to the configured cap. Truncation may split a UTF-8
// sequence; detection works on bytes, so that is harmless.
func capValue(v string, lim limits, iss issue) (string, issue) {
	if len(v) > lim.maxValue {
		return v[:lim.maxValue], iss | issueTruncated
	}
	return v, iss
}

// lowerASCII lower-cases ASCII letters, allocating only when needed.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// peerAddr extracts the L4 peer from source.address (a socket address;
// pipes and internal addresses have none).
func peerAddr(sa *corev3.SocketAddress) netip.Addr {
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return netip.Addr{}
	}
	return ip.WithZone("").Unmap()
}
