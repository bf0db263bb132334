package server

import (
	"context"
	"fmt"

	"github.com/botwarden/botwarden/cluster"
	"github.com/botwarden/botwarden/detect/challenge"
	"github.com/botwarden/botwarden/detect/policy"
	"github.com/botwarden/botwarden/detect/ratelimit"
	"github.com/botwarden/botwarden/detect/reputation"
)

// openCluster connects to the shared backends when the `cluster:` section
// names any; nil (the single process) otherwise. Its background parts run
// and its connections close with the server.
func (s *Server) openCluster() (*cluster.Cluster, error) {
	if !s.cfg.Cluster.Enabled() {
		return nil, nil
	}
	cl, err := cluster.Open(s.cfg.Cluster, s.log.With().Str("component", "cluster").Logger(), s.reg)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, cl.Close)
	s.background = append(s.background, cl.Run)
	s.clusterReady = cl.Ready
	return cl, nil
}

// sharedStore is the reputation store the engines and the analysis use:
// the local one, or the Redis-shared one over it.
func sharedStore(cl *cluster.Cluster, local *reputation.Local) (reputation.Store, error) {
	if cl == nil {
		return local, nil
	}
	return cl.Store(local)
}

// limiterOption makes the policy's rate limits global when Redis is
// configured: a shared limiter that falls back to an in-process one, which
// the server sweeps (the decider only sweeps a limiter it built).
func (s *Server) limiterOption(cl *cluster.Cluster) ([]policy.Option, error) {
	if cl == nil || !cl.Redis() {
		return nil, nil
	}
	local, err := ratelimit.NewLocal(s.cfg.Policy.RateLimit, s.log.With().Str("component", "ratelimit").Logger(), s.reg)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	shared, err := cl.Limiter(local)
	if err != nil {
		return nil, err
	}
	s.background = append(s.background, func(ctx context.Context) { _ = local.Run(ctx) })
	return []policy.Option{policy.WithLimiter(shared)}, nil
}

// replayStore is the shared used-ticket store, or nil (the challenge's own
// in-process one).
func replayStore(cl *cluster.Cluster) challenge.ReplayStore {
	if cl == nil {
		return nil
	}
	return cl.Replay()
}
