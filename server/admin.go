package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/botwarden/botwarden/admin"
	"github.com/botwarden/botwarden/analytics"
	"github.com/botwarden/botwarden/analytics/dashboard"
	"github.com/botwarden/botwarden/detect/ratelimit"
	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/botwarden/botwarden/extauthz"
)

// wireAnalytics opens the analytics store and hooks its writer onto the
// pipeline (decisions) and returns it for the access-log receiver (entries)
// and the reputation store (verdicts). A store that cannot open is logged,
// not fatal: Checks do not depend on it. Operators' feedback reports
// write their verdicts to rep, the store the next Check reads.
func (s *Server) wireAnalytics(rep reputation.Store) (*analytics.Service, error) {
	svc, err := analytics.Open(s.cfg.Analytics, s.log.With().Str("component", "analytics").Logger(), s.reg)
	if err != nil {
		return nil, err
	}
	// Rewritten at half the store's longest verdict life (at most every 5
	// minutes), so a report's verdict outlives max_ttl and a restart.
	svc.UseReputation(analytics.Reputation{Store: rep, ParseKey: s.cfg.Reputation.Lookup.ParseKey,
		Refresh: min(5*time.Minute, s.cfg.Reputation.Store.MaxTTL/2)})
	s.analytics = svc
	s.pipeline.Finishers = append(s.pipeline.Finishers, svc.In)
	s.background = append(s.background, svc.Run)
	s.closers = append(s.closers, svc.Close)
	// The block page's "I am human" form, on the Envoy-facing port where
	// visitors can reach it; its own limiter (no metrics: the policy's
	// limiter owns the ratelimit metric names).
	lim, err := ratelimit.NewLocal(ratelimit.DefaultConfig(), s.log.With().Str("component", "visitor-feedback").Logger(), nil)
	if err != nil {
		return nil, err
	}
	s.background = append(s.background, func(ctx context.Context) { lim.Run(ctx) })
	s.mux.Handle("POST "+extauthz.FeedbackPath, svc.VisitorHandler(s.cfg.ExtAuthz.HTTP.ClientIP.FromHTTP, lim))
	return svc, s.wireAdmin(svc)
}

// wireAdmin builds the admin listener's handler: dashboard, /api/v1,
// /metrics and pprof behind the admin guard. A non-loopback admin_addr
// without a token fails here, before anything is bound.
func (s *Server) wireAdmin(svc *analytics.Service) error {
	addr := s.cfg.Server.AdminAddr
	if addr == "" {
		return nil
	}
	if err := admin.CheckAddr(addr, s.cfg.Admin); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", svc.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", dashboard.Handler())
	guard, err := admin.New(s.cfg.Admin, mux)
	if err != nil {
		return err
	}
	s.admin = &http.Server{
		Handler:           guard,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // pprof profiles take 30 s by default
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	return nil
}

func (s *Server) listenAdmin() error {
	if s.admin == nil {
		return nil
	}
	var err error
	if s.adminLis, err = net.Listen("tcp", s.cfg.Server.AdminAddr); err != nil {
		return fmt.Errorf("listen admin %s: %w", s.cfg.Server.AdminAddr, err)
	}
	return nil
}

// AdminAddr is the bound admin address (after Listen), nil when off.
func (s *Server) AdminAddr() net.Addr {
	if s.adminLis == nil {
		return nil
	}
	return s.adminLis.Addr()
}

// Analytics returns the analytics service (for tools and tests).
func (s *Server) Analytics() *analytics.Service { return s.analytics }

func (s *Server) serveAdmin(errc chan<- error) {
	if s.admin == nil {
		errc <- nil
		return
	}
	if err := s.admin.Serve(s.adminLis); !errors.Is(err, http.ErrServerClosed) {
		errc <- fmt.Errorf("admin: %w", err)
		return
	}
	errc <- nil
}

func (s *Server) shutdownAdmin(ctx context.Context) {
	if s.admin == nil {
		return
	}
	if err := s.admin.Shutdown(ctx); err != nil {
		s.log.Warn().Err(err).Msg("admin drain cut short")
	}
}
