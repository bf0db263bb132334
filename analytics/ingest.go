package analytics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/analytics/logpush"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/challenge"
	"github.com/botwarden/botwarden/detect/reputation"
)

// IngestConfig tunes the asynchronous writer.
type IngestConfig struct {
	// Queue is how many decisions and access-log entries may wait for the
	// writer; beyond it they are dropped (counted) and sampling tightens.
	Queue int `yaml:"queue"`
	// BatchSize is how many records one append writes.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval bounds how long a record waits for its batch.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// JoinWindow is how long a decision waits for its access-log entry
	// (Envoy flushes ALS every second by default) before it is stored alone.
	JoinWindow time.Duration `yaml:"join_window"`
	// MaxSampleInterval bounds adaptive sampling: at worst 1 request in N
	// is stored (a power of two).
	MaxSampleInterval int `yaml:"max_sample_interval"`
}

// item is one unit of work for the writer: a decision, an access-log entry
// or a published verdict.
type item struct {
	rec       Record
	ev        *detect.Event
	verdict   *VerdictRecord
	challenge *ChallengeRecord
	training  *TrainingRecord
}

// Ingester takes decisions (as a detect.Finisher on the hot path),
// access-log entries (as an accesslog.Sink) and published verdicts, joins
// decisions with their entries by request reference, and appends batches
// to the store from one goroutine. Nothing on the request path waits for
// the store: a full queue drops, and the drops raise the sample interval so
// that the store sees a uniform sample again, each record carrying the
// interval it stands for.
type Ingester struct {
	cfg   IngestConfig
	store Store // nil when the store failed to open
	log   zerolog.Logger
	q     chan item

	interval atomic.Int64 // current sample interval (1, 2, 4, ...)
	dropped  atomic.Int64 // since the last adaptation tick
	now      func() time.Time

	mu      sync.Mutex
	lastErr error
	errAt   time.Time

	m ingestMetrics

	exports []*logpush.Job // every stored record is offered to each

	// Writer goroutine only: challenge answers and labelled requests
	// waiting for the next flush, and how many each reported client has
	// added (bounded by maxTrainingPerKey until the process restarts).
	chal       []ChallengeRecord
	train      []TrainingRecord
	trainByKey map[string]int
}

type ingestMetrics struct {
	stored, sampled, dropped, late, failed prometheus.Counter
	verdictsDropped, challengesDropped     prometheus.Counter
	trainingDropped                        prometheus.Counter
}

// NewIngester builds the writer for store. A nil store (it failed to open)
// is allowed: the ingester then takes nothing and reports openErr.
func NewIngester(cfg IngestConfig, store Store, openErr error, log zerolog.Logger, reg prometheus.Registerer) (*Ingester, error) {
	in := &Ingester{cfg: cfg, store: store, log: log, q: make(chan item, cfg.Queue), now: time.Now}
	in.interval.Store(1)
	if store == nil {
		in.lastErr, in.errAt = openErr, time.Now()
		if in.lastErr == nil {
			in.lastErr = errors.New("analytics store not open")
		}
	}
	recs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_analytics_records_total",
		Help: "Requests offered to the analytics store by result: stored, sampled (left out by adaptive sampling), dropped (queue full), late (access-log entry after its decision was stored), failed (the store refused the batch)."},
		[]string{"result"})
	in.m = ingestMetrics{stored: recs.WithLabelValues("stored"), sampled: recs.WithLabelValues("sampled"),
		dropped: recs.WithLabelValues("dropped"), late: recs.WithLabelValues("late"), failed: recs.WithLabelValues("failed")}
	verdicts := prometheus.NewCounter(prometheus.CounterOpts{Name: "botwarden_analytics_verdicts_dropped_total",
		Help: "Published verdicts not recorded for the dashboard because the queue was full."})
	in.m.verdictsDropped = verdicts
	challenges := prometheus.NewCounter(prometheus.CounterOpts{Name: "botwarden_analytics_challenges_dropped_total",
		Help: "Challenge answers not recorded for the dashboard because the queue was full."})
	in.m.challengesDropped = challenges
	training := prometheus.NewCounter(prometheus.CounterOpts{Name: "botwarden_analytics_training_dropped_total",
		Help: "Requests of reported clients not kept as training examples because the queue was full."})
	in.m.trainingDropped = training
	if reg != nil {
		for _, c := range []prometheus.Collector{recs, verdicts, challenges, training,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "botwarden_analytics_sample_interval",
				Help: "Adaptive sampling: 1 request in this many is stored."}, func() float64 { return float64(in.interval.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "botwarden_analytics_queue_length",
				Help: "Items waiting for the analytics writer."}, func() float64 { return float64(len(in.q)) }),
		} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("analytics: register metric: %w", err)
			}
		}
	}
	return in, nil
}

// keep decides sampling for a request reference: the same answer for the
// decision and the access-log entry of one request.
func (in *Ingester) keep(ref string) (int, bool) {
	n := in.interval.Load()
	if n <= 1 {
		return 1, true
	}
	return int(n), refHash(ref)%uint64(n) == 0
}

func (in *Ingester) offer(it item) bool {
	select {
	case in.q <- it:
		return true
	default:
		in.dropped.Add(1)
		in.m.dropped.Inc()
		return false
	}
}

// Finish implements detect.Finisher: it copies the decision and hands it
// to the writer without waiting. The request reference is computed here
// only when sampling needs it; otherwise the writer computes it (fill).
func (in *Ingester) Finish(_ context.Context, r *detect.Request, v *detect.Verdict) {
	if in.store == nil {
		return
	}
	// The transport fixed the reference the page and the upstream header
	// carry (Ray); without one the writer derives it from the id (fill).
	ref := r.Ray
	n := 1
	if in.interval.Load() > 1 {
		var ok bool
		if ref == "" {
			ref = Ref(r.ID)
		}
		if n, ok = in.keep(ref); !ok {
			in.m.sampled.Inc()
			return
		}
	}
	rec := FromDecision(r, v, ref)
	rec.SampleInterval = n
	in.offer(item{rec: rec})
	if label := trainingLabel(v); label != "" {
		// Only clients an operator reported: a map copy for those alone.
		// A full queue drops it without counting it as a lost record
		// (which would raise the sample interval).
		select {
		case in.q <- item{training: trainingRecord(r, v, label)}:
		default:
			in.m.trainingDropped.Inc()
		}
	}
}

// Offer implements accesslog.Sink. The event is shared with other sinks and
// only read.
func (in *Ingester) Offer(ev *detect.Event) bool {
	if in.store == nil {
		return true // nothing to store into; not the sender's problem
	}
	return in.offer(item{ev: ev})
}

// RecordVerdict queues a published verdict for the verdicts page.
func (in *Ingester) RecordVerdict(v reputation.Verdict) {
	if in.store == nil {
		return
	}
	vr := &VerdictRecord{Time: in.now(), Key: v.Key, Score: v.Score, Source: string(v.Source), Tags: append([]string(nil), v.Tags...), Expiry: v.Expiry}
	select {
	case in.q <- item{verdict: vr}:
	default:
		in.m.verdictsDropped.Inc()
	}
}

// RecordChallenge queues a challenge answer for the Overview's challenge
// outcomes (challenge.Options.OnAnswer). It never blocks: a full queue
// drops it and counts it.
func (in *Ingester) RecordChallenge(a challenge.Answer) {
	if in.store == nil {
		return
	}
	cr := &ChallengeRecord{Time: a.Time, Kind: a.Kind, Result: a.Result, Outcome: outcomeOf(a), Host: a.Host, Path: a.Path,
		SolveMs: float64(a.Age) / float64(time.Millisecond)}
	if a.ClientIP.IsValid() {
		cr.ClientIP = a.ClientIP.String()
	}
	select {
	case in.q <- item{challenge: cr}:
	default:
		in.m.challengesDropped.Inc()
	}
}

// flushSide stores what the writer gathered in *pending since the last
// flush with store (the small side tables), then empties it.
func flushSide[T any](in *Ingester, pending *[]T, store func(context.Context, []T) error, what string) {
	if len(*pending) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := store(wctx, *pending)
	cancel()
	if err != nil {
		in.log.Error().Err(err).Int("count", len(*pending)).Msg("analytics store refused " + what + "; dropped")
		in.setErr(err)
	}
	*pending = (*pending)[:0]
}

func (in *Ingester) flushTraining() {
	flushSide(in, &in.train, in.store.AppendTraining, "training examples")
}
func (in *Ingester) flushChallenges() {
	flushSide(in, &in.chal, in.store.AppendChallenges, "challenge answers")
}

// Err reports the store's last error and when it happened (nil when the
// last write succeeded), for the dashboard's banner and /api/v1/status.
func (in *Ingester) Err() (error, time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.lastErr, in.errAt
}

// SampleInterval is the current adaptive sample interval.
func (in *Ingester) SampleInterval() int { return int(in.interval.Load()) }

func (in *Ingester) setErr(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err != nil || in.store != nil {
		in.lastErr = err
		in.errAt = in.now()
	}
}

// pending is a decision waiting for its access-log entry.
type pending struct {
	rec      Record
	deadline time.Time
}

// joiner holds decisions until their access-log entry arrives or the join
// window passes, and remembers recently stored references so that a late
// entry is not stored a second time.
type joiner struct {
	window      time.Duration
	byRef       map[string]*pending
	order       []string // refs in arrival order, for expiry
	head        int
	recent, old map[string]struct{}
	rotated     time.Time
}

func newJoiner(window time.Duration) *joiner {
	return &joiner{window: window, byRef: map[string]*pending{}, recent: map[string]struct{}{}, old: map[string]struct{}{}}
}

func (j *joiner) seen(ref string) bool {
	_, a := j.recent[ref]
	_, b := j.old[ref]
	return a || b
}

func (j *joiner) done(ref string, now time.Time) {
	j.recent[ref] = struct{}{}
	if now.Sub(j.rotated) > 4*j.window {
		j.old, j.recent, j.rotated = j.recent, map[string]struct{}{}, now
	}
}

// expire moves decisions whose window has passed (or beyond max waiting)
// to out.
func (j *joiner) expire(now time.Time, max int, out []Record) []Record {
	for j.head < len(j.order) {
		ref := j.order[j.head]
		p, ok := j.byRef[ref]
		if ok && now.Before(p.deadline) && len(j.byRef) <= max {
			break
		}
		j.head++
		if ok {
			delete(j.byRef, ref)
			out = append(out, p.rec)
			j.done(ref, now)
		}
	}
	if j.head > 1024 && j.head*2 > len(j.order) {
		j.order = append(j.order[:0], j.order[j.head:]...)
		j.head = 0
	}
	return out
}

// Run is the writer: it runs until ctx ends, then stores what it holds.
func (in *Ingester) Run(ctx context.Context) {
	if in.store == nil {
		<-ctx.Done()
		return
	}
	j := newJoiner(in.cfg.JoinWindow)
	maxPending := in.cfg.Queue * 4
	batch := make([]Record, 0, in.cfg.BatchSize)
	flush := func() {
		in.flushChallenges()
		in.flushTraining()
		if len(batch) == 0 {
			return
		}
		for _, e := range in.exports {
			for i := range batch {
				e.Offer(batch[i])
			}
		}
		wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := in.store.Append(wctx, batch)
		cancel()
		if err != nil {
			in.m.failed.Add(float64(len(batch)))
			in.log.Error().Err(err).Int("records", len(batch)).Msg("analytics store refused a batch; dropped")
		} else {
			in.m.stored.Add(float64(len(batch)))
		}
		in.setErr(err)
		batch = batch[:0]
	}
	tick := time.NewTicker(in.cfg.FlushInterval)
	defer tick.Stop()
	adapt := time.NewTicker(time.Second)
	defer adapt.Stop()
	gather := time.NewTimer(gatherPause)
	gather.Stop()
	calm := 0
	for {
		select {
		case <-ctx.Done():
		drain:
			for {
				select {
				case it := <-in.q:
					batch = in.handle(it, j, batch)
					if len(batch) >= in.cfg.BatchSize {
						flush()
					}
				default:
					break drain
				}
			}
			batch = j.expire(time.Now().Add(24*time.Hour), 0, batch)
			flush()
			return
		case it := <-in.q:
			// Take what is queued, then let the queue fill for a moment
			// instead of parking at once: a sender that finds this
			// goroutine parked has to wake it, which costs the request
			// path more than the send itself. At most gatherMax items
			// before the tickers get their turn again (a queue that never
			// empties must still flush and adapt).
			for n := 1; ; n++ {
				batch = in.handle(it, j, batch)
				if len(j.byRef) > maxPending {
					batch = j.expire(in.now(), maxPending, batch)
				}
				if len(batch) >= in.cfg.BatchSize {
					flush()
				}
				if n == gatherMax {
					break
				}
				select {
				case it = <-in.q:
					continue
				default:
				}
				gather.Reset(gatherPause)
				select {
				case <-gather.C:
				case <-ctx.Done():
					gather.Stop()
				}
				break
			}
		case <-tick.C:
			batch = j.expire(in.now(), maxPending, batch)
			flush()
		case <-adapt.C:
			calm = in.adapt(calm)
		}
	}
}

// gatherPause is how long the writer lets the queue fill after draining
// it: at tens of thousands of decisions a second, a few dozen per wake-up
// instead of one, for at most this much delay before a decision is seen
// (nothing next to the join window). gatherMax bounds one drain.
const (
	gatherPause = 2 * time.Millisecond
	gatherMax   = 4096
)

// adapt doubles the sample interval when the queue overflowed or is more
// than half full, and halves it after five calm seconds.
func (in *Ingester) adapt(calm int) int {
	dropped := in.dropped.Swap(0)
	fill := float64(len(in.q)) / float64(cap(in.q))
	n := in.interval.Load()
	switch {
	case dropped > 0 || fill > 0.5:
		if n < int64(in.cfg.MaxSampleInterval) {
			in.interval.Store(n * 2)
			in.log.Warn().Int64("sample_interval", n*2).Int64("dropped", dropped).Msg("analytics store behind; sampling")
		}
		return 0
	case fill < 0.05:
		calm++
		if calm >= 5 && n > 1 {
			in.interval.Store(n / 2)
			return 0
		}
		return calm
	}
	return 0
}

func (in *Ingester) handle(it item, j *joiner, batch []Record) []Record {
	now := in.now()
	switch {
	case it.training != nil:
		if in.trainByKey == nil {
			in.trainByKey = map[string]int{}
		}
		if in.trainByKey[it.training.Key] < maxTrainingPerKey {
			in.trainByKey[it.training.Key]++
			in.train = append(in.train, *it.training)
		}
		if len(in.train) >= in.cfg.BatchSize {
			in.flushTraining()
		}
	case it.challenge != nil:
		in.chal = append(in.chal, *it.challenge)
		if len(in.chal) >= in.cfg.BatchSize {
			in.flushChallenges()
		}
	case it.verdict != nil:
		if err := in.store.AppendVerdict(context.Background(), *it.verdict); err != nil {
			in.setErr(err)
		}
	case it.ev != nil:
		ref := Ref(it.ev.RequestID)
		if p, ok := j.byRef[ref]; ok {
			delete(j.byRef, ref)
			p.rec.join(it.ev)
			j.done(ref, now)
			return append(batch, p.rec)
		}
		if it.ev.RequestID != "" && j.seen(ref) {
			in.m.late.Inc()
			return batch
		}
		n, ok := in.keep(ref)
		if !ok {
			in.m.sampled.Inc()
			return batch
		}
		rec := FromEvent(it.ev, ref)
		rec.SampleInterval = n
		return append(batch, rec)
	default:
		it.rec.fill()
		if j.window <= 0 {
			return append(batch, it.rec)
		}
		if _, dup := j.byRef[it.rec.Ref]; dup {
			return batch // same x-request-id twice: keep the first
		}
		j.byRef[it.rec.Ref] = &pending{rec: it.rec, deadline: now.Add(j.window)}
		j.order = append(j.order, it.rec.Ref)
	}
	return batch
}

// Maintain runs the store's retention every interval until ctx ends.
func (in *Ingester) Maintain(ctx context.Context, every time.Duration) {
	if in.store == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := in.store.Maintain(ctx, in.now()); err != nil && ctx.Err() == nil {
			in.log.Error().Err(err).Msg("analytics retention failed")
			in.setErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Recording wraps a reputation store so that every verdict published
// through it is also recorded for the verdicts page.
type Recording struct {
	reputation.Store
	In *Ingester
}

// Put implements reputation.Store.
func (r Recording) Put(ctx context.Context, v reputation.Verdict) error {
	err := r.Store.Put(ctx, v)
	if err == nil {
		r.In.RecordVerdict(v)
	}
	return err
}
