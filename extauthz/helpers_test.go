package extauthz

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botwarden/botwarden/detect"
)

// testEngine is a tiny heuristic: known HTTP-library user agents are
// automated (detection 1001), everything else gets an ML-like 80.
var testEngine = detect.EngineFunc{EngineName: "test-ua", Fn: func(ctx context.Context, r *detect.Request, v *detect.Verdict) error {
	ua := strings.ToLower(r.UserAgent())
	switch {
	case ua == "" || strings.Contains(ua, "curl") || strings.Contains(ua, "python-requests"):
		v.Automated(detect.SourceHeuristics, 1001, "http-library")
	case strings.Contains(ua, "googlebot"):
		v.Propose(50, detect.SourceML)
		v.MarkVerified("googlebot", "search_engine")
	default:
		v.Propose(80, detect.SourceML)
	}
	return nil
}}

// testDecider: score 1 blocks; a path under /limited rate-limits; a path
// under /challenge gets a managed challenge; the mode comes from the
// "mode" context extension or a path under /monitor (default mitigate) and
// turns denials into allow in monitor and inject mode.
type testDecider struct{}

func (testDecider) Decide(ctx context.Context, r *detect.Request, v *detect.Verdict) {
	v.Action, v.RuleID = detect.ActionAllow, "default"
	switch {
	case strings.HasPrefix(r.PathOnly(), "/limited"):
		v.Action, v.RuleID, v.RetryAfter = detect.ActionRateLimit, "rl-1", 1500*time.Millisecond
	case strings.HasPrefix(r.PathOnly(), "/challenge"):
		v.Action, v.RuleID, v.ChallengeDifficulty = detect.ActionManagedChallenge, "chl-1", 18
	case v.Score == detect.ScoreAutomated:
		v.Action, v.RuleID = detect.ActionBlock, "block-automated"
	}
	v.Mode = detect.Mode(r.ContextExtensions["mode"])
	if strings.HasPrefix(r.PathOnly(), "/monitor") {
		v.Mode = detect.ModeMonitor
	}
	if v.Mode == "" {
		v.Mode = detect.ModeMitigate
	}
	v.EnforcedAction = v.Action
	if v.Mode != detect.ModeMitigate && v.Action.Denies() {
		v.EnforcedAction = detect.ActionAllow
	}
	if strings.HasPrefix(r.PathOnly(), "/cookie") {
		v.SetCookies = append(v.SetCookies, "__bw=abc; Path=/; HttpOnly", "__bw_js=1; Path=/")
	}
}

// modeDecider is testDecider with a fixed mode.
type modeDecider struct{ mode detect.Mode }

func (d modeDecider) Decide(ctx context.Context, r *detect.Request, v *detect.Verdict) {
	testDecider{}.Decide(ctx, r, v)
	v.Mode, v.EnforcedAction = d.mode, v.Action
	if d.mode != detect.ModeMitigate && v.Action.Denies() {
		v.EnforcedAction = detect.ActionAllow
	}
}

func testPipeline() *detect.Pipeline {
	return &detect.Pipeline{Engines: []detect.Engine{testEngine}, Decider: testDecider{}}
}

func newTestServer(t testing.TB, p *detect.Pipeline, opts Options) *Server {
	t.Helper()
	if opts.Config == (Config{}) {
		opts.Config = DefaultConfig()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	opts.Logger = zerolog.Nop()
	if p != nil && p.Budget == 0 {
		// Decision tests must not turn into fail-open ones on a loaded
		// machine; TestCheckDeadlineFallback sets its own budget.
		p.Budget = 5 * time.Second
	}
	s, err := New(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dialGRPC serves s on a real loopback listener and returns a client.
func dialGRPC(t testing.TB, s authv3.AuthorizationServer) authv3.AuthorizationClient {
	t.Helper()
	return authv3.NewAuthorizationClient(serveGRPC(t, s))
}

// serveGRPC serves s on a real loopback listener, as the server does, and
// returns a connection to it.
func serveGRPC(t testing.TB, s authv3.AuthorizationServer) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(ServerOption())
	if srv, ok := s.(*Server); ok {
		srv.Register(g)
	} else {
		authv3.RegisterAuthorizationServer(g, s)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

const (
	chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	curlUA   = "curl/8.5.0"
)

// checkRequest builds a CheckRequest the way Envoy does: pseudo-headers in
// the header map, the peer in source.address.
func checkRequest(path, ua string, extra map[string]string) *authv3.CheckRequest {
	h := map[string]string{
		":authority": "shop.example", ":path": path, ":method": "GET", ":scheme": "https",
		"user-agent": ua, "accept": "text/html", "x-request-id": "req-123",
	}
	for k, v := range extra {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: socketAddr("192.0.2.5", 51000)},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "1234567890", Method: "GET", Path: path, Host: "shop.example", Scheme: "https",
			Protocol: "HTTP/2", Headers: h,
		}},
	}}
}

func socketAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}
