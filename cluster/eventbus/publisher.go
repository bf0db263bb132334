package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/internal/promreg"
)

// Publisher is the accesslog.Sink that sends events to the stream. Offer
// never blocks: events wait in a bounded buffer while NATS is away (the
// client reconnects by itself) and are dropped, counted, once it is full.
type Publisher struct {
	cfg  Config
	keys behavior.KeysConfig
	nc   *nats.Conn
	js   jetstream.JetStream
	log  zerolog.Logger
	q    chan queued
	acks chan pending

	published, dropFull, dropErr, pubErr prometheus.Counter
	lag                                  prometheus.Histogram
}

type queued struct {
	ev *detect.Event
	at time.Time
}

type pending struct {
	f  jetstream.PubAckFuture
	at time.Time
}

// NewPublisher returns a publisher on nc buffering up to buffer events.
// keys is the analysis's key configuration (which identities it tracks).
func NewPublisher(cfg Config, nc *nats.Conn, keys behavior.KeysConfig, buffer int, log zerolog.Logger, reg prometheus.Registerer) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if buffer < 1 {
		return nil, fmt.Errorf("publish_buffer: must be positive, got %d", buffer)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, fmt.Errorf("eventbus: %w", err)
	}
	p := &Publisher{cfg: cfg, keys: keys, nc: nc, js: js, log: log, q: make(chan queued, buffer), acks: make(chan pending, 4096)}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_cluster_events_published_total",
		Help: "Access-log events sent to JetStream, by result: published (stored, one per identity copy), dropped_buffer_full (NATS away and the buffer full), dropped_publish_error (refused by NATS), ack_error (stored state unknown)."},
		[]string{"result"})
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "botwarden_cluster_publish_lag_seconds",
		Help:    "Time from an event's arrival to JetStream acknowledging it.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)})
	if events, err = promreg.Register(reg, events); err != nil {
		return nil, err
	}
	if lag, err = promreg.Register(reg, lag); err != nil {
		return nil, err
	}
	if reg != nil {
		_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "botwarden_cluster_publish_buffered",
			Help: "Events waiting to be published (NATS slow or away)."}, func() float64 { return float64(len(p.q)) }))
	}
	p.published, p.dropFull = events.WithLabelValues("published"), events.WithLabelValues("dropped_buffer_full")
	p.dropErr, p.pubErr = events.WithLabelValues("dropped_publish_error"), events.WithLabelValues("ack_error")
	p.lag = lag
	return p, nil
}

// Offer implements accesslog.Sink.
func (p *Publisher) Offer(ev *detect.Event) bool {
	select {
	case p.q <- queued{ev, time.Now()}:
		return true
	default:
		p.dropFull.Inc()
		return false
	}
}

// Buffered is the number of events waiting.
func (p *Publisher) Buffered() int { return len(p.q) }

// Run publishes until ctx is done.
func (p *Publisher) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() { defer close(done); p.collect(ctx) }()
	defer func() { <-done }()
	var copies []copyOf
	for {
		var it queued
		select {
		case <-ctx.Done():
			return nil
		case it = <-p.q:
		}
		// While NATS is away the buffer holds the backlog: waiting here,
		// rather than handing messages to the client's own reconnect
		// buffer, keeps the bound and the drop count in one place.
		for !p.nc.IsConnected() {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(20 * time.Millisecond):
			}
		}
		data, err := json.Marshal(it.ev)
		if err != nil {
			p.dropErr.Inc()
			continue
		}
		copies = split(it.ev, p.keys, copies[:0])
		for _, c := range copies {
			msg := nats.NewMsg(p.cfg.Subject + "." + token(c.key))
			msg.Header.Set(hdrVersion, version)
			msg.Header.Set(hdrKinds, strconv.Itoa(int(c.kinds)))
			msg.Data = data
			f, err := p.publish(ctx, msg)
			if err != nil {
				p.dropErr.Inc()
				continue
			}
			select {
			case p.acks <- pending{f, it.at}:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// publish hands msg to the client. When too many publications wait for
// their acknowledgement (a burst faster than JetStream stores), it waits
// for them rather than dropping: the bounded buffer in front is where
// events are dropped, and counted, when the bus cannot keep up.
func (p *Publisher) publish(ctx context.Context, msg *nats.Msg) (jetstream.PubAckFuture, error) {
	for {
		f, err := p.js.PublishMsgAsync(msg)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.js.PublishAsyncComplete():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// collect waits for the acknowledgements, in publication order.
func (p *Publisher) collect(ctx context.Context) {
	for {
		var pa pending
		select {
		case <-ctx.Done():
			return
		case pa = <-p.acks:
		}
		select {
		case <-pa.f.Ok():
			p.published.Inc()
			p.lag.Observe(time.Since(pa.at).Seconds())
		case err := <-pa.f.Err():
			p.pubErr.Inc()
			p.log.Debug().Err(err).Msg("eventbus: publish not acknowledged")
		case <-ctx.Done():
			return
		}
	}
}
