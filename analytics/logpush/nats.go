package logpush

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsSink publishes each record as one JetStream message on Subject and
// waits for the stream's acks. The message id is the record's key, so the
// stream's duplicate window drops a replayed record it already holds.
type natsSink struct {
	cfg Config
	mu  sync.Mutex
	nc  *nats.Conn
	js  jetstream.JetStream
}

func newNATSSink(cfg Config) *natsSink { return &natsSink{cfg: cfg} }

// connect (re)connects and makes sure the stream exists; called before each
// batch until it succeeds, so a server that is down at start is no error.
func (s *natsSink) connect(ctx context.Context) (jetstream.JetStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.js != nil && s.nc.IsConnected() {
		return s.js, nil
	}
	if s.nc == nil || s.nc.IsClosed() {
		// No reconnect buffer: while the server is away a publish fails at
		// once (and the batch is retried or buffered) instead of waiting in
		// the client's memory.
		nc, err := nats.Connect(s.cfg.URL, nats.Name("botwarden-export-"+s.cfg.Name), nats.ReconnectBufSize(-1),
			nats.Timeout(s.cfg.Timeout), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
		if err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
		s.nc = nc
	}
	if !s.nc.IsConnected() {
		return nil, errors.New("nats: reconnecting")
	}
	js, err := jetstream.New(s.nc, jetstream.WithPublishAsyncTimeout(s.cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	if _, err := js.Stream(ctx, s.cfg.Stream); err != nil {
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("nats: stream %s: %w", s.cfg.Stream, err)
		}
		if !s.cfg.CreateStream {
			return nil, fmt.Errorf("nats: stream %s does not exist (create it, or set create_stream)", s.cfg.Stream)
		}
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: s.cfg.Stream, Subjects: []string{s.cfg.Subject},
			Storage: jetstream.FileStorage}); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil, fmt.Errorf("nats: create stream %s: %w", s.cfg.Stream, err)
		}
	}
	s.js = js
	return js, nil
}

func (s *natsSink) send(ctx context.Context, units []unit) error {
	actx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	js, err := s.connect(actx)
	if err != nil {
		return err
	}
	futures := make([]jetstream.PubAckFuture, len(units))
	pe := &partialError{}
	for i, u := range units {
		msg := &nats.Msg{Subject: s.cfg.Subject, Data: u.data}
		f, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(u.id), jetstream.WithExpectStream(s.cfg.Stream))
		if err != nil {
			pe.retry = append(pe.retry, i)
			if pe.first == "" {
				pe.first = err.Error()
			}
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			pe.retry = append(pe.retry, i)
			if pe.first == "" {
				pe.first = err.Error()
			}
		case <-actx.Done():
			pe.retry = append(pe.retry, i)
			if pe.first == "" {
				pe.first = actx.Err().Error()
			}
		}
	}
	switch {
	case len(pe.retry) == 0:
		return nil
	case len(pe.retry) == len(units):
		return fmt.Errorf("nats: %s", pe.first)
	}
	return pe
}

func (s *natsSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil {
		s.nc.Close()
	}
}
