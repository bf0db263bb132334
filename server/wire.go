package server

import (
	"context"
	"fmt"
	"time"

	"github.com/botwarden/botwarden/accesslog"
	"github.com/botwarden/botwarden/analytics"
	"github.com/botwarden/botwarden/cluster"
	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/detect/challenge"
	"github.com/botwarden/botwarden/detect/policy"
	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/extauthz"
)

// wire builds the engines, the decider and the transports from the
// configuration and mounts them. Dependencies point one way: the analysis
// loop (accesslog → behavior) writes the reputation store, the hot path
// (reputation engine) reads it.
func (s *Server) wire() error {
	cfg := s.cfg
	log := s.log

	// The reputation store outlives every request; its cleanup goroutine
	// stops with the server.
	storeCtx, stopStore := context.WithCancel(context.Background())
	local, err := reputation.NewLocal(storeCtx, cfg.Reputation.Store, log.With().Str("component", "reputation").Logger(), s.reg, nil)
	if err != nil {
		stopStore()
		return fmt.Errorf("reputation store: %w", err)
	}
	s.closers = append(s.closers, func() error { stopStore(); return local.Close() })
	cl, err := s.openCluster()
	if err != nil {
		return err
	}
	store, err := sharedStore(cl, local)
	if err != nil {
		return fmt.Errorf("reputation store: %w", err)
	}

	sessions, err := session.New(cfg.Session, log.With().Str("component", "session").Logger(), s.reg)
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}

	for _, name := range cfg.Detection.Engines {
		e, err := s.engine(name, config.Deps{Registerer: s.reg, Sessions: sessions, Store: store})
		if err != nil {
			return fmt.Errorf("engine %s: %w", name, err)
		}
		s.pipeline.Engines = append(s.pipeline.Engines, e)
	}
	s.pipeline.Finishers = append(s.pipeline.Finishers, sessions)

	limiter, err := s.limiterOption(cl)
	if err != nil {
		return err
	}
	decider, err := policy.New(cfg.Policy, log.With().Str("component", "policy").Logger(), s.reg, limiter...)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	s.pipeline.Decider = decider
	s.reloaders = append(s.reloaders, reloader{"policy", decider.Reload})
	s.background = append(s.background, func(ctx context.Context) {
		if err := decider.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("policy watcher stopped")
		}
	})

	// Analytics before the challenge, which tells it every answer; its
	// finisher still runs after the session's.
	svc, err := s.wireAnalytics(store)
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	chal, err := challenge.New(cfg.Challenge, sessions, challenge.Options{
		OnAnswer:   svc.In.RecordChallenge,
		Fallback:   extauthz.BlockResponder{},
		ClientIP:   cfg.ExtAuthz.HTTP.ClientIP.FromHTTP,
		Logger:     log.With().Str("component", "challenge").Logger(),
		Registerer: s.reg,
		Replay:     replayStore(cl),
	})
	if err != nil {
		return fmt.Errorf("challenge: %w", err)
	}
	s.mux.Handle(chal.Mount(), chal)

	authz, err := extauthz.New(s.pipeline, extauthz.Options{
		Config:     cfg.ExtAuthz,
		Responder:  chal,
		Logger:     log.With().Str("component", "extauthz").Logger(),
		Registerer: s.reg,
	})
	if err != nil {
		return fmt.Errorf("extauthz: %w", err)
	}
	authz.Register(s.grpc)
	s.mux.Handle(cfg.ExtAuthz.HTTP.Prefix+"/", authz.HTTPHandler())

	return s.wireAnalysis(sessions, analytics.Recording{Store: store, In: svc.In}, cl, svc.In)
}

// engine builds one hot-path engine from its line of the engine table and
// takes over its lifecycle: one that reads files is reloaded and closed
// with the server.
func (s *Server) engine(name string, d config.Deps) (detect.Engine, error) {
	spec, ok := config.LookupEngine(name)
	if !ok {
		return nil, fmt.Errorf("unknown engine") // config.Validate rejects it first
	}
	d.Log = s.log.With().Str("engine", name).Logger()
	e, err := spec.Build(&s.cfg, d)
	if err != nil {
		return nil, err
	}
	if fe, ok := e.(fileEngine); ok {
		s.owned(name, fe)
	}
	return e, nil
}

// fileEngine is an engine that reads files (range snapshots, MMDBs): the
// server re-reads them on Reload (SIGHUP) and closes it after the drain.
type fileEngine interface {
	detect.Engine
	Reload() error
	Close() error
}

// owned hands e's Reload and Close to the server.
func (s *Server) owned(name string, e fileEngine) {
	s.closers = append(s.closers, e.Close)
	s.reloaders = append(s.reloaders, reloader{name, e.Reload})
}

// wireAnalysis mounts the ALS receiver and starts the behavioural analysis
// that turns access-log events into reputation verdicts.
func (s *Server) wireAnalysis(sessions *session.Manager, store reputation.Store, cl *cluster.Cluster, recorder accesslog.Sink) error {
	log := s.log.With().Str("component", "behavior").Logger()
	analysis, err := behavior.New(s.cfg.Behavior, log, s.reg, store)
	if err != nil {
		return fmt.Errorf("behavior: %w", err)
	}
	s.background = append(s.background, func(ctx context.Context) {
		if err := analysis.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("analysis stopped")
		}
	})
	resolver := accesslog.CookieSessionResolver(s.cfg.Session.CookieName, func(value string, at time.Time) (string, error) {
		c, err := sessions.Open(value, at)
		if err != nil {
			return "", err
		}
		return c.SessionID.String(), nil
	})
	// With NATS, every replica's events go to the stream and the analysis
	// takes those of the partitions this replica owns.
	var sink accesslog.Sink = analysis
	if cl != nil {
		if sink, err = cl.Analysis(analysis, s.cfg.Behavior.Keys); err != nil {
			return fmt.Errorf("cluster analysis: %w", err)
		}
	}
	rcv, err := accesslog.New(s.cfg.AccessLog, s.log.With().Str("component", "accesslog").Logger(), s.reg,
		[]accesslog.Sink{sink, recorder}, accesslog.WithSessionResolver(resolver))
	if err != nil {
		return fmt.Errorf("accesslog: %w", err)
	}
	rcv.Register(s.grpc)
	return nil
}
