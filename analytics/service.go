package analytics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/analytics/logpush"
)

// Service is the analytics part of one botwarden process: the store, the
// writer that feeds it, and the API over both.
type Service struct {
	cfg   Config
	Store Store // nil when the store could not be opened
	In    *Ingester
	log   zerolog.Logger
	now   func() time.Time

	rep          Reputation     // where operators' reports act (UseReputation)
	feedbackJobs []*logpush.Job // export jobs of dataset feedback
}

// Open opens the store and builds the writer. A store that cannot be opened
// (corrupt file, no space, wrong permissions) is not fatal: botwarden keeps
// serving Checks, the error is logged at start, and the API and dashboard
// answer with it instead of numbers. Only a bad configuration is an error.
func Open(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	s := &Service{cfg: cfg, log: log, now: time.Now}
	var openErr error
	if cfg.Enabled {
		st, err := OpenDuckDB(cfg.Store)
		if err != nil {
			openErr = err
			log.Error().Err(err).Msg("analytics store unavailable: Checks are served, nothing is recorded, the dashboard shows this error")
		} else {
			s.Store = st
		}
	} else {
		openErr = errors.New("analytics disabled (analytics.enabled: false)")
	}
	in, err := NewIngester(cfg.Ingest, s.Store, openErr, log, reg)
	if err != nil {
		if s.Store != nil {
			s.Store.Close()
		}
		return nil, err
	}
	s.In = in
	if len(cfg.Exports) > 0 {
		m, err := logpush.NewMetrics(reg)
		if err != nil {
			s.Close()
			return nil, err
		}
		for i, ec := range cfg.Exports {
			schema, _ := datasetSchema(ec.Dataset) // Validate checked it
			j, err := logpush.New(ec, schema, m, log)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("analytics: exports[%d].%w", i, err)
			}
			if schema.Kind == FeedbackSchema.Kind {
				s.feedbackJobs = append(s.feedbackJobs, j)
			} else {
				in.exports = append(in.exports, j)
			}
		}
	}
	return s, nil
}

// Run runs the writer, retention, the feedback refresher and the export
// jobs until ctx ends.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.In.Maintain(ctx, s.cfg.MaintainInterval) })
	wg.Go(func() { s.refreshFeedback(ctx) })
	// Exporters drain after the writer: it hands them its last batch.
	exportCtx, stopExports := context.WithCancel(context.Background())
	var ew sync.WaitGroup
	for _, e := range append(slices.Clip(s.In.exports), s.feedbackJobs...) {
		ew.Go(func() { e.Run(exportCtx) })
	}
	s.In.Run(ctx)
	stopExports()
	ew.Wait()
	wg.Wait()
}

// Close closes the store (after Run returned).
func (s *Service) Close() error {
	if s.Store == nil {
		return nil
	}
	return s.Store.Close()
}

// available returns the store, or the reason there is none.
func (s *Service) available() (Store, error) {
	if s.Store == nil {
		err, _ := s.In.Err()
		return nil, fmt.Errorf("analytics store unavailable: %w", err)
	}
	return s.Store, nil
}
