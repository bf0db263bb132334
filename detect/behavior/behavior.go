// Package behavior is the asynchronous detection engine: it consumes
// access-log events, keeps per-client state keyed by session id, IP, IP
// network and JA4 over sliding windows with bounded memory, runs
// behavioural detectors over it, and publishes verdicts (Cloudflare's
// behavioural analysis, Netacea's detection engine) to the reputation
// store that the hot path reads.
//
// Each event is fanned out to the worker owning each of its keys (keys are
// hash-partitioned), so one key's events are processed in order by one
// goroutine and its state needs no lock. Risk decays exponentially with a
// half-life, so scores recover when the behaviour stops.
package behavior

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Publisher receives the verdicts; reputation.Store implements it.
type Publisher interface {
	Put(ctx context.Context, v reputation.Verdict) error
}

// Option customises an Engine.
type Option func(*Engine)

// WithClock sets the clock used for verdict expiry (default time.Now).
// Replay passes the time of the event being replayed. Windows and decay
// always use the events' own times.
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithObserver is told about every published verdict (after Put), e.g. to
// print it, with the analysis lag: the time from Offer taking the event
// that caused it to its publication.
func WithObserver(fn func(v reputation.Verdict, lag time.Duration)) Option {
	return func(e *Engine) { e.observer = fn }
}

// WithIPInfo gives the anomaly baselines country and ASN features.
func WithIPInfo(fn IPInfoFunc) Option { return func(e *Engine) { e.cls.ipInfo = fn } }

// Engine is the behavioural analysis. Offer is safe for concurrent use.
type Engine struct {
	cfg      Config
	log      zerolog.Logger
	pub      Publisher
	now      func() time.Time
	observer func(reputation.Verdict, time.Duration)
	cls      classifier

	windowMs, halfLifeMs int64
	workers              []*worker
	syncMu               sync.Mutex // Workers == 0: Offer processes inline
	running              atomic.Bool

	offered, processed atomic.Int64 // units, for Pending
	m                  metrics
}

type unit struct {
	o    *obs
	kind uint8
}

type worker struct {
	e       *Engine
	q       chan unit
	tab     *table
	bl      baselines
	ctx     context.Context
	tracked atomic.Int64
	evicted atomic.Uint64
}

type metrics struct {
	events                     *prometheus.CounterVec
	accepted, dropped, unkeyed prometheus.Counter // children of events
	verdicts                   *prometheus.CounterVec
	pubErrors                  prometheus.Counter
	lag                        prometheus.Histogram
}

// New builds the engine. pub may be nil (verdicts only go to the
// observer). Call Run to start the workers.
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer, pub Publisher, opts ...Option) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("behavior: %w", err)
	}
	e := &Engine{
		cfg: cfg, log: log, pub: pub, now: time.Now,
		windowMs: cfg.Window.Milliseconds(), halfLifeMs: cfg.HalfLife.Milliseconds(),
	}
	e.cls = classifier{cfg: &e.cfg, seed: maphash.MakeSeed()}
	for _, o := range opts {
		o(e)
	}
	n := max(cfg.Workers, 1)
	for range n {
		w := &worker{e: e, tab: newTable(max(cfg.MaxTracked/n, 1)), ctx: context.Background(),
			bl: baselines{byHost: map[uint64]*baseline{}, max: cfg.Anomaly.MaxHosts}}
		if cfg.Workers > 0 {
			w.q = make(chan unit, cfg.QueueSize)
		}
		e.workers = append(e.workers, w)
	}
	e.m = metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_behavior_events_total",
			Help: "Events offered to the behavioural analysis, by result (accepted, dropped: a worker queue was full, unkeyed: no session, IP or JA4)."}, []string{"result"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_behavior_verdicts_total",
			Help: "Verdicts published, by key kind and whether they block (score ≤ threshold)."}, []string{"kind", "blocking"}),
		pubErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "botwarden_behavior_publish_errors_total", Help: "Verdicts the reputation store refused."}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "botwarden_behavior_lag_seconds",
			Help:    "Time from an event's arrival to the verdict it caused being published.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 12)}),
	}
	e.m.accepted = e.m.events.WithLabelValues("accepted")
	e.m.dropped = e.m.events.WithLabelValues("dropped")
	e.m.unkeyed = e.m.events.WithLabelValues("unkeyed")
	// Every series from the start: increase() and rate() miss the first
	// verdict of a series that appears at 1 (alerts and dashboards).
	for _, k := range kindNames {
		e.m.verdicts.WithLabelValues(k, "true")
		e.m.verdicts.WithLabelValues(k, "false")
	}
	if reg != nil {
		cs := []prometheus.Collector{e.m.events, e.m.verdicts, e.m.pubErrors, e.m.lag,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "botwarden_behavior_tracked_keys", Help: "Keys with behavioural state."},
				func() float64 { return float64(e.Tracked()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "botwarden_behavior_evictions_total", Help: "Tracked keys evicted to stay within max_tracked."},
				func() float64 { return float64(e.Evictions()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "botwarden_behavior_pending", Help: "Events queued for analysis."},
				func() float64 { return float64(e.Pending()) }),
		}
		for _, c := range cs {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("behavior: register metric: %w", err)
			}
		}
	}
	return e, nil
}

// Run processes events until ctx is done. Events offered before Run wait
// in the queues (or are dropped when they are full). With Workers == 0 it
// only waits for ctx: Offer does the work.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("behavior: Run called twice")
	}
	if e.cfg.Workers == 0 {
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	for _, w := range e.workers {
		w.ctx = ctx
		wg.Go(func() {
			for {
				select {
				case u := <-w.q:
					w.process(u)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// anomalyTagRisk is the risk of a tag-only anomaly (score 89).
const anomalyTagRisk = 10

// Kinds selects client identities of an event (OfferKinds).
type Kinds uint8

// The identities an event is analysed under.
const (
	KindSession Kinds = 1 << kindSession
	KindIP      Kinds = 1 << kindIP
	KindNet     Kinds = 1 << kindNet
	KindJA4     Kinds = 1 << kindJA4
	AllKinds          = KindSession | KindIP | KindNet | KindJA4
)

// Offer hands an event to the analysis without blocking: it returns false
// when a worker queue was full and (part of) the event was dropped. The
// event must not be modified afterwards.
func (e *Engine) Offer(ev *detect.Event) bool { return e.offer(ev, AllKinds, time.Now()) }

// OfferAt is Offer for an event received at recv: a receiver handing over a
// batch of entries reads the clock once for all of them (one read per
// entry was a quarter of Offer's cost on a loaded ingest path).
func (e *Engine) OfferAt(ev *detect.Event, recv time.Time) bool { return e.offer(ev, AllKinds, recv) }

// OfferKinds is Offer for only some of the event's identities: with the
// analysis partitioned over several replicas, each identity's state lives
// on the replica owning its partition, which is offered the event for that
// identity alone. The per-event extras (anomaly baselines) still run once,
// on the copy that carries the event's primary identity.
func (e *Engine) OfferKinds(ev *detect.Event, kinds Kinds) bool {
	return e.offer(ev, kinds, time.Now())
}

func (e *Engine) offer(ev *detect.Event, kinds Kinds, recv time.Time) bool {
	o := e.cls.observe(ev, recv)
	if o.primary == numKinds {
		e.m.unkeyed.Inc()
		return true
	}
	for k := range numKinds {
		if kinds&(1<<k) == 0 {
			o.hasKey[k] = false
		}
	}
	if e.cfg.Workers == 0 {
		e.syncMu.Lock()
		for k := range numKinds {
			if o.hasKey[k] {
				e.offered.Add(1)
				e.workers[0].process(unit{o, k})
			}
		}
		e.syncMu.Unlock()
		e.m.accepted.Inc()
		return true
	}
	ok := true
	for k := range numKinds {
		if !o.hasKey[k] {
			continue
		}
		// The low bit of key hashes is forced to 1; shard on the high half.
		w := e.workers[(o.keys[k]>>32)%uint64(len(e.workers))]
		if len(w.q) > cap(w.q)/2 {
			// The queue is filling because the goroutine calling
			// Offer (an ALS stream handing over 100 entries at a
			// time) holds the CPU for a whole time slice while the
			// worker waits for one: let it run before the queue
			// overflows. With eight streams on two cores this turned
			// 4-9% of entries dropped into none.
			runtime.Gosched()
		}
		select {
		case w.q <- unit{o, k}:
			e.offered.Add(1)
		default:
			ok = false
		}
	}
	if ok {
		e.m.accepted.Inc()
	} else {
		e.m.dropped.Inc()
	}
	return ok
}

// Pending is the number of (event, key) units queued or being processed.
func (e *Engine) Pending() int64 { return e.offered.Load() - e.processed.Load() }

// Tracked is the number of keys with state.
func (e *Engine) Tracked() int64 {
	var n int64
	for _, w := range e.workers {
		n += w.tracked.Load()
	}
	return n
}

// Evictions is the number of keys evicted so far.
func (e *Engine) Evictions() uint64 {
	var n uint64
	for _, w := range e.workers {
		n += w.evicted.Load()
	}
	return n
}

// process applies one event to one key's state, runs the detectors and
// publishes a verdict when the key crosses a threshold or its tags change.
func (w *worker) process(u unit) {
	e, o := w.e, u.o
	cfg := &e.cfg
	s, fresh := w.tab.get(o.keys[u.kind])
	if fresh {
		s.kind = u.kind
		s.epoch = uint32(max(o.ms, 0) / e.windowMs)
		s.lastMs = o.ms
		w.tracked.Store(int64(w.tab.len()))
		w.evicted.Store(w.tab.evictions)
	}
	if o.ms > s.lastMs {
		s.risk *= float32(math.Exp2(-float64(o.ms-s.lastMs) / float64(e.halfLifeMs)))
		if s.risk < 1 {
			s.risk, s.tags = 0, 0
		}
		s.lastMs = o.ms
	}
	weight := s.advance(o.ms, e.windowMs)
	w.count(s, o)
	if u.kind == o.primary && cfg.Anomaly.Enabled && w.bl.get(o.host).judge(&o.features, &cfg.Anomaly) {
		s.cur.anomalies = sat16(s.cur.anomalies)
	}

	v := view{s: s, o: o, w: weight, kind: u.kind}
	risk, fired, certain := evaluate(&v, &cfg.Detectors)
	anomalyOnly := false
	if cfg.Anomaly.Enabled && v.sum(func(c *counts) uint16 { return c.anomalies }) >= float64(cfg.Anomaly.MinEvents) {
		fired |= anomalyBit
		if cfg.Anomaly.TagOnly {
			// A few points keep the tag alive (and published) while the
			// risk decays; the score stays likely-human.
			risk += anomalyTagRisk
		} else {
			anomalyOnly = !certain
			certain = true
		}
	}
	if certain {
		risk = 98
	}
	if float32(risk) > s.risk {
		s.risk = float32(risk)
	}
	s.tags |= fired
	w.maybePublish(s, o, u.kind, anomalyOnly)
	e.processed.Add(1)
}

// count updates the counters of s with the event.
func (w *worker) count(s *state, o *obs) {
	c := &s.cur
	c.reqs = sat16(c.reqs)
	if o.page {
		c.pages = sat16(c.pages)
	}
	if o.static {
		c.assets = sat16(c.assets)
	}
	if o.status >= 400 && o.status < 500 && !o.denied && !o.loginFail {
		c.c4xx = sat16(c.c4xx)
	}
	if o.loginFail {
		c.loginFail = sat16(c.loginFail)
	}
	if o.challengeFail {
		c.challenge = sat16(c.challenge)
	}
	if o.robots {
		c.robots = sat16(c.robots)
	}
	if o.robotsTxt {
		s.robotsTxt = true
	}
	if o.uaHash != 0 {
		addBit(&c.uas, o.uaHash)
	}
	if o.ipHash != 0 {
		addBit(&c.ips, o.ipHash)
	}
	if o.acctHash != 0 {
		addBit(&c.accts, o.acctHash)
	}
	if o.static {
		return
	}
	addBit128(&c.paths, o.pathHash)
	// Burst: non-asset requests within the current second.
	if sec := uint32(max(o.ms, 0) / 1000); sec == s.sec {
		s.secN = sat16(s.secN)
	} else if sec > s.sec {
		s.sec, s.secN = sec, 1
	}
	w.timing(s, o.ms)
	if o.hasSeq {
		switch {
		case o.seqTmpl != s.seqTmpl:
			s.seqTmpl, s.seqRun = o.seqTmpl, 0
		case o.seqID == s.seqLast+1 || o.seqID+1 == s.seqLast:
			s.seqRun = sat16(s.seqRun)
		case o.seqID != s.seqLast:
			s.seqRun = 0
		}
		s.seqLast = o.seqID
	}
}

// timing tracks the mean and variance of the gaps between non-asset
// requests: an exact average over the first ten, then exponentially
// weighted (α = 0.1). A gap longer than the window restarts it.
func (w *worker) timing(s *state, ms int64) {
	if s.lastPgMs == 0 || ms < s.lastPgMs {
		if s.lastPgMs == 0 {
			s.lastPgMs = ms
		}
		return
	}
	gap := float64(ms - s.lastPgMs)
	s.lastPgMs = ms
	if gap > float64(w.e.windowMs) {
		s.gapN, s.gapMean, s.gapVar = 0, 0, 0
		return
	}
	s.gapN = sat16(s.gapN)
	alpha := max(0.1, 1/float64(s.gapN))
	mean, vr := float64(s.gapMean), float64(s.gapVar)
	diff := gap - mean
	incr := alpha * diff
	mean += incr
	vr = (1 - alpha) * (vr + diff*incr)
	s.gapMean, s.gapVar = float32(mean), float32(vr)
}

// maybePublish publishes s's verdict when it is new, worse, differently
// tagged, or past half its lifetime.
func (w *worker) maybePublish(s *state, o *obs, kind uint8, anomalyOnly bool) {
	e := w.e
	cfg := &e.cfg
	if s.tags == 0 || s.risk < 1 {
		return
	}
	score := 99 - int(math.Round(min(98, float64(s.risk))))
	blocking := score <= cfg.Threshold
	if !blocking && !cfg.PublishTags {
		return
	}
	now := e.now()
	ttl := e.ttl(float64(s.risk), blocking)
	due := s.tags != s.pubTags || s.pubScore == 0 ||
		blocking && score+5 <= int(s.pubScore) || score == 1 && s.pubScore != 1 ||
		now.UnixMilli() >= s.pubUntil-ttl.Milliseconds()/2
	if !due {
		return
	}
	key := keyOf(kind, o.ev, cfg.Keys)
	if key == "" {
		return
	}
	src := detect.SourceBehavioral
	if anomalyOnly {
		src = detect.SourceAnomaly
	}
	v := reputation.Verdict{Key: key, Score: score, Source: src, Tags: tagNames(s.tags), Expiry: now.Add(ttl)}
	s.pubTags, s.pubScore, s.pubUntil = s.tags, uint8(score), v.Expiry.UnixMilli()
	if e.pub != nil {
		if err := e.pub.Put(w.ctx, v); err != nil {
			e.m.pubErrors.Inc()
			e.log.Warn().Err(err).Str("key", key).Msg("behavior: publish verdict")
			return
		}
	}
	lag := time.Since(o.recv)
	e.m.lag.Observe(lag.Seconds())
	e.m.verdicts.WithLabelValues(kindNames[kind], fmt.Sprint(blocking)).Inc()
	if e.observer != nil {
		e.observer(v, lag)
	}
}

// ttl is how long a verdict lives: for a blocking one, until the decayed
// risk would climb back above the threshold score, within the bounds.
func (e *Engine) ttl(risk float64, blocking bool) time.Duration {
	if !blocking {
		return e.cfg.MinVerdictTTL
	}
	t := time.Duration(float64(e.cfg.HalfLife) * math.Log2(risk/float64(99-e.cfg.Threshold)))
	return min(max(t, e.cfg.MinVerdictTTL), e.cfg.MaxVerdictTTL)
}

// keyOf is the reputation key of the event's identity of kind.
func keyOf(kind uint8, ev *detect.Event, k KeysConfig) string {
	switch kind {
	case kindSession:
		return reputation.KeySession(ev.SessionID)
	case kindIP:
		return reputation.KeyIP(ev.ClientIP)
	case kindNet:
		return reputation.KeyPrefix(ev.ClientIP, k.V4PrefixBits, k.V6PrefixBits)
	case kindJA4:
		return reputation.KeyJA4(ev.JA4)
	}
	return ""
}
