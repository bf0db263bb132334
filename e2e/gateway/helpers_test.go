package gateway

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/botwarden/botwarden/e2e/fetch"
)

// These tests check the in-repo gateway's Envoy semantics against an
// ext_authz test double: a real gRPC Authorization server on loopback
// whose answers each test scripts. botwarden itself is exercised through
// the gateway by the scenarios in package e2e.

// authzDouble records CheckRequests and answers with respond.
type authzDouble struct {
	authv3.UnimplementedAuthorizationServer
	mu      sync.Mutex
	reqs    []*authv3.CheckRequest
	respond func(*authv3.CheckRequest) (*authv3.CheckResponse, error)
	delay   time.Duration
}

func (d *authzDouble) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	d.mu.Lock()
	d.reqs = append(d.reqs, req)
	respond, delay := d.respond, d.delay
	d.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return respond(req)
}

func (d *authzDouble) requests() []*authv3.CheckRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*authv3.CheckRequest(nil), d.reqs...)
}

func (d *authzDouble) last(t *testing.T) *authv3.CheckRequest {
	t.Helper()
	rs := d.requests()
	if len(rs) == 0 {
		t.Fatal("no CheckRequest received")
	}
	return rs[len(rs)-1]
}

func allow(*authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.OK)}}, nil
}

// startAuthz serves d over gRPC on loopback and returns its address.
func startAuthz(t testing.TB, d *authzDouble) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, d)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// echo is what the test origin answers: the request as it arrived.
type echo struct {
	Method  string              `json:"method"`
	URI     string              `json:"uri"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
}

func (e echo) header(name string) string {
	return strings.Join(e.Headers[http.CanonicalHeaderKey(name)], ",")
}

func (e echo) has(name string) bool {
	_, ok := e.Headers[http.CanonicalHeaderKey(name)]
	return ok
}

// startEcho starts an origin that echoes requests as JSON and sets a
// response header the tests overwrite.
func startEcho(t testing.TB, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Served-By", name)
		w.Header().Add("Set-Cookie", "origin=1")
		_ = json.NewEncoder(w).Encode(echo{Method: r.Method, URI: r.RequestURI, Host: r.Host, Headers: r.Header})
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// rig is the gateway with its clusters: the ext_authz double, an origin and
// a stand-in for botwarden's HTTP port (the challenge route).
type rig struct {
	gw    *InRepo
	authz *authzDouble
	tap   *Recorder
}

func newRig(t testing.TB, opts Options, respond func(*authv3.CheckRequest) (*authv3.CheckResponse, error)) *rig {
	t.Helper()
	if respond == nil {
		respond = allow
	}
	d := &authzDouble{respond: respond}
	authzAddr := startAuthz(t, d)
	rec := &Recorder{}
	opts.Tap = rec
	if opts.Clusters == nil {
		opts.Clusters = map[string]string{}
	}
	for name, addr := range map[string]string{
		"botwarden_authz": authzAddr, "botwarden_als": authzAddr,
		"botwarden_http": startEcho(t, "botwarden_http"), "origin": startEcho(t, "origin"),
	} {
		if _, ok := opts.Clusters[name]; !ok {
			opts.Clusters[name] = addr
		}
	}
	gw, err := StartInRepo(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	return &rig{gw: gw, authz: d, tap: rec}
}

// do sends a request through the gateway; hdr is a list of name, value pairs
// (repeated names allowed).
func (r *rig) do(t *testing.T, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return send(t, r.gw.URL(), method, path, hdr...)
}

// send makes one request to a gateway at base.
func send(t *testing.T, base, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return fetch.Do(t, req)
}

// origin decodes the echo of a request that reached an upstream.
func origin(t *testing.T, body string) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an origin echo: %v: %q", err, body)
	}
	return e
}

func boolp(b bool) *bool    { return &b }
func u32p(v uint32) *uint32 { return &v }
