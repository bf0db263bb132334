package behavior

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/botwarden/botwarden/accesslog"
	"github.com/botwarden/botwarden/detect"
	analysis "github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/detect/policy"
	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/botwarden/botwarden/extauthz"
)

// testPolicy blocks what the behavioural analysis convicted (score < 30).
const testPolicy = `version: 1
mode: mitigate
rules:
  - id: behavioural
    expression: bot.reputation.found && bot.reputation.score < 30
    action: block
`

// loggedHeaders are envoy/envoy.yaml's additional_request_headers_to_log.
var loggedHeaders = []string{"accept", "accept-language", "accept-encoding", "sec-ch-ua", "sec-ch-ua-platform",
	"sec-fetch-site", "sec-fetch-mode", "cookie", "x-botwarden-ja4", "referer"}

// stack is botwarden (ext_authz, ALS receiver, analysis, reputation store
// on one gRPC server, as the server package mounts them) behind a gateway
// that behaves like Envoy, in front of an origin.
type stack struct {
	url      string
	store    *reputation.Local
	streamer *Streamer
	gw       *gateway
}

func newStack(t *testing.T) *stack {
	t.Helper()
	log := zerolog.Nop()
	if os.Getenv("E2E_LOG") != "" {
		log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	store, err := reputation.NewLocal(ctx, reputation.DefaultLocalConfig(), log, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	eng, err := analysis.New(analysis.DefaultConfig(), log, nil, store)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = eng.Run(ctx) }()
	rcv, err := accesslog.New(accesslog.DefaultConfig(), log, nil, []accesslog.Sink{eng})
	if err != nil {
		t.Fatal(err)
	}

	repEng, err := reputation.NewEngine(reputation.DefaultEngineConfig(), store)
	if err != nil {
		t.Fatal(err)
	}
	pfile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pfile, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	pcfg := policy.DefaultConfig()
	pcfg.File, pcfg.Watch = pfile, false
	dec, err := policy.New(pcfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	pipe := &detect.Pipeline{Engines: []detect.Engine{repEng}, Decider: dec, Budget: time.Second}
	acfg := extauthz.DefaultConfig()
	// The gateway, like Envoy's HCM, sets x-envoy-external-address to the
	// trusted client address.
	acfg.ClientIP = extauthz.ClientIPConfig{UseExternalAddress: true, PeerFallback: true}
	authz, err := extauthz.New(pipe, extauthz.Options{Config: acfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	authz.Register(gs)
	rcv.Register(gs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	st := &stack{store: store}
	st.streamer = NewStreamer(conn, "e2e-gateway", "botwarden", time.Second, 64<<10)
	t.Cleanup(st.streamer.Close)
	st.gw = &gateway{authz: authv3.NewAuthorizationClient(conn), als: st.streamer, origin: origin{}}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: st.gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(hl) }()
	t.Cleanup(func() { _ = srv.Close() })
	st.url = "http://" + hl.Addr().String()
	return st
}

// verdict reads what the analysis published for key.
func (s *stack) verdict(key string) (reputation.Verdict, bool) {
	vs, _ := s.store.Get(context.Background(), []string{key}, nil)
	if len(vs) == 0 {
		return reputation.Verdict{}, false
	}
	return vs[0], true
}

// gateway does what Envoy does for botwarden: the client address from
// x-forwarded-for (one trusted hop: the test client stands for the
// internet), ext_authz Check over gRPC applied per reference/envoy.md §1.3,
// the route to the origin, and one ALS entry per request with the
// ext_authz dynamic metadata.
type gateway struct {
	authz  authv3.AuthorizationClient
	als    *Streamer
	origin origin

	mu       sync.Mutex
	statuses map[netip.Addr][]int // what each client address was answered
}

// answered returns the statuses the gateway sent to addr, in order.
func (g *gateway) answered(addr string) []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.statuses[netip.MustParseAddr(addr)]...)
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(s int) { r.status = s; r.ResponseWriter.WriteHeader(s) }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	client, _ := netip.ParseAddrPort(r.RemoteAddr)
	addr := client.Addr()
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		parts := strings.Split(xff, ",")
		if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
			addr = a
		}
	}
	rid := strconv.FormatInt(start.UnixNano(), 36)
	h := map[string]string{}
	for k, v := range r.Header {
		h[strings.ToLower(k)] = strings.Join(v, ",")
	}
	h["x-envoy-external-address"] = addr.String()
	h["x-request-id"] = rid
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	resp, err := g.authz.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: sockAddr(client.Addr())},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "1", Method: r.Method, Headers: h, Path: r.URL.RequestURI(), Host: r.Host, Scheme: "http", Protocol: r.Proto,
		}},
	}})
	rec := &recorder{ResponseWriter: w}
	denied := false
	switch {
	case err != nil: // failure_mode_allow: true
		g.origin.ServeHTTP(rec, r)
	case codes.Code(resp.GetStatus().GetCode()) == codes.OK:
		g.origin.ServeHTTP(rec, r)
	default:
		denied = true
		d := resp.GetDeniedResponse()
		st := int(d.GetStatus().GetCode())
		if st == 0 {
			st = http.StatusForbidden
		}
		rec.WriteHeader(st)
		_, _ = io.WriteString(rec, d.GetBody())
	}
	g.mu.Lock()
	if g.statuses == nil {
		g.statuses = map[netip.Addr][]int{}
	}
	g.statuses[addr] = append(g.statuses[addr], rec.status)
	g.mu.Unlock()
	g.log(r, addr, rid, start, rec, denied, resp.GetDynamicMetadata())
}

func (g *gateway) log(r *http.Request, addr netip.Addr, rid string, start time.Time, rec *recorder, denied bool, md *structpb.Struct) {
	headers := map[string]string{}
	for _, name := range loggedHeaders {
		if v := r.Header.Values(name); len(v) > 0 {
			headers[name] = strings.Join(v, ",")
		}
	}
	e := &accesslogv3.HTTPAccessLogEntry{
		ProtocolVersion: accesslogv3.HTTPAccessLogEntry_HTTP11,
		CommonProperties: &accesslogv3.AccessLogCommon{
			DownstreamRemoteAddress: sockAddr(addr),
			StartTime:               timestamppb.New(start),
			Duration:                durationpb.New(time.Since(start)),
			StreamId:                rid,
		},
		Request: &accesslogv3.HTTPRequestProperties{
			RequestMethod: corev3.RequestMethod(corev3.RequestMethod_value[r.Method]), Scheme: "http", Authority: r.Host,
			Path: r.URL.RequestURI(), UserAgent: r.UserAgent(), Referer: r.Referer(), RequestId: rid, RequestHeaders: headers,
		},
		Response: &accesslogv3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(uint32(rec.status)), ResponseBodyBytes: uint64(rec.bytes),
			ResponseHeaders: map[string]string{"content-type": rec.Header().Get("Content-Type")}},
	}
	if md != nil {
		e.CommonProperties.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{accesslog.MetadataNamespace: md}}
	}
	if denied {
		e.CommonProperties.ResponseFlags = &accesslogv3.ResponseFlags{UnauthorizedDetails: &accesslogv3.ResponseFlags_Unauthorized{
			Reason: accesslogv3.ResponseFlags_Unauthorized_EXTERNAL_SERVICE}}
	}
	g.als.Log(e)
}

func sockAddr(a netip.Addr) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: a.String(), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}
}

// origin is a small shop: pages, their assets, and a login that refuses.
type origin struct{}

func (origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/static/"):
		ct := map[string]string{".css": "text/css", ".js": "text/javascript", ".png": "image/png", ".woff2": "font/woff2"}[filepath.Ext(p)]
		w.Header().Set("Content-Type", ct)
		_, _ = io.WriteString(w, strings.Repeat("x", 256))
	case p == "/login" && r.Method == http.MethodPost:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "<p>wrong password</p>")
	case p == "/catalog":
		// Links to every product, as a crawler's starting point.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!doctype html><html><body><ul>")
		for i := range 150 {
			fmt.Fprintf(w, `<li><a href="/product/%d">product %d</a></li>`, 2000+i, 2000+i)
		}
		_, _ = io.WriteString(w, "</ul></body></html>")
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><link rel=stylesheet href="/static/site.css"><script src="/static/app.js"></script></head><body><h1>%s</h1><img src="/static/logo.png"></body></html>`, p)
	}
}

// client is one visitor: a browser-like header set behind an address.
type client struct {
	addr    string
	ua      string
	hc      *http.Client
	baseURL string
	mu      sync.Mutex
	sent    []sent
}

type sent struct {
	at     time.Time
	path   string
	status int
}

const chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

func (s *stack) client(addr string) *client {
	return &client{addr: addr, ua: chromeUA, hc: &http.Client{Timeout: 10 * time.Second}, baseURL: s.url}
}

// do sends one request with a real Chrome's headers and records its status.
func (c *client) do(t *testing.T, method, path string, body io.Reader) int {
	req, err := http.NewRequest(method, c.baseURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8")
	req.Header.Set("Accept-Language", "en-GB,en;q=0.9")
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	req.Header.Set("Sec-CH-UA", `"Chromium";v="131", "Not_A Brand";v="24"`)
	req.Header.Set("Sec-CH-UA-Platform", `"Linux"`)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("X-Forwarded-For", c.addr)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	at := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.mu.Lock()
	c.sent = append(c.sent, sent{at: at, path: path, status: resp.StatusCode})
	c.mu.Unlock()
	return resp.StatusCode
}

// firstBlocked returns the index of the first 403, or -1.
func (c *client) firstBlocked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.sent {
		if s.status == http.StatusForbidden {
			return i
		}
	}
	return -1
}

func (c *client) history() []sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sent(nil), c.sent...)
}
