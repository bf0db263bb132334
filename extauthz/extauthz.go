package extauthz

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/extauthz/wire"
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
// have been built with ServerOption: Check requests arrive decoded by
// package wire, which only its codec knows, and are answered by checkWire.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	g.RegisterService(wire.ServiceDesc(s.checkWire), s)
}

// ServerOption makes a gRPC server use the codec Register needs.
func ServerOption() grpc.ServerOption { return wire.ServerOption() }

// VTProtobuf reports whether this binary was built with go-control-plane's
// vtprotobuf marshalling code (-tags vtprotobuf), for the startup log.
func VTProtobuf() bool { return wire.VTProtobuf() }

// Check implements envoy.service.auth.v3.Authorization for in-process
// callers; the gRPC server answers with checkWire. It never returns an
// error: a denial is a CheckResponse with a non-OK status, and a gRPC
// error would make Envoy apply failure_mode_allow / status_on_error
// instead. Answers share read-only parts (header options): do not modify
// one.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	resp, r, v := s.check(ctx, req)
	md := newStructMetadata()
	writeMetadata(md, r, v)
	resp.DynamicMetadata = md.s
	return resp, nil
}

// checkWire is Check as the gRPC server runs it: the same answer, with the
// dynamic metadata written as wire bytes instead of a Struct.
func (s *Server) checkWire(ctx context.Context, req *authv3.CheckRequest) *wire.Response {
	resp, r, v := s.check(ctx, req)
	md := wire.NewStructWriter()
	writeMetadata(md, r, v)
	return &wire.Response{Msg: resp, Metadata: md.Field()}
}

// check maps, decides, answers and accounts for one request.
func (s *Server) check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, *detect.Request, *detect.Verdict) {
	start := time.Now()
	r, iss := fromCheckRequest(req, s.cfg.ClientIP, s.lim)
	var v *detect.Verdict
	if req == nil {
		// Only an in-process caller can send none; there is nothing to judge.
		v = s.pipeline.SafeVerdict("error", "nil-request")
	} else {
		v = s.pipeline.Check(ctx, r)
	}
	resp := s.checkResponse(r, v)
	s.m.observe(TransportGRPC, v, iss, time.Since(start))
	s.logDecision(TransportGRPC, r, v, iss)
	return resp, r, v
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
