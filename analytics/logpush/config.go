// Package logpush runs Logpush-style export jobs: every item handed to a
// job (a request record today; any kind that implements Item) is sampled,
// filtered, encoded in the job's format and delivered to its sink — a file
// or stdout, an HTTP endpoint (NDJSON, CSV, Splunk HEC, Elasticsearch
// _bulk), Grafana Loki's push API or a NATS JetStream subject — in batches,
// with retries, an optional bounded on-disk buffer that survives restarts,
// and metrics per job. Nothing here ever blocks the caller: Offer queues
// without waiting and every sink runs in its job's own goroutines.
package logpush

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect/policy"
)

// Config is one job (an element of analytics.exports).
type Config struct {
	Name string `yaml:"name"`
	// Dataset is what the job exports: requests (default; one record per
	// decision) or feedback (every feedback report). The caller names the
	// datasets and gives Validate and New the dataset's Schema.
	Dataset string `yaml:"dataset"`
	// Type is the sink: file ("-" is stdout), http, loki or nats.
	Type string `yaml:"type"`
	// Format of the records: ndjson (default) or csv for file and http;
	// splunk_hec or elasticsearch for http. Loki and NATS carry NDJSON
	// lines.
	Format string `yaml:"format"`
	URL    string `yaml:"url"`
	Path   string `yaml:"path"`
	// Token is sent as "Authorization: Splunk <token>" by splunk_hec.
	Token string `yaml:"token"`
	// Index is the Elasticsearch index (or data stream) of _bulk actions.
	Index string `yaml:"index"`
	// Labels are static Loki stream labels added to job, host, category
	// and action.
	Labels map[string]string `yaml:"labels"`
	// Subject and Stream are the NATS JetStream subject records are
	// published on and the stream that must hold it; CreateStream creates
	// the stream (file storage, that one subject) when it does not exist.
	Subject      string `yaml:"subject"`
	Stream       string `yaml:"stream"`
	CreateStream bool   `yaml:"create_stream"`
	// Fields selects fields by their exported names; empty = all.
	Fields []string `yaml:"fields"`
	// TimeFormat of the time field: rfc3339 (default), unix, unixnano.
	TimeFormat string `yaml:"time_format"`
	Gzip       bool   `yaml:"gzip"` // http, loki: gzip the body
	// Headers are sent with every HTTP batch (e.g. Authorization).
	Headers map[string]string `yaml:"headers"`
	// SampleRate keeps 1 request in N (rate 1/N), decided on the item's key
	// (RayID) so every record of one request agrees; exported records
	// carry SampleInterval multiplied by N. 0 or 1 = everything.
	SampleRate float64 `yaml:"sample_rate"`
	// Filter is a policy expression (CEL over the policy's fields); only
	// requests it matches are exported.
	Filter string `yaml:"filter"`
	// BatchSize and Interval bound a batch; Queue bounds the records waiting
	// in memory: beyond it they are dropped and counted, never waited for.
	BatchSize int           `yaml:"batch_size"`
	Interval  time.Duration `yaml:"interval"`
	Queue     int           `yaml:"queue"`
	// Timeout bounds one delivery attempt; MaxRetries attempts more are made
	// with doubling backoff before the batch is dropped (or, with a buffer,
	// kept on disk and retried until the sink answers).
	Timeout    time.Duration `yaml:"timeout"`
	MaxRetries int           `yaml:"max_retries"`
	// MaxFileBytes rotates a file sink (path → path.1) at this size; 0 = never.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// Buffer spills batches to disk while the sink is down or slow.
	Buffer BufferConfig `yaml:"buffer"`
}

// BufferConfig is a job's on-disk buffer.
type BufferConfig struct {
	// Dir holds the job's pending batches, one file each, replayed oldest
	// first (also after a restart). "" = no buffer: what the sink does not
	// take after the retries is dropped.
	Dir string `yaml:"dir"`
	// MaxBytes bounds the files; a batch that does not fit is dropped,
	// counted and logged.
	MaxBytes int64 `yaml:"max_bytes"`
}

// Schema describes the items of one kind: their exported field names (in
// CSV column order), the field holding the time and the one holding the
// sample interval ("" when the kind has none).
type Schema struct {
	Kind        string
	Fields      []string
	TimeField   string
	SampleField string
	// Filterable items implement PolicyInput, so a job may have a Filter.
	Filterable bool
}

func (s Schema) has(f string) bool { return slices.Contains(s.Fields, f) }

// WithDefaults fills zero values.
func (c Config) WithDefaults() Config {
	if c.Format == "" {
		c.Format = "ndjson"
	}
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
	if c.SampleRate == 0 {
		c.SampleRate = 1
	}
	if c.Index == "" {
		c.Index = "botwarden"
	}
	if c.Buffer.Dir != "" && c.Buffer.MaxBytes == 0 {
		c.Buffer.MaxBytes = 1 << 30
	}
	return c
}

// formats lists what each sink type accepts, the first being its default.
var formats = map[string][]string{
	"file": {"ndjson", "csv"},
	"http": {"ndjson", "csv", "splunk_hec", "elasticsearch"},
	"loki": {"ndjson"},
	"nats": {"ndjson"},
}

var (
	labelRE   = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	subjectRE = regexp.MustCompile(`^[^\s*>.]+(\.[^\s*>.]+)*$`)
	streamRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

// sampleN is N of a rate 1/N (Validate checks that it is one).
func (c Config) sampleN() uint64 { return uint64(math.Round(1 / c.SampleRate)) }

// Validate reports every bad field by its name; s gives the field names.
func (c Config) Validate(s Schema) error {
	c = c.WithDefaults()
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Name == "" {
		add("name: must be set (it labels the job's metrics)")
	}
	httpURL := func() {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("url: want an http(s) URL, got %q", c.URL)
		}
	}
	switch c.Type {
	case "http", "loki":
		httpURL()
	case "file":
		if c.Path == "" {
			add("path: must be set (\"-\" for stdout)")
		}
	case "nats":
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			add("url: want a nats:// or tls:// URL, got %q", c.URL)
		}
		if !subjectRE.MatchString(c.Subject) {
			add("subject: want a NATS subject without wildcards, got %q", c.Subject)
		}
		if !streamRE.MatchString(c.Stream) {
			add("stream: want a JetStream stream name (letters, digits, _ and -), got %q", c.Stream)
		}
	default:
		add("type: want file, http, loki or nats, got %q", c.Type)
	}
	if fs, ok := formats[c.Type]; ok && !slices.Contains(fs, c.Format) {
		add("format: %s sinks take %s, got %q", c.Type, strings.Join(fs, ", "), c.Format)
	}
	if c.Format == "splunk_hec" && c.Token == "" {
		add("token: splunk_hec needs the HEC token")
	}
	if c.Format == "elasticsearch" && (c.Index == "" || strings.ContainsAny(c.Index, "\"\\/*?<>| ,#:")) {
		add("index: not a valid Elasticsearch index name: %q", c.Index)
	}
	for k := range c.Labels {
		if !labelRE.MatchString(k) {
			add("labels: %q is not a Loki label name", k)
		}
		if slices.Contains(lokiLabels, k) {
			add("labels: %q is set by botwarden", k)
		}
	}
	for _, f := range c.Fields {
		if !s.has(f) {
			add("fields: unknown field %q", f)
		}
	}
	switch c.TimeFormat {
	case "rfc3339", "unix", "unixnano":
	default:
		add("time_format: want rfc3339, unix or unixnano, got %q", c.TimeFormat)
	}
	if r := c.SampleRate; !(r > 0 && r <= 1) || math.Abs(1/r-math.Round(1/r)) > 1e-6*(1/r) {
		add("sample_rate: want 1/N for a whole N (1, 0.5, 0.1, 0.01, ...), got %v", c.SampleRate)
	}
	if c.Filter != "" && !s.Filterable {
		add("filter: %s items have no policy fields to filter on", s.Kind)
	} else if c.Filter != "" {
		if _, err := policy.CompileCondition(c.Filter); err != nil {
			add("filter: %v", err)
		}
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
	if c.Buffer.MaxBytes < 0 || (c.Buffer.Dir != "" && c.Buffer.MaxBytes < 1<<20) {
		add("buffer.max_bytes: at least 1 MiB, got %d", c.Buffer.MaxBytes)
	}
	if c.Buffer.Dir == "" && c.Buffer.MaxBytes != 0 {
		add("buffer.dir: must be set with buffer.max_bytes")
	}
	return errors.Join(errs...)
}
