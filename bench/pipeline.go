package main

import (
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/server"
)

// newPipeline builds exactly the pipeline `botwarden serve` runs on its
// embedded defaults: every engine, the default policy and the session
// finisher. The server is built but never listens; only its pipeline is
// driven, behind the harness's own ext_authz server on loopback.
var newPipeline = func() (*detect.Pipeline, error) {
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
	return srv.Pipeline(), nil
}
