package extauthz

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/extauthz/checkwire"
)

// Options configure a Server.
type Options struct {
	Config Config
	// Responder renders enforced denials. nil means BlockResponder; the
	// challenge package passes a Responder that handles the challenge
	// actions and delegates the rest to BlockResponder.
	Responder detect.Responder
	Logger    zerolog.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
}

// Server answers Envoy's ext_authz Check over gRPC and the HTTP authz
// endpoint (see HTTPHandler) with one decision path.
type Server struct {
	authv3.UnimplementedAuthorizationServer

	pipeline  *detect.Pipeline
	responder detect.Responder
	cfg       Config
	lim       limits
	log       zerolog.Logger
	m         *metrics
}

// New builds a Server deciding with p; the policy reloads inside p's
// decider, so p itself never changes. It fails only on a nil pipeline, an
// invalid config or a metrics registration conflict.
func New(p *detect.Pipeline, opts Options) (*Server, error) {
	if p == nil {
		return nil, errors.New("extauthz: nil pipeline")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("extauthz: %w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{pipeline: p, responder: opts.Responder, cfg: opts.Config, lim: opts.Config.limits(), log: opts.Logger, m: m}
	if s.responder == nil {
		s.responder = BlockResponder{}
	}
	return s, nil
}

// Register mounts the Authorization service on a gRPC server, which must
// have been built with ServerOption: its Check method decodes requests with
// checkwire, which only Codec knows.
func (s *Server) Register(g grpc.ServiceRegistrar) { g.RegisterService(&serviceDesc, s) }

// serviceDesc is go-control-plane's Authorization service description with
// a Check handler that decodes the request from the wire with checkwire
// (about 3.8 times cheaper than protobuf-go's reflection) instead of into
// an authv3.CheckRequest. Same service, method and wire format.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: authv3.Authorization_ServiceDesc.ServiceName,
	HandlerType: (*authv3.AuthorizationServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Check", Handler: checkHandler}},
	Metadata:    authv3.Authorization_ServiceDesc.Metadata,
}

// wireRequests recycles decoded requests: their header slices are the
// only per-request buffers that survive to the next call. One grown by a
// request with thousands of headers is left to the GC rather than kept.
var wireRequests = sync.Pool{New: func() any { return new(checkwire.Request) }}

const maxPooledHeaders = 256

func recycle(w *checkwire.Request) {
	if cap(w.Headers) <= maxPooledHeaders && cap(w.HeaderMap) <= maxPooledHeaders {
		wireRequests.Put(w)
	}
}

func checkHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	presizeStack(0)
	s := srv.(*Server)
	w := wireRequests.Get().(*checkwire.Request)
	defer recycle(w)
	if err := dec(w); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return s.checkWire(ctx, w), nil
	}
	info := &grpc.UnaryServerInfo{Server: s, FullMethod: authv3.Authorization_Check_FullMethodName}
	return interceptor(ctx, w, info, func(ctx context.Context, req any) (any, error) {
		return s.checkWire(ctx, req.(*checkwire.Request)), nil
	})
}

// Check implements envoy.service.auth.v3.Authorization for in-process
// callers; the gRPC server decodes from the wire instead (checkWire). It
// never returns an error: a denial is a CheckResponse with a non-OK
// status, and a gRPC error would make Envoy apply failure_mode_allow /
// status_on_error instead.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := time.Now()
	r, iss := fromCheckRequest(req, s.cfg.ClientIP, s.lim)
	var v *detect.Verdict
	if req == nil {
		v = s.pipeline.SafeVerdict("error", "nil-request")
	} else {
		v = s.pipeline.Check(ctx, r)
	}
	resp := s.answer(r, v, iss, start)
	typedMetadata(resp)
	return resp, nil
}

// checkWire is Check for a request decoded by checkwire.
func (s *Server) checkWire(ctx context.Context, w *checkwire.Request) *authv3.CheckResponse {
	start := time.Now()
	r, iss := fromWire(w, s.cfg.ClientIP, s.lim)
	return s.answer(r, s.pipeline.Check(ctx, r), iss, start)
}

// answer builds the response to a decided request and accounts for it.
func (s *Server) answer(r *detect.Request, v *detect.Verdict, iss issue, start time.Time) *authv3.CheckResponse {
	resp := s.checkResponse(r, v)
	s.m.observe(TransportGRPC, v, iss, time.Since(start))
	s.logDecision(TransportGRPC, r, v, iss)
	return resp
}

// respond renders an enforced denial, never panicking: a broken responder
// falls back to the block page.
func (s *Server) respond(r *detect.Request, v *detect.Verdict) (resp detect.Response) {
	defer func() {
		if x := recover(); x != nil {
			s.m.panics.Inc()
			s.log.Error().Interface("panic", x).Str("request_id", r.ID).Msg("responder panicked; sending the block page")
			resp = BlockResponder{}.Respond(r, v)
		}
	}()
	resp = s.responder.Respond(r, v)
	resp.Status = denyStatus(resp.Status)
	return resp
}

// logDecision logs at debug level: per-request lines at info would flood
// under load; the metrics count every problem.
func (s *Server) logDecision(transport string, r *detect.Request, v *detect.Verdict, iss issue) {
	e := s.log.Debug()
	if e == nil {
		return
	}
	e.Str("transport", transport).
		Str("request_id", r.ID).
		Str("client_ip", addrString(r.ClientIP)).
		Str("host", r.Host).
		Int("score", v.Score).
		Str("source", string(v.Source)).
		Str("action", string(v.Action)).
		Str("enforced_action", string(v.EnforcedAction)).
		Str("rule", v.RuleID).
		Bool("deadline", v.Deadline)
	for i, name := range issueNames {
		if iss&(1<<i) != 0 {
			e.Bool(name, true)
		}
	}
	e.Msg("check")
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// stackPresize is how much stack presizeStack makes room for.
const stackPresize = 10 << 10

// presizeStack grows the calling goroutine's stack once, while it is
// shallow. grpc-go runs every RPC on a new goroutine, whose stack starts
// at 2 KiB; a decision needs about 8 KiB, and letting it grow on demand
// means copies made deep inside the decoder and the engines, each walking
// and adjusting every live frame: under the load harness the stack copies
// attributed to the handler fell from about 3.4 µs to 1.2 µs per Check
// with one copy here, with few frames on the stack. The
// frame is a local array the compiler keeps on the stack: it does not
// escape, and presizeStack is not inlined so the frame is its own.
//
//go:noinline
func presizeStack(i int) byte {
	var pad [stackPresize]byte
	return pad[i%len(pad)]
}
