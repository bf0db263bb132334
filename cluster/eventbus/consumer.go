package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/synadia-io/orbit.go/pcgroups"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/internal/promreg"
)

// Analysis takes the events of the partitions this replica owns;
// behavior.Engine implements it.
type Analysis interface {
	OfferKinds(ev *detect.Event, kinds behavior.Kinds) bool
}

// pinHeader carries the pinned client's id on every message of a pinned
// priority group: a new id means this replica has just been given the
// partition.
const pinHeader = "Nats-Pin-Id"

// Consumer joins every member of the group and feeds the analysis the
// events of the members JetStream pins to this replica.
type Consumer struct {
	cfg     Config
	js      jetstream.JetStream
	an      Analysis
	log     zerolog.Logger
	members []*member
	now     func() time.Time

	consumed, bad, offerDropped prometheus.Counter
	replayed                    prometheus.Counter
	rebuilds                    prometheus.Histogram
	owned, lag                  prometheus.Gauge
}

// member is this replica's instance of one group member (partition).
type member struct {
	name    string
	filters []string // the stream subjects of its partition ("3.>")
	pin     atomic.Value
	lastSeq atomic.Uint64 // last stream sequence analysed here
	owned   atomic.Bool
}

// NewConsumer returns a consumer feeding an.
func NewConsumer(cfg Config, js jetstream.JetStream, an Analysis, log zerolog.Logger, reg prometheus.Registerer) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if an == nil {
		return nil, errors.New("eventbus: nil analysis")
	}
	c := &Consumer{cfg: cfg, js: js, an: an, log: log, now: time.Now}
	names := members(cfg.Partitions)
	for _, n := range names {
		m := &member{name: n, filters: pcgroups.GeneratePartitionFilters(names, uint(cfg.Partitions), nil, n, ">")}
		m.pin.Store("")
		c.members = append(c.members, m)
	}
	msgs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_cluster_events_consumed_total",
		Help: "Events taken from JetStream for this replica's partitions, by result: analysed, bad (did not decode: another version or garbage; skipped), dropped (the analysis queue was full), replayed (re-read to rebuild a partition's state)."},
		[]string{"result"})
	rebuilds := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "botwarden_cluster_partition_rebuild_seconds",
		Help:    "Time to rebuild a partition's state from the stream when this replica was given it.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)})
	owned := prometheus.NewGauge(prometheus.GaugeOpts{Name: "botwarden_cluster_partitions_owned",
		Help: "Partitions of the analysis pinned to this replica."})
	lag := prometheus.NewGauge(prometheus.GaugeOpts{Name: "botwarden_cluster_consumer_lag_events",
		Help: "Events of this replica's partitions not yet delivered to it (JetStream's num_pending)."})
	var err error
	if msgs, err = promreg.Register(reg, msgs); err != nil {
		return nil, err
	}
	if rebuilds, err = promreg.Register(reg, rebuilds); err != nil {
		return nil, err
	}
	if owned, err = promreg.Register(reg, owned); err != nil {
		return nil, err
	}
	if lag, err = promreg.Register(reg, lag); err != nil {
		return nil, err
	}
	c.consumed, c.bad, c.offerDropped, c.replayed = msgs.WithLabelValues("analysed"), msgs.WithLabelValues("bad"), msgs.WithLabelValues("dropped"), msgs.WithLabelValues("replayed")
	c.rebuilds, c.owned, c.lag = rebuilds, owned, lag
	return c, nil
}

// Owned is the number of partitions pinned to this replica (as of the
// last check).
func (c *Consumer) Owned() int {
	n := 0
	for _, m := range c.members {
		if m.owned.Load() {
			n++
		}
	}
	return n
}

// Run consumes until ctx is done. Members are joined in a random order so
// that the first pulls, which JetStream pins, spread over the replicas.
func (c *Consumer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, i := range rand.Perm(len(c.members)) {
		m := c.members[i]
		wg.Go(func() { c.runMember(ctx, m) })
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(rand.IntN(20)) * time.Millisecond):
		}
	}
	wg.Go(func() { c.watch(ctx) })
	wg.Wait()
	return nil
}

// runMember keeps this replica's instance of m joined, rejoining after an
// error (NATS away at start, the group's config changed).
func (c *Consumer) runMember(ctx context.Context, m *member) {
	for ctx.Err() == nil {
		cc, err := pcgroups.StaticConsume(ctx, c.js, c.cfg.Stream, group, m.name, func(msg jetstream.Msg) { c.handle(ctx, m, msg) },
			jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.cfg.AckWait, DeliverPolicy: jetstream.DeliverAllPolicy, MaxAckPending: 4096})
		if err == nil {
			select {
			case <-ctx.Done():
				cc.Stop()
				<-cc.Done()
				return
			case err = <-cc.Done():
			}
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Warn().Err(err).Str("member", m.name).Msg("eventbus: partition consumer stopped; rejoining")
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// handle analyses one message of m, first rebuilding m's state when the
// pin is new (the partition just came to this replica).
func (c *Consumer) handle(ctx context.Context, m *member, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		c.bad.Inc()
		_ = msg.Term()
		return
	}
	if pin := msg.Headers().Get(pinHeader); pin != m.pin.Load().(string) {
		m.pin.Store(pin)
		m.owned.Store(true)
		c.rebuild(ctx, m, meta.Sequence.Stream)
	}
	switch c.deliver(msg) {
	case resultBad:
		c.bad.Inc()
		_ = msg.Term()
	case resultDropped:
		c.offerDropped.Inc()
		_ = msg.Ack()
	default:
		c.consumed.Inc()
		_ = msg.Ack()
	}
	m.lastSeq.Store(meta.Sequence.Stream)
}

type result int

const (
	resultOK result = iota
	resultBad
	resultDropped
)

// deliver decodes msg and offers it to the analysis.
func (c *Consumer) deliver(msg jetstream.Msg) result {
	h := msg.Headers()
	if h.Get(hdrVersion) != version {
		return resultBad
	}
	k, err := strconv.Atoi(h.Get(hdrKinds))
	if err != nil || k < 1 || k > int(behavior.AllKinds) {
		return resultBad
	}
	ev := new(detect.Event)
	if err := json.Unmarshal(msg.Data(), ev); err != nil {
		return resultBad
	}
	if !c.an.OfferKinds(ev, behavior.Kinds(k)) {
		return resultDropped
	}
	return resultOK
}

// rebuild replays m's partition from the stream, up to (not including)
// stream sequence upto: from just after the last event this replica
// analysed for it, or the rebuild window when it never owned it.
func (c *Consumer) rebuild(ctx context.Context, m *member, upto uint64) {
	if c.cfg.Rebuild <= 0 || upto <= 1 {
		return
	}
	start := c.now()
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: m.filters}
	if last := m.lastSeq.Load(); last > 0 {
		if last+1 >= upto {
			return
		}
		occ.DeliverPolicy, occ.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
	} else {
		from := start.Add(-c.cfg.Rebuild)
		occ.DeliverPolicy, occ.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	}
	n := 0
	defer func() {
		d := c.now().Sub(start)
		c.rebuilds.Observe(d.Seconds())
		c.log.Info().Str("member", m.name).Int("events", n).Dur("took", d).Msg("eventbus: partition state rebuilt from the stream")
	}()
	oc, err := c.js.OrderedConsumer(ctx, c.cfg.Stream, occ)
	if err != nil {
		c.log.Warn().Err(err).Str("member", m.name).Msg("eventbus: rebuild: no ordered consumer; starting from empty state")
		return
	}
	if oc.CachedInfo().NumPending == 0 {
		return
	}
	for ctx.Err() == nil {
		batch, err := oc.Fetch(512, jetstream.FetchMaxWait(250*time.Millisecond))
		if err != nil {
			return
		}
		got, done := 0, false
		for msg := range batch.Messages() {
			got++
			meta, err := msg.Metadata()
			if done || err != nil {
				continue
			}
			if meta.Sequence.Stream >= upto {
				done = true
				continue
			}
			if c.deliver(msg) == resultOK {
				n++
				c.replayed.Inc()
			}
			// The last message before upto, or the end of the stream.
			done = meta.Sequence.Stream+1 >= upto || meta.NumPending == 0
		}
		if done || got == 0 {
			return
		}
	}
}

// watch refreshes the ownership and lag gauges from the consumers' info:
// a replica is only told when it gains a partition (a new pin on a
// message), so losing one shows up here.
func (c *Consumer) watch(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		owned, lag := 0, uint64(0)
		for _, m := range c.members {
			cons, err := c.js.Consumer(ctx, c.cfg.Stream, group+"-"+m.name)
			if err != nil {
				continue
			}
			info := cons.CachedInfo()
			mine := false
			for _, pg := range info.PriorityGroups {
				if pg.PinnedClientID != "" && pg.PinnedClientID == m.pin.Load().(string) {
					mine = true
				}
			}
			m.owned.Store(mine)
			if mine {
				owned++
				lag += info.NumPending
			}
		}
		c.owned.Set(float64(owned))
		c.lag.Set(float64(lag))
	}
}
