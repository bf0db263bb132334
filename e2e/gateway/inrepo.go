package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// InRepo is the gateway for machines without Envoy: an HTTP server on
// loopback running the chain an Envoy config describes.
type InRepo struct {
	opts Options
	plan *plan

	authzClients map[string]authv3.AuthorizationClient
	upstreams    map[string]http.RoundTripper
	loggers      []AccessLogger // parallel to plan.loggers; nil when not streamed
	closers      []func() error

	srv     *http.Server
	url     string
	certPEM []byte
	tlsConn sync.Map // remote address → Fingerprints of TLS connections
	served  chan struct{}
}

var _ Gateway = (*InRepo)(nil)

// StartInRepo compiles the config (refusing what it does not reproduce),
// dials the clusters and starts serving on 127.0.0.1.
func StartInRepo(opts Options) (*InRepo, error) {
	b, err := loadConfig(opts)
	if err != nil {
		return nil, err
	}
	p, err := compile(b, opts)
	if err != nil {
		return nil, fmt.Errorf("gateway: in-repo: %w", err)
	}
	g := &InRepo{opts: opts, plan: p, authzClients: map[string]authv3.AuthorizationClient{}, upstreams: map[string]http.RoundTripper{}}
	if err := g.dial(); err != nil {
		g.Close()
		return nil, err
	}
	if err := g.serve(); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// dial makes a client for every cluster the chain uses.
func (g *InRepo) dial() error {
	addr := func(cluster string) (string, error) {
		a, ok := g.opts.Clusters[cluster]
		if !ok {
			return "", fmt.Errorf("gateway: cluster %q has no address in Options.Clusters", cluster)
		}
		return a, nil
	}
	for _, f := range g.plan.chain {
		if f.kind != kindAuthz || g.authzClients[f.authz.cluster] != nil {
			continue
		}
		a, err := addr(f.authz.cluster)
		if err != nil {
			return err
		}
		conn, err := dialGRPC(a)
		if err != nil {
			return fmt.Errorf("gateway: cluster %s: %w", f.authz.cluster, err)
		}
		g.closers = append(g.closers, conn.Close)
		g.authzClients[f.authz.cluster] = authv3.NewAuthorizationClient(conn)
	}
	for _, v := range g.plan.vhosts {
		for _, r := range v.routes {
			if r.cluster == "" || g.upstreams[r.cluster] != nil {
				continue
			}
			if _, err := addr(r.cluster); err != nil {
				return err
			}
			g.upstreams[r.cluster] = upstreamTransport(clusterHTTP2(g.plan.clusters[r.cluster]))
		}
	}
	for i, cfg := range g.plan.loggers {
		a, err := addr(cfg.Cluster)
		if err != nil {
			return err
		}
		cfg.Address = a
		g.plan.loggers[i] = cfg
		var l AccessLogger
		if g.opts.ALS != nil {
			if l, err = g.opts.ALS(cfg); err != nil {
				return fmt.Errorf("gateway: access log %s: %w", cfg.LogName, err)
			}
			if c, ok := l.(interface{ Close() }); ok {
				g.closers = append(g.closers, func() error { c.Close(); return nil })
			}
		}
		g.loggers = append(g.loggers, l)
	}
	return nil
}

func upstreamTransport(h2 bool) http.RoundTripper {
	if h2 {
		return &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
	}
	return &http.Transport{
		Proxy:               nil, // never an environment proxy between the gateway and loopback clusters
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true, // pass bodies through as the origin sent them
	}
}

func (g *InRepo) serve() error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 96 << 10}
	g.served = make(chan struct{})
	if g.plan.tls {
		cfg, pem, err := g.tlsConfig()
		if err != nil {
			lis.Close()
			return err
		}
		g.srv.TLSConfig, g.certPEM = cfg, pem
		g.srv.ConnState = g.forgetTLSConn
		g.url = "https://" + lis.Addr().String()
		go func() { defer close(g.served); _ = g.srv.ServeTLS(lis, "", "") }()
		return nil
	}
	// Plain HTTP: HTTP/1.1 and h2c with prior knowledge, like codec_type AUTO.
	g.srv.Handler = h2c.NewHandler(g, &http2.Server{})
	g.url = "http://" + lis.Addr().String()
	go func() { defer close(g.served); _ = g.srv.Serve(lis) }()
	return nil
}

// URL implements Gateway.
func (g *InRepo) URL() string { return g.url }

// Kind implements Gateway.
func (g *InRepo) Kind() string { return "in-repo" }

// CertPEM is the self-signed certificate of a TLS listener (nil otherwise),
// for clients that verify it (curl --cacert).
func (g *InRepo) CertPEM() []byte { return g.certPEM }

// Close implements Gateway: it stops accepting, waits for in-flight
// requests (bounded), then closes the clusters' clients and loggers.
func (g *InRepo) Close() error {
	var errs []error
	if g.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := g.srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			g.srv.Close()
		}
		cancel()
		<-g.served
	}
	for i := len(g.closers) - 1; i >= 0; i-- {
		if err := g.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	g.closers = nil
	return errors.Join(errs...)
}

// ServeHTTP runs one request through the chain.
func (g *InRepo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, reply := g.newStream(r)
	defer g.finish(s)
	if reply != nil {
		g.sendLocal(w, s, reply, -1)
		return
	}
	for i, f := range g.plan.chain {
		var reply *LocalReply
		switch f.kind {
		case kindMutation:
			applyMutations(f.mutation, s)
		case kindHooks:
			for _, hook := range g.opts.Filters {
				if reply = hook.DecodeHeaders(s); reply != nil {
					break
				}
			}
			s.route = nil // a header change re-picks the route (as Wasm clears the route cache)
		case kindFilter:
			reply = f.filter.DecodeHeaders(s)
			s.route = nil
		case kindAuthz:
			g.pickRoute(s)
			reply = g.decodeAuthz(r.Context(), f, s)
		case kindRouter:
			g.pickRoute(s)
			if s.route == nil {
				s.flags.noRoute = true
				reply = &LocalReply{Status: http.StatusNotFound, Details: "route_not_found"}
				break
			}
			g.forward(w, r, s, i)
			return
		}
		if reply != nil {
			g.sendLocal(w, s, reply, i)
			return
		}
	}
}

// applyMutations is the header_mutation filter's request side.
func applyMutations(ms []mutation, s *Stream) {
	for _, m := range ms {
		if m.remove != "" {
			s.Headers.Remove(m.remove)
			continue
		}
		v := m.value.format(s)
		if v == "" && !m.keepEmpty {
			continue // an empty value adds nothing: a removal before it matters
		}
		switch m.action {
		case 0: // APPEND_IF_EXISTS_OR_ADD
			s.Headers.Add(m.key, v)
		case 1: // ADD_IF_ABSENT
			if !s.Headers.Has(m.key) {
				s.Headers.Add(m.key, v)
			}
		case 2: // OVERWRITE_IF_EXISTS_OR_ADD
			s.Headers.Set(m.key, v)
		case 3: // OVERWRITE_IF_EXISTS
			if s.Headers.Has(m.key) {
				s.Headers.Set(m.key, v)
			}
		}
	}
}

// pickRoute selects the virtual host by :authority and the first matching
// route, unless one is already picked.
func (g *InRepo) pickRoute(s *Stream) {
	if s.route != nil {
		return
	}
	v := g.pickVhost(s.Headers.Value(":authority"))
	if v == nil {
		return
	}
	full := s.Headers.Value(":path")
	path, _, _ := strings.Cut(full, "?")
	for _, r := range v.routes {
		switch {
		case r.path != "" && path != r.path:
			continue
		case r.path == "" && !strings.HasPrefix(full, r.prefix):
			continue
		}
		if headersMatch(r, s.Headers) {
			s.route = r
			return
		}
	}
}

// pickVhost prefers an exact domain, then the longest suffix wildcard, then
// the longest prefix wildcard, then "*".
func (g *InRepo) pickVhost(authority string) *vhost {
	host := strings.ToLower(authority)
	bare := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		bare = h
	}
	var best *vhost
	bestRank, bestLen := -1, -1
	for _, v := range g.plan.vhosts {
		for _, d := range v.domains {
			d = strings.ToLower(d)
			rank, n := -1, len(d)
			switch {
			case d == host || d == bare:
				rank = 3
			case d == "*":
				rank = 0
			case strings.HasPrefix(d, "*") && (strings.HasSuffix(host, d[1:]) || strings.HasSuffix(bare, d[1:])):
				rank = 2
			case strings.HasSuffix(d, "*") && (strings.HasPrefix(host, d[:len(d)-1])):
				rank = 1
			}
			if rank > bestRank || rank == bestRank && n > bestLen {
				best, bestRank, bestLen = v, rank, n
			}
		}
	}
	if bestRank < 0 {
		return nil
	}
	return best
}

func headersMatch(r *route, h *HeaderMap) bool {
	for _, hm := range r.headers {
		v, present := h.Get(hm.name)
		ok := present == hm.present
		if hm.value != nil {
			ok = present && hm.value(v)
		}
		if ok == hm.invert {
			return false
		}
	}
	return true
}

// sendLocal writes a reply the gateway generated. Encoder filters up to
// index upTo see it (-1: none, the connection manager itself replied).
func (g *InRepo) sendLocal(w http.ResponseWriter, s *Stream, reply *LocalReply, upTo int) {
	resp := NewHeaderMap(Header{":status", strconv.Itoa(reply.Status)})
	if reply.Body != "" {
		resp.Set("content-type", "text/plain")
	}
	// Each named header replaces the default, repeats are kept (set-cookie).
	for _, h := range reply.Headers {
		resp.Remove(h.Key)
	}
	for _, h := range reply.Headers {
		resp.Add(h.Key, h.Value)
	}
	resp.Set("content-length", strconv.Itoa(len(reply.Body)))
	resp.Set("date", time.Now().UTC().Format(http.TimeFormat))
	resp.Set("server", "envoy")
	s.details, s.status = reply.Details, reply.Status
	g.encode(s, resp, upTo)
	g.writeHeaders(w, s, reply.Status, resp)
	n, _ := io.WriteString(w, reply.Body)
	s.bytesOut = uint64(n)
}

// encode runs the encoder side of the chain from upTo down to the first
// filter: the ext_authz response mutations and ResponseFilters.
func (g *InRepo) encode(s *Stream, resp *HeaderMap, upTo int) {
	for i := min(upTo, len(g.plan.chain)-1); i >= 0; i-- {
		f := g.plan.chain[i]
		switch f.kind {
		case kindAuthz:
			if s.authzOK != nil {
				s.authzOK.encode(resp)
			}
		case kindFilter:
			if rf, ok := f.filter.(ResponseFilter); ok {
				rf.EncodeHeaders(s, resp)
			}
		case kindHooks:
			for _, hook := range slices.Backward(g.opts.Filters) {
				if rf, ok := hook.(ResponseFilter); ok {
					rf.EncodeHeaders(s, resp)
				}
			}
		}
	}
}

func (g *InRepo) writeHeaders(w http.ResponseWriter, s *Stream, status int, resp *HeaderMap) {
	wh := w.Header()
	for _, e := range resp.All() {
		if strings.HasPrefix(e.Key, ":") {
			continue
		}
		wh.Add(e.Key, e.Value)
	}
	s.status, s.respHeaders = status, resp
	w.WriteHeader(status)
}

// forward is the router: the upstream request, its response through the
// encoder chain, or a 503/504 local reply when the upstream fails.
func (g *InRepo) forward(w http.ResponseWriter, r *http.Request, s *Stream, idx int) {
	rt := s.route
	if rt.direct != nil {
		body := rt.direct.GetBody().GetInlineString()
		if b := rt.direct.GetBody().GetInlineBytes(); b != nil {
			body = string(b)
		}
		g.sendLocal(w, s, &LocalReply{Status: int(rt.direct.GetStatus()), Body: body, Details: "direct_response"}, idx)
		return
	}
	addr := g.opts.Clusters[rt.cluster]
	s.upstreamName, s.upstreamAddr = rt.cluster, addr
	ctx := r.Context()
	if rt.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rt.timeout)
		defer cancel()
	}
	path, query, _ := strings.Cut(s.Headers.Value(":path"), "?")
	out := (&http.Request{
		Method:        s.Headers.Value(":method"),
		URL:           &url.URL{Scheme: "http", Host: addr, Opaque: path, RawQuery: query},
		Host:          s.Headers.Value(":authority"),
		Header:        http.Header{},
		Body:          r.Body,
		ContentLength: r.ContentLength,
		Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}).WithContext(ctx)
	if r.ContentLength == 0 {
		out.Body = nil
	}
	// Go's client adds a User-Agent unless the header is present; an empty
	// one is present but not sent, as Envoy sends none of its own.
	out.Header["User-Agent"] = []string{""}
	uaSeen := false
	for _, e := range s.Headers.All() {
		if strings.HasPrefix(e.Key, ":") || slices.Contains(hopByHop, e.Key) {
			continue
		}
		if e.Key == "user-agent" && !uaSeen {
			out.Header.Del(e.Key)
			uaSeen = true
		}
		out.Header.Add(e.Key, e.Value)
	}
	if rt.timeout > 0 {
		out.Header.Set("x-envoy-expected-rq-timeout-ms", strconv.FormatInt(rt.timeout.Milliseconds(), 10))
	}
	start := time.Now()
	resp, err := g.upstreams[rt.cluster].RoundTrip(out)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.flags.upstreamTimeout = true
			g.sendLocal(w, s, &LocalReply{Status: http.StatusGatewayTimeout, Body: "upstream request timeout", Details: "upstream_response_timeout"}, idx)
			return
		}
		s.flags.upstreamConnFailure = true
		g.sendLocal(w, s, &LocalReply{Status: http.StatusServiceUnavailable,
			Body:    "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
			Details: "upstream_reset_before_response_started{connection_failure}"}, idx)
		return
	}
	defer resp.Body.Close()
	h := NewHeaderMap(Header{":status", strconv.Itoa(resp.StatusCode)})
	for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
		lk := strings.ToLower(k)
		if slices.Contains(hopByHop, lk) {
			continue
		}
		for _, v := range resp.Header[k] {
			h.Add(lk, v)
		}
	}
	h.Set("server", "envoy") // server_header_transformation: OVERWRITE
	h.Set("x-envoy-upstream-service-time", strconv.FormatInt(time.Since(start).Milliseconds(), 10))
	s.details, s.status = "via_upstream", resp.StatusCode
	g.encode(s, h, idx)
	if bodyFilters := g.bodyFilters(idx); len(bodyFilters) > 0 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBufferedBody))
		if err != nil {
			s.flags.upstreamConnFailure = true
		}
		for _, bf := range bodyFilters {
			body = bf.EncodeBody(s, body)
		}
		g.writeHeaders(w, s, resp.StatusCode, h)
		n, err := w.Write(body)
		s.bytesOut = uint64(n)
		if err != nil {
			s.flags.downstreamReset = true
		}
		return
	}
	g.writeHeaders(w, s, resp.StatusCode, h)
	n, err := io.Copy(w, resp.Body)
	s.bytesOut = uint64(n)
	if err != nil {
		s.flags.downstreamReset = true
	}
}

// maxBufferedBody bounds a response body the gateway buffers for body
// filters (Envoy's per-filter buffer limit plays this role).
const maxBufferedBody = 16 << 20

// bodyFilters are the chain's BodyFilters from upTo down, in encoder order.
func (g *InRepo) bodyFilters(upTo int) []BodyFilter {
	var out []BodyFilter
	for i := min(upTo, len(g.plan.chain)-1); i >= 0; i-- {
		f := g.plan.chain[i]
		switch f.kind {
		case kindFilter:
			if bf, ok := f.filter.(BodyFilter); ok {
				out = append(out, bf)
			}
		case kindHooks:
			for _, hook := range slices.Backward(g.opts.Filters) {
				if bf, ok := hook.(BodyFilter); ok {
					out = append(out, bf)
				}
			}
		}
	}
	return out
}
