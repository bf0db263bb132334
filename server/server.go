// Package server wires botwarden together: it builds the detection pipeline
// from the configuration, mounts the Envoy-facing services (ext_authz Check,
// the ALS receiver, gRPC health) on one gRPC server and the HTTP endpoints
// (HTTP authz, challenge, /healthz, /readyz, /metrics) on one HTTP server,
// and drains both on shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/botwarden/botwarden/analytics"
	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/extauthz"
)

// Server is one botwarden process.
type Server struct {
	cfg      config.Config
	log      zerolog.Logger
	reg      *prometheus.Registry
	pipeline *detect.Pipeline

	grpc   *grpc.Server
	health *health.Server
	mux    *http.ServeMux
	http   *http.Server

	grpcLis, httpLis net.Listener
	admin            *http.Server // nil when server.admin_addr is ""
	adminLis         net.Listener
	analytics        *analytics.Service
	ready            atomic.Bool
	// clusterReady, set with a cluster: section, says whether the shared
	// backends let this replica serve (and what is degraded).
	clusterReady func() (bool, string)
	unary        atomic.Int64 // unary RPCs (Checks) in flight

	// background tasks run for the life of Serve; closers run after drain;
	// reloaders re-read files (policy, range snapshots) on Reload.
	background []func(ctx context.Context)
	closers    []func() error
	reloaders  []reloader
}

type reloader struct {
	name   string
	reload func() error
}

// Reload re-reads the policy file and the range snapshots (SIGHUP, or after
// `botwarden update-ranges`). A part that fails keeps its previous state;
// the errors are returned joined, each naming its part.
func (s *Server) Reload() error {
	var errs []error
	for _, r := range s.reloaders {
		if err := r.reload(); err != nil {
			errs = append(errs, fmt.Errorf("reload %s: %w", r.name, err))
			s.log.Error().Err(err).Str("part", r.name).Msg("reload failed; previous state kept")
			continue
		}
		s.log.Info().Str("part", r.name).Msg("reloaded")
	}
	return errors.Join(errs...)
}

// New builds a server from cfg without listening. Everything that can fail
// on bad configuration fails here, before any port is bound.
func New(cfg config.Config, log zerolog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, log: log, reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	engineErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "botwarden_engine_errors_total",
		Help: "Engine evaluations that failed or panicked; the request still got a verdict.",
	}, []string{"engine"})
	s.reg.MustRegister(engineErrors)

	s.grpc = grpc.NewServer(
		extauthz.ServerOption(),
		grpc.MaxRecvMsgSize(cfg.Server.MaxRecvMsgBytes),
		grpc.ChainUnaryInterceptor(s.countUnary),
		grpc.MaxConcurrentStreams(cfg.Server.MaxConcurrentStreams),
		// Envoy keeps its connections to ext_authz and ALS open and pings
		// them; allow it, but drop dead peers.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
	)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)

	s.pipeline = &detect.Pipeline{
		Budget:   cfg.Detection.Budget,
		Fallback: cfg.Detection.FallbackAction,
		OnError: func(engine string, err error) {
			engineErrors.WithLabelValues(engine).Inc()
			log.Debug().Err(err).Str("engine", engine).Msg("engine error")
		},
	}
	if err := s.wire(); err != nil {
		s.close()
		return nil, err
	}
	// A series per engine at 0, so that an alert on increase() sees an
	// engine's first error.
	for _, e := range s.pipeline.Engines {
		engineErrors.WithLabelValues(e.Name())
	}

	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if s.clusterReady != nil {
			ok, detail := s.clusterReady()
			if !ok {
				http.Error(w, "not ready: "+detail, http.StatusServiceUnavailable)
				return
			}
			if detail != "" {
				w.Write([]byte("ready (" + detail + ")\n"))
				return
			}
		}
		w.Write([]byte("ready\n"))
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	s.http = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    256 << 10,
	}
	return s, nil
}

// Pipeline returns the detection pipeline (for tools and tests).
func (s *Server) Pipeline() *detect.Pipeline { return s.pipeline }

// Registry returns the Prometheus registry served on /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Listen binds both ports. Addresses like "127.0.0.1:0" are fine; read the
// result from GRPCAddr and HTTPAddr.
func (s *Server) Listen() error {
	var err error
	if s.grpcLis, err = net.Listen("tcp", s.cfg.Server.GRPCAddr); err != nil {
		return fmt.Errorf("listen grpc %s: %w", s.cfg.Server.GRPCAddr, err)
	}
	if s.httpLis, err = net.Listen("tcp", s.cfg.Server.HTTPAddr); err != nil {
		s.grpcLis.Close()
		return fmt.Errorf("listen http %s: %w", s.cfg.Server.HTTPAddr, err)
	}
	if err := s.listenAdmin(); err != nil {
		s.grpcLis.Close()
		s.httpLis.Close()
		return err
	}
	return nil
}

// GRPCAddr is the bound gRPC address (after Listen).
func (s *Server) GRPCAddr() net.Addr { return s.grpcLis.Addr() }

// HTTPAddr is the bound HTTP address (after Listen).
func (s *Server) HTTPAddr() net.Addr { return s.httpLis.Addr() }

// Serve runs until ctx is cancelled, then stops taking new work, drains
// in-flight checks for up to the shutdown grace, and returns. It calls Listen
// if that was not done.
func (s *Server) Serve(ctx context.Context) error {
	if s.grpcLis == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	bgCtx, stopBackground := context.WithCancel(context.Background())
	waitBackground := s.RunBackground(bgCtx)

	errc := make(chan error, 3)
	go s.serveAdmin(errc)
	go func() { errc <- s.grpc.Serve(s.grpcLis) }()
	go func() {
		if err := s.http.Serve(s.httpLis); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.ready.Store(true)
	s.log.Info().
		Str("grpc", s.GRPCAddr().String()).
		Str("http", s.HTTPAddr().String()).
		Strs("engines", s.cfg.Detection.Engines).
		Bool("vtprotobuf", extauthz.VTProtobuf()).
		Str("admin", s.cfg.Server.AdminAddr).
		Msg("botwarden serving: ext_authz Check, access-log service and gRPC health on grpc; HTTP authz, /healthz, /readyz, /metrics on http")

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		s.log.Error().Err(serveErr).Msg("server failed")
	}
	s.shutdown(stopBackground)
	waitBackground()
	s.close()
	return serveErr
}

// RunBackground starts the work Serve runs beside the listeners for the
// life of ctx: the analytics writer and its retention, the behavioural
// analysis, the policy watcher, the limiters' sweeps, the cluster's
// subscriptions. It returns a function that waits until all of it has
// stopped once ctx ends. Serve calls it; so does a tool that drives the
// pipeline without listening (the load harness), so that the pipeline's
// finishers are drained as in production (the analytics queue would
// otherwise fill and drop every decision).
func (s *Server) RunBackground(ctx context.Context) (wait func()) {
	var bg sync.WaitGroup
	for _, run := range s.background {
		bg.Go(func() { run(ctx) })
	}
	return bg.Wait
}

// shutdown stops accepting, drains in-flight checks for up to the grace
// period, then cuts what is left: Envoy's ALS streams never end on their own
// (Envoy keeps them open and reconnects, to another replica, when they are
// cut; the log is lossy by design), so waiting for them would always cost the
// whole grace period. Background work (analysis, policy watcher) stops last,
// after the last entry has been handed over.
func (s *Server) shutdown(stopBackground context.CancelFunc) {
	s.ready.Store(false)
	s.health.Shutdown()
	grace := s.cfg.Server.ShutdownGrace
	s.log.Info().Dur("grace", grace).Msg("draining")
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()

	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }() // refuses new RPCs from here on
	if err := s.http.Shutdown(ctx); err != nil {
		s.log.Warn().Err(err).Msg("http drain cut short")
	}
	s.shutdownAdmin(ctx)
	if !s.unaryDrained(ctx, done) {
		s.log.Warn().Int64("in_flight", s.unary.Load()).Msg("grpc drain cut short")
	}
	s.grpc.Stop() // ends the remaining streams; a no-op if GracefulStop finished
	<-done
	stopBackground()
	s.log.Info().Msg("stopped")
}

// unaryDrained waits until no unary RPC (Check) is in flight, GracefulStop
// has finished, or ctx ends; it reports whether the checks drained.
func (s *Server) unaryDrained(ctx context.Context, stopped <-chan struct{}) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stopped:
			return true
		case <-ctx.Done():
			return s.unary.Load() == 0
		case <-tick.C:
			if s.unary.Load() == 0 {
				return true
			}
		}
	}
}

// countUnary keeps s.unary, the number of unary RPCs in flight, for the drain.
func (s *Server) countUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	s.unary.Add(1)
	defer s.unary.Add(-1)
	return handler(ctx, req)
}

func (s *Server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			s.log.Warn().Err(err).Msg("close")
		}
	}
	s.closers = nil
}

// Close releases what New acquired, for a server that will not Serve.
func (s *Server) Close() { s.close() }
