package analytics

import (
	"errors"
	"fmt"
	"time"
)

// Config is the `analytics:` section.
type Config struct {
	// Enabled turns the store, the writer and the dashboard's data on.
	Enabled bool         `yaml:"enabled"`
	Store   StoreConfig  `yaml:"store"`
	Ingest  IngestConfig `yaml:"ingest"`
	// MaintainInterval is how often retention and the size cap are applied.
	MaintainInterval time.Duration `yaml:"maintain_interval"`
	// Exports push every stored record to sinks (Logpush-style jobs).
	Exports []ExportConfig `yaml:"exports"`
}

// DefaultConfig returns the defaults: on, in memory (so that a process
// started anywhere, a test among them, writes no file), 30 days, 2 GiB.
// Set store.path to keep the data across restarts (`make run` does).
func DefaultConfig() Config {
	return Config{
		Enabled: true,
		Store: StoreConfig{Path: "", Retention: 30 * 24 * time.Hour, MaxBytes: 2 << 30,
			MemoryLimit: "512MB", Threads: 0},
		Ingest: IngestConfig{Queue: 65536, BatchSize: 8192, FlushInterval: time.Second, JoinWindow: 5 * time.Second,
			MaxSampleInterval: 1024},
		MaintainInterval: 10 * time.Minute,
	}
}

// Validate reports every invalid field by its name in the section.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Store.Retention < time.Hour {
		add("store.retention: must be at least 1h, got %s", c.Store.Retention)
	}
	if c.Store.MaxBytes != 0 && c.Store.MaxBytes < 16<<20 {
		add("store.max_bytes: must be 0 (no cap) or at least 16 MiB, got %d", c.Store.MaxBytes)
	}
	if c.Store.Threads < 0 {
		add("store.threads: must not be negative, got %d", c.Store.Threads)
	}
	if c.Ingest.Queue < 16 {
		add("ingest.queue: must be at least 16, got %d", c.Ingest.Queue)
	}
	if c.Ingest.BatchSize < 1 || c.Ingest.BatchSize > 1<<20 {
		add("ingest.batch_size: must be in [1, 1048576], got %d", c.Ingest.BatchSize)
	}
	if c.Ingest.FlushInterval < 10*time.Millisecond || c.Ingest.FlushInterval > time.Minute {
		add("ingest.flush_interval: must be in [10ms, 1m], got %s", c.Ingest.FlushInterval)
	}
	if c.Ingest.JoinWindow < 0 || c.Ingest.JoinWindow > time.Minute {
		add("ingest.join_window: must be in [0, 1m], got %s", c.Ingest.JoinWindow)
	}
	if n := c.Ingest.MaxSampleInterval; n < 1 || n&(n-1) != 0 {
		add("ingest.max_sample_interval: must be a power of two, got %d", n)
	}
	if c.MaintainInterval < time.Second {
		add("maintain_interval: must be at least 1s, got %s", c.MaintainInterval)
	}
	names := map[string]bool{}
	for i, e := range c.Exports {
		schema, err := datasetSchema(e.Dataset)
		if err != nil {
			add("exports[%d].%w", i, err)
		} else if err := e.Validate(schema); err != nil {
			add("exports[%d].%w", i, err)
		}
		if names[e.Name] {
			add("exports[%d].name: %q used twice", i, e.Name)
		}
		names[e.Name] = true
	}
	return errors.Join(errs...)
}
