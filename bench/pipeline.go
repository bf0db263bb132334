package main

import (
	"context"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/server"
)

// newPipeline builds exactly the pipeline `botwarden serve` runs on its
// embedded defaults: every engine, the default policy and the finishers
// (session cookies, analytics). The server is built but never listens; only
// its pipeline is driven, behind the harness's own ext_authz server on
// loopback. Its background work runs until ctx ends, as under serve: the
// analytics writer drains what the pipeline's finisher queues (without it
// the queue fills and every decision is dropped at the cost of a counter,
// cheaper than serve), and the policy watcher and sweeps run.
func newPipeline(ctx context.Context) (*detect.Pipeline, error) {
	srv, err := newServer(ctx)
	if err != nil {
		return nil, err
	}
	return srv.Pipeline(), nil
}

// newServer is newPipeline's server, background running, for the harness
// to read its metrics after the run.
func newServer(ctx context.Context) (*server.Server, error) {
	// BOTWARDEN_* variables apply, so the same run measures a configured
	// variant (e.g. BOTWARDEN_CLUSTER_REDIS_ADDR: the shared state on).
	cfg := config.Default()
	if err := config.ApplyEnv(&cfg, os.Environ()); err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg.Server.GRPCAddr, cfg.Server.HTTPAddr, cfg.Server.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	srv, err := server.New(cfg, zerolog.Nop())
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	srv.RunBackground(ctx)
	return srv, nil
}
