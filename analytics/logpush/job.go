package logpush

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/policy"
)

// Drop reasons (the reason label of botwarden_export_records_dropped_total).
const (
	DropQueueFull  = "queue_full"  // the in-memory queue was full
	DropBufferFull = "buffer_full" // the on-disk buffer was at max_bytes (or unwritable)
	DropRetries    = "retries"     // retries exhausted without a buffer
	DropRejected   = "rejected"    // the sink refused it for good (4xx, a _bulk item error)
	DropEncode     = "encode"      // could not be encoded
	DropCorrupt    = "corrupt"     // a buffered batch file could not be read back
	DropShutdown   = "shutdown"    // still undelivered at stop, without a buffer
)

// Metrics are the export metrics of every job, labelled by job.
type Metrics struct {
	sent, retried, dropped, skipped *prometheus.CounterVec
	buffered, bufferBytes           *prometheus.GaugeVec
}

// NewMetrics registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		sent:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_export_records_sent_total", Help: "Records an export job delivered."}, []string{"job"}),
		retried:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_export_retries_total", Help: "Delivery attempts an export job repeated."}, []string{"job"}),
		dropped:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_export_records_dropped_total", Help: "Records an export job lost, by reason: queue_full, buffer_full, retries, rejected, encode, corrupt, shutdown."}, []string{"job", "reason"}),
		skipped:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_export_records_skipped_total", Help: "Records an export job left out on purpose, by reason: sampled, filtered."}, []string{"job", "reason"}),
		buffered:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "botwarden_export_records_buffered", Help: "Records waiting in an export job (memory and disk buffer)."}, []string{"job"}),
		bufferBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "botwarden_export_buffer_bytes", Help: "Bytes in an export job's on-disk buffer."}, []string{"job"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sent, m.retried, m.dropped, m.skipped, m.buffered, m.bufferBytes} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("export: register metric: %w", err)
			}
		}
	}
	return m, nil
}

// Job is one running export job.
type Job struct {
	cfg     Config
	enc     *encoder
	sink    sink
	filter  *policy.Condition
	sampleN uint64
	q       chan Item
	log     zerolog.Logger

	mu     sync.Mutex // guards mem, spool
	mem    [][]unit   // batches in memory, older than any on disk
	memMax int
	spool  *spool
	wake   chan struct{}

	sent, retried, sampled, filtered prometheus.Counter
	dropped                          *prometheus.CounterVec
	buffered, bufferBytes            prometheus.Gauge
	lastWarn                         time.Time
}

// New builds a job; cfg must have passed Validate(s).
func New(cfg Config, s Schema, m *Metrics, log zerolog.Logger) (*Job, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(s); err != nil {
		return nil, err
	}
	enc := newEncoder(cfg, s)
	sk, err := newSink(cfg, enc)
	if err != nil {
		return nil, err
	}
	j := &Job{cfg: cfg, enc: enc, sink: sk, sampleN: cfg.sampleN(), q: make(chan Item, cfg.Queue),
		log: log.With().Str("export", cfg.Name).Logger(), memMax: max(2, cfg.Queue/cfg.BatchSize), wake: make(chan struct{}, 1),
		sent: m.sent.WithLabelValues(cfg.Name), retried: m.retried.WithLabelValues(cfg.Name),
		sampled: m.skipped.WithLabelValues(cfg.Name, "sampled"), filtered: m.skipped.WithLabelValues(cfg.Name, "filtered"),
		dropped:  m.dropped.MustCurryWith(prometheus.Labels{"job": cfg.Name}),
		buffered: m.buffered.WithLabelValues(cfg.Name), bufferBytes: m.bufferBytes.WithLabelValues(cfg.Name)}
	for _, r := range []string{DropQueueFull, DropBufferFull, DropRetries, DropRejected, DropEncode, DropCorrupt, DropShutdown} {
		j.dropped.WithLabelValues(r) // every series exists from the start
	}
	if cfg.Filter != "" {
		if j.filter, err = policy.CompileCondition(cfg.Filter); err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
	}
	if cfg.Buffer.Dir != "" {
		if j.spool, err = openSpool(cfg.Buffer.Dir, cfg.Buffer.MaxBytes); err != nil {
			return nil, err
		}
		j.bufferBytes.Set(float64(j.spool.bytes))
		j.memMax = 2 // with a disk, what waits goes there: it survives a crash
	}
	return j, nil
}

// Name is the job's name.
func (j *Job) Name() string { return j.cfg.Name }

// Offer queues an item without waiting; a full queue drops it (counted).
func (j *Job) Offer(it Item) {
	select {
	case j.q <- it:
	default:
		j.drop(DropQueueFull, 1, nil)
	}
}

// drop counts n lost records and logs, at most every 10 s per job.
func (j *Job) drop(reason string, n int, err error) {
	if n == 0 {
		return
	}
	j.dropped.WithLabelValues(reason).Add(float64(n))
	j.mu.Lock()
	warn := time.Since(j.lastWarn) > 10*time.Second
	if warn {
		j.lastWarn = time.Now()
	}
	j.mu.Unlock()
	if warn {
		j.log.Warn().Err(err).Str("reason", reason).Int("records", n).Msg("export records dropped (counted in botwarden_export_records_dropped_total; further drops of this job are logged at most every 10s)")
	}
}

// Run collects and delivers until ctx ends, then hands over what is left:
// to the disk buffer when there is one, else one attempt per batch.
func (j *Job) Run(ctx context.Context) {
	var wg sync.WaitGroup
	collected := make(chan struct{})
	wg.Go(func() { j.collect(ctx); close(collected) })
	wg.Go(func() { j.deliver(ctx, collected) })
	wg.Wait()
	j.sink.close()
}

// collect batches queued items: sampling, the filter, encoding.
func (j *Job) collect(ctx context.Context) {
	batch := make([]unit, 0, j.cfg.BatchSize)
	tick := time.NewTicker(j.cfg.Interval)
	defer tick.Stop()
	flush := func() {
		if len(batch) > 0 {
			j.push(batch)
			batch = make([]unit, 0, j.cfg.BatchSize)
		}
		j.gauges()
	}
	take := func(ctx context.Context, it Item) {
		if !keep(it.ExportKey(), j.sampleN) {
			j.sampled.Inc()
			return
		}
		if j.filter != nil {
			if pi, ok := it.(PolicyInput); ok {
				r, v := pi.PolicyInput()
				if ok, err := j.filter.Match(ctx, r, v); !ok {
					if err != nil && ctx.Err() == nil {
						j.log.Debug().Err(err).Msg("export filter failed on a record; left out")
					}
					j.filtered.Inc()
					return
				}
			}
		}
		u, err := j.enc.encode(it, j.sampleN)
		if err != nil {
			j.drop(DropEncode, 1, err)
			return
		}
		batch = append(batch, u)
		if len(batch) >= j.cfg.BatchSize {
			flush()
		}
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case it := <-j.q:
					take(context.WithoutCancel(ctx), it)
					continue
				default:
				}
				flush()
				return
			}
		case it := <-j.q:
			take(ctx, it)
		case <-tick.C:
			flush()
		}
	}
}

// push hands a batch to the sender: in memory while the sender keeps up
// and nothing is on disk, else (with a buffer) to the disk, so that what
// is in memory is always older than what is on disk and the replay keeps
// the order.
func (j *Job) push(b []unit) {
	var reason string
	var err error
	j.mu.Lock()
	switch {
	case j.spool != nil && (!j.spool.empty() || len(j.mem) >= j.memMax):
		if err = j.spool.add(b, false); err != nil {
			reason = DropBufferFull
		}
	case len(j.mem) >= j.memMax:
		reason, err = DropQueueFull, errors.New("sink too slow or down")
	default:
		j.mem = append(j.mem, b)
	}
	j.mu.Unlock()
	if reason != "" {
		j.drop(reason, len(b), err)
	}
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// gauges publishes what waits: the queue, the batches, the disk.
func (j *Job) gauges() {
	j.mu.Lock()
	n := len(j.q)
	for _, b := range j.mem {
		n += len(b)
	}
	var bytes int64
	if j.spool != nil {
		n += j.spool.nrec
		bytes = j.spool.bytes
	}
	j.mu.Unlock()
	j.buffered.Set(float64(n))
	j.bufferBytes.Set(float64(bytes))
}

// head returns the oldest batch without removing it; disk says where it is.
func (j *Job) head() (b []unit, disk bool, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.mem) > 0 {
		return j.mem[0], false, nil
	}
	if j.spool == nil || j.spool.empty() {
		return nil, false, nil
	}
	b, err = j.spool.first()
	if err != nil {
		j.spool.removeFirst() // unreadable: it would block the replay forever
	}
	return b, true, err
}

// done removes the head; rest (a partial delivery's leftovers) replaces it
// when not empty.
func (j *Job) done(disk bool, rest []unit) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case !disk && len(rest) > 0:
		j.mem[0] = rest
	case !disk:
		j.mem = j.mem[1:]
	case len(rest) > 0:
		if err := j.spool.replaceFirst(rest); err != nil {
			j.log.Warn().Err(err).Msg("export buffer: rewriting a partly delivered batch failed; it will be sent whole again")
		}
	default:
		j.spool.removeFirst()
	}
}

// deliver sends the oldest batch until it is taken, refused for good, or
// (without a buffer) out of retries; with a buffer it keeps retrying, with
// a capped backoff, while new batches wait on disk.
func (j *Job) deliver(ctx context.Context, collected <-chan struct{}) {
	backoff, attempt := 100*time.Millisecond, 0
	for {
		b, disk, err := j.head()
		if err != nil {
			j.log.Error().Err(err).Msg("export buffer: unreadable batch file removed")
			j.drop(DropCorrupt, 1, err)
			continue
		}
		if b == nil {
			select {
			case <-j.wake:
				continue
			case <-collected:
				if b, _, _ := j.head(); b != nil {
					continue
				}
				j.gauges()
				return
			}
		}
		if ctx.Err() != nil {
			select {
			case <-collected:
				j.stop()
				j.gauges()
				return
			case <-j.wake: // the collector is draining the queue
				continue
			case <-time.After(10 * time.Millisecond):
				continue
			}
		}
		// An attempt is not cut short by the stop (the file sink's last
		// write, a batch half-sent); the timeout bounds it.
		err = j.sink.send(context.WithoutCancel(ctx), b)
		var rest []unit
		var pe *partialError
		switch {
		case err == nil:
			j.sent.Add(float64(len(b)))
		case errors.As(err, &pe):
			j.sent.Add(float64(len(b) - len(pe.retry) - pe.rejected))
			j.drop(DropRejected, pe.rejected, err)
			for _, i := range pe.retry {
				rest = append(rest, b[i])
			}
		case isRejected(err):
			j.drop(DropRejected, len(b), err)
		default:
			rest = b
		}
		if len(rest) == 0 {
			j.done(disk, nil)
			backoff, attempt = 100*time.Millisecond, 0
			j.gauges()
			continue
		}
		attempt++
		if j.spool == nil && attempt > j.cfg.MaxRetries {
			j.drop(DropRetries, len(rest), err)
			j.done(disk, nil)
			backoff, attempt = 100*time.Millisecond, 0
			continue
		}
		if len(rest) != len(b) {
			j.done(disk, rest)
		}
		j.retried.Inc()
		if attempt == j.cfg.MaxRetries+1 {
			j.log.Warn().Err(err).Int("records", len(rest)).Msg("export sink failing; batches wait in the buffer and are retried")
		}
		j.gauges()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// stop hands over what is left in memory once the collector is done: to
// the front of the disk buffer (it is older than what is there), or,
// without one, one attempt per batch until the first failure (a dead sink
// must not hold up the stop), the rest dropped and counted.
func (j *Job) stop() {
	j.mu.Lock()
	mem := j.mem
	j.mem = nil
	j.mu.Unlock()
	if j.spool != nil {
		for i := len(mem) - 1; i >= 0; i-- {
			j.mu.Lock()
			err := j.spool.add(mem[i], true)
			j.mu.Unlock()
			if err != nil {
				j.drop(DropBufferFull, len(mem[i]), err)
			}
		}
		return
	}
	failed := false
	for _, b := range mem {
		if !failed {
			if err := j.sink.send(context.Background(), b); err == nil {
				j.sent.Add(float64(len(b)))
				continue
			} else {
				failed = true
				j.drop(DropShutdown, len(b), err)
				continue
			}
		}
		j.drop(DropShutdown, len(b), nil)
	}
}
