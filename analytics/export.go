package analytics

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// ExportConfig is one Logpush-style job: every stored record, encoded as
// NDJSON with the Logpush field names, pushed to a sink.
type ExportConfig struct {
	Name string `yaml:"name"`
	// Type is http (batched POST) or file (append; "-" is stdout).
	Type string `yaml:"type"`
	URL  string `yaml:"url"`
	Path string `yaml:"path"`
	// Fields selects record fields by their exported names; empty = all.
	Fields []string `yaml:"fields"`
	// TimeFormat of EdgeStartTimestamp: rfc3339 (default), unix, unixnano.
	TimeFormat string `yaml:"time_format"`
	Gzip       bool   `yaml:"gzip"` // http: gzip the body
	// Headers are sent with every HTTP batch (e.g. Authorization).
	Headers map[string]string `yaml:"headers"`
	// BatchSize and Interval bound a batch; Queue bounds what waits (in
	// memory) while the sink is slow or down: beyond it records are
	// dropped, counted and logged, never waited for.
	BatchSize int           `yaml:"batch_size"`
	Interval  time.Duration `yaml:"interval"`
	Queue     int           `yaml:"queue"`
	// Timeout bounds one delivery attempt; MaxRetries attempts more are made
	// with doubling backoff before the batch is dropped.
	Timeout    time.Duration `yaml:"timeout"`
	MaxRetries int           `yaml:"max_retries"`
	// MaxFileBytes rotates a file sink (path → path.1) at this size; 0 = never.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
}

// recordFields are the exported names, for validating Fields.
var recordFields = func() []string {
	b, _ := json.Marshal(Record{})
	var m map[string]any
	json.Unmarshal(b, &m)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}()

// withDefaults fills zero values.
func (c ExportConfig) withDefaults() ExportConfig {
	if c.TimeFormat == "" {
		c.TimeFormat = "rfc3339"
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Queue == 0 {
		c.Queue = 100_000
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	return c
}

// Validate names the bad field.
func (c ExportConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Name == "" {
		add("name: must be set (it labels the job's metrics)")
	}
	switch c.Type {
	case "http":
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("url: want an http(s) URL, got %q", c.URL)
		}
	case "file":
		if c.Path == "" {
			add("path: must be set (\"-\" for stdout)")
		}
	default:
		add("type: want http or file, got %q", c.Type)
	}
	for _, f := range c.Fields {
		if _, ok := slices.BinarySearch(recordFields, f); !ok {
			add("fields: unknown field %q", f)
		}
	}
	switch c.TimeFormat {
	case "rfc3339", "unix", "unixnano":
	default:
		add("time_format: want rfc3339, unix or unixnano, got %q", c.TimeFormat)
	}
	if c.BatchSize < 1 || c.BatchSize > 100_000 {
		add("batch_size: want 1-100000, got %d", c.BatchSize)
	}
	if c.Interval < 10*time.Millisecond {
		add("interval: at least 10ms, got %s", c.Interval)
	}
	if c.Queue < c.BatchSize {
		add("queue: at least batch_size (%d), got %d", c.BatchSize, c.Queue)
	}
	if c.Timeout < 100*time.Millisecond {
		add("timeout: at least 100ms, got %s", c.Timeout)
	}
	if c.MaxRetries < 0 || c.MaxRetries > 20 {
		add("max_retries: want 0-20, got %d", c.MaxRetries)
	}
	if c.MaxFileBytes < 0 {
		add("max_file_bytes: must not be negative")
	}
	return errors.Join(errs...)
}

// EncodeRecord writes rec as one NDJSON line with the selected fields (all
// when fields is empty) and the time in format.
func EncodeRecord(dst []byte, rec *Record, fields []string, format string) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return dst, fmt.Errorf("encode: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return dst, fmt.Errorf("encode: %w", err)
	}
	switch format {
	case "unix":
		m["EdgeStartTimestamp"] = json.RawMessage(strconv.FormatInt(rec.Time.Unix(), 10))
	case "unixnano":
		m["EdgeStartTimestamp"] = json.RawMessage(strconv.FormatInt(rec.Time.UnixNano(), 10))
	}
	if len(fields) > 0 {
		sel := make(map[string]json.RawMessage, len(fields))
		for _, f := range fields {
			if v, ok := m[f]; ok {
				sel[f] = v
			}
		}
		m = sel
	}
	out, err := json.Marshal(m) // sorted keys, one line: json escapes newlines
	if err != nil {
		return dst, fmt.Errorf("encode: %w", err)
	}
	return append(append(dst, out...), '\n'), nil
}

// exporter runs one job.
type exporter struct {
	cfg    ExportConfig
	q      chan Record
	log    zerolog.Logger
	client *http.Client

	sent, retried, dropped prometheus.Counter

	mu   sync.Mutex // file sink
	file *os.File
	size int64
}

type exportMetrics struct {
	sent, retried, dropped *prometheus.CounterVec
	buffered               *prometheus.GaugeVec
}

func newExportMetrics(reg prometheus.Registerer) (*exportMetrics, error) {
	m := &exportMetrics{
		sent:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_export_records_sent_total", Help: "Records an export job delivered."}, []string{"job"}),
		retried:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_export_retries_total", Help: "Delivery attempts an export job repeated."}, []string{"job"}),
		dropped:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_export_records_dropped_total", Help: "Records an export job dropped (queue full, or retries exhausted)."}, []string{"job"}),
		buffered: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "botwarden_export_records_buffered", Help: "Records waiting in an export job's queue."}, []string{"job"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sent, m.retried, m.dropped, m.buffered} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("export: register metric: %w", err)
			}
		}
	}
	return m, nil
}

func newExporter(cfg ExportConfig, m *exportMetrics, log zerolog.Logger) *exporter {
	cfg = cfg.withDefaults()
	e := &exporter{cfg: cfg, q: make(chan Record, cfg.Queue), log: log.With().Str("export", cfg.Name).Logger(),
		client: &http.Client{Timeout: cfg.Timeout},
		sent:   m.sent.WithLabelValues(cfg.Name), retried: m.retried.WithLabelValues(cfg.Name), dropped: m.dropped.WithLabelValues(cfg.Name)}
	m.buffered.WithLabelValues(cfg.Name) // series exists from the start
	return e
}

// Offer queues a record without waiting; a full queue drops it.
func (e *exporter) Offer(rec Record) {
	select {
	case e.q <- rec:
	default:
		e.dropped.Inc()
	}
}

// Run delivers batches until ctx ends, then what is queued (one attempt).
func (e *exporter) Run(ctx context.Context, buffered prometheus.Gauge) {
	batch := make([]Record, 0, e.cfg.BatchSize)
	tick := time.NewTicker(e.cfg.Interval)
	defer tick.Stop()
	failed := false // at shutdown, after one failed batch the rest is dropped: a dead sink must not hold up the stop
	send := func(final bool) {
		if len(batch) == 0 {
			return
		}
		if final && failed {
			e.dropped.Add(float64(len(batch)))
		} else if !e.deliver(ctx, batch, final) && final {
			failed = true
		}
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case r := <-e.q:
					batch = append(batch, r)
					if len(batch) >= e.cfg.BatchSize {
						send(true)
					}
					continue
				default:
				}
				send(true)
				e.closeFile()
				return
			}
		case r := <-e.q:
			batch = append(batch, r)
			if len(batch) >= e.cfg.BatchSize {
				send(false)
			}
		case <-tick.C:
			buffered.Set(float64(len(e.q)))
			send(false)
		}
	}
}

func (e *exporter) deliver(ctx context.Context, batch []Record, final bool) bool {
	var body []byte
	for i := range batch {
		var err error
		if body, err = EncodeRecord(body, &batch[i], e.cfg.Fields, e.cfg.TimeFormat); err != nil {
			e.dropped.Inc()
		}
	}
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := e.push(ctx, body)
		if err == nil {
			e.sent.Add(float64(len(batch)))
			return true
		}
		if attempt >= e.cfg.MaxRetries || final || ctx.Err() != nil {
			e.dropped.Add(float64(len(batch)))
			e.log.Warn().Err(err).Int("records", len(batch)).Msg("export failed; batch dropped")
			return false
		}
		e.retried.Inc()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff *= 2
	}
}

func (e *exporter) push(ctx context.Context, body []byte) error {
	if e.cfg.Type == "file" {
		return e.write(body)
	}
	var rd bytes.Buffer
	if e.cfg.Gzip {
		zw := gzip.NewWriter(&rd)
		zw.Write(body)
		zw.Close()
	} else {
		rd.Write(body)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, e.cfg.URL, &rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if e.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range e.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sink answered %d", resp.StatusCode)
	}
	return nil
}

func (e *exporter) write(body []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg.Path == "-" {
		_, err := os.Stdout.Write(body)
		return err
	}
	if e.file != nil && e.cfg.MaxFileBytes > 0 && e.size+int64(len(body)) > e.cfg.MaxFileBytes {
		e.file.Close()
		e.file = nil
		if err := os.Rename(e.cfg.Path, e.cfg.Path+".1"); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	if e.file == nil {
		f, err := os.OpenFile(e.cfg.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return err
		}
		st, _ := f.Stat()
		e.file, e.size = f, st.Size()
	}
	n, err := e.file.Write(body)
	e.size += int64(n)
	return err
}

func (e *exporter) closeFile() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.file != nil {
		e.file.Close()
		e.file = nil
	}
}
