package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/botwarden/botwarden/cluster/eventbus"
)

// Config is the `cluster:` section. Both addresses empty (the default) is
// the single process: no external service, nothing here is used.
type Config struct {
	// RedisAddr (host:port) shares the reputation verdicts, the rate-limit
	// buckets and the used challenge tickets between replicas.
	RedisAddr     string `yaml:"redis_addr"`
	RedisPassword string `yaml:"redis_password"`
	RedisDB       int    `yaml:"redis_db"`
	// NATSURL (nats://host:port, several comma-separated) partitions the
	// behavioural analysis over the replicas through JetStream.
	NATSURL string `yaml:"nats_url"`
	// KeyPrefix starts every Redis key and channel.
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds a Redis call made on a Check's path (a rate limit);
	// past it the local limiter answers. Keep it well under
	// detection.budget.
	Timeout time.Duration `yaml:"timeout"`
	// WriteTimeout bounds the analysis's verdict writes and the challenge
	// ticket check.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// Readiness is what /readyz says while a configured connection is
	// down: degrade (ready, serving from local state; the body says what
	// is degraded) or fail (503, so the orchestrator stops routing here).
	Readiness string `yaml:"readiness"`
	// Stream and Subject name the JetStream stream of access-log events.
	Stream  string `yaml:"stream"`
	Subject string `yaml:"subject"`
	// Partitions splits the analysis; more than replicas spreads it
	// evenly. Every replica must agree.
	Partitions int `yaml:"partitions"`
	// AckWait sets how long a dead replica's partitions wait before they
	// move to another replica (JetStream's pin TTL derives from it).
	AckWait time.Duration `yaml:"ack_wait"`
	// Rebuild is how much history a replica replays from the stream to
	// rebuild a partition's state when it takes the partition over.
	Rebuild time.Duration `yaml:"rebuild"`
	// StreamMaxAge and StreamMaxBytes bound the stream.
	StreamMaxAge   time.Duration `yaml:"stream_max_age"`
	StreamMaxBytes int64         `yaml:"stream_max_bytes"`
	// PublishBuffer is how many events wait while NATS is away; past it
	// events are dropped and counted.
	PublishBuffer int `yaml:"publish_buffer"`
}

// Readiness modes.
const (
	ReadinessDegrade = "degrade"
	ReadinessFail    = "fail"
)

// DefaultConfig is the single process.
func DefaultConfig() Config {
	return Config{
		KeyPrefix: "botwarden:", Timeout: 5 * time.Millisecond, WriteTimeout: 250 * time.Millisecond,
		Readiness: ReadinessDegrade, Stream: "BOTWARDEN_EVENTS", Subject: "botwarden.events",
		Partitions: 16, AckWait: 2 * time.Second, Rebuild: 10 * time.Minute,
		StreamMaxAge: 15 * time.Minute, StreamMaxBytes: 1 << 30, PublishBuffer: 10_000,
	}
}

// Enabled reports whether any shared backend is configured.
func (c Config) Enabled() bool { return c.RedisAddr != "" || c.NATSURL != "" }

// Validate reports every invalid field, each by name.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.RedisAddr != "" {
		if host, port, err := net.SplitHostPort(c.RedisAddr); err != nil || host == "" || port == "" {
			bad("redis_addr", "%q is not host:port", c.RedisAddr)
		}
	}
	if c.RedisDB < 0 || c.RedisDB > 15 {
		bad("redis_db", "must be in [0, 15], got %d", c.RedisDB)
	}
	if c.NATSURL != "" {
		for _, u := range strings.Split(c.NATSURL, ",") {
			p, err := url.Parse(strings.TrimSpace(u))
			if err != nil || (p.Scheme != "nats" && p.Scheme != "tls") || p.Host == "" {
				bad("nats_url", "%q is not nats://host:port (or tls://)", u)
			}
		}
	}
	if c.KeyPrefix == "" || strings.ContainsAny(c.KeyPrefix, "*?[]") {
		bad("key_prefix", "must be non-empty and free of glob characters, got %q", c.KeyPrefix)
	}
	if c.Timeout <= 0 || c.Timeout > time.Second {
		bad("timeout", "must be in (0, 1s], got %s", c.Timeout)
	}
	if c.WriteTimeout <= 0 {
		bad("write_timeout", "must be positive, got %s", c.WriteTimeout)
	}
	if c.Readiness != ReadinessDegrade && c.Readiness != ReadinessFail {
		bad("readiness", "%q: must be degrade or fail", c.Readiness)
	}
	if c.PublishBuffer < 1 {
		bad("publish_buffer", "must be positive, got %d", c.PublishBuffer)
	}
	if err := c.bus().Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// bus is the event bus's part of the section; its field names are the
// section's (stream, subject, partitions, ack_wait, rebuild; max_age is
// stream_max_age).
func (c Config) bus() eventbus.Config {
	return eventbus.Config{Stream: c.Stream, Subject: c.Subject, Partitions: c.Partitions,
		MaxAge: c.StreamMaxAge, MaxBytes: c.StreamMaxBytes, AckWait: c.AckWait, Rebuild: c.Rebuild}
}
