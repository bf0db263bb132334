// Package eventbus partitions the behavioural analysis over the replicas
// with NATS JetStream. Every replica publishes the access-log events it
// receives (Publisher, an accesslog.Sink) to one stream; the stream's
// subject transform puts each event in a partition chosen from the client
// key it is about, and a static partitioned consumer group
// (github.com/synadia-io/orbit.go/pcgroups) has one member per partition.
// Every replica joins every member, and JetStream's pinned-client priority
// groups deliver each member to exactly one replica at a time: when that
// replica dies its pin expires (after the ack wait) and another replica's
// pull takes the partition over. The new owner rebuilds the partition's
// per-client state by replaying the partition's recent events from the
// stream before it carries on (Consumer).
//
// An event is published once per identity group it is analysed under
// (session; IP and network together; JA4), so each identity's state is
// whole on one replica even when a client rotates addresses or sessions.
package eventbus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/pcgroups"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/detect/reputation"
)

// Config names the stream and sizes the partitioning. Every replica must
// use the same values.
type Config struct {
	// Stream is the JetStream stream name.
	Stream string
	// Subject prefixes the event subjects (Subject.<key hash>).
	Subject string
	// Partitions is the number of partitions (the group's members); more
	// partitions than replicas spreads the analysis more evenly.
	Partitions int
	// MaxAge is how long the stream keeps events: at least the rebuild
	// window.
	MaxAge time.Duration
	// MaxBytes bounds the stream on disk (oldest events go first).
	MaxBytes int64
	// AckWait is the members' ack wait, from which pcgroups derives the
	// pin's TTL: the time a dead replica's partitions wait before moving.
	AckWait time.Duration
	// Rebuild is how much of a partition's history a new owner replays
	// (the analysis window).
	Rebuild time.Duration
}

// group is the consumer group's name on the stream.
const group = "analysis"

// Headers of an event message.
const (
	hdrVersion = "Bw-Event-Version"
	hdrKinds   = "Bw-Kinds"
	version    = "1"
)

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Stream == "":
		return errors.New("stream: must not be empty")
	case c.Subject == "":
		return errors.New("subject: must not be empty")
	case c.Partitions < 1 || c.Partitions > 1024:
		return fmt.Errorf("partitions: must be in [1, 1024], got %d", c.Partitions)
	case c.AckWait < time.Second:
		return fmt.Errorf("ack_wait: must be at least 1s, got %s", c.AckWait)
	case c.Rebuild < 0:
		return fmt.Errorf("rebuild: must not be negative, got %s", c.Rebuild)
	case c.MaxAge < c.Rebuild:
		return fmt.Errorf("stream_max_age: must be at least the rebuild window (%s), got %s", c.Rebuild, c.MaxAge)
	}
	return nil
}

// Setup creates (or updates) the stream and the consumer group. Every
// replica runs it at start; the group's config is created once and then
// only checked (a replica configured with other partitions fails here).
func Setup(ctx context.Context, js jetstream.JetStream, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     c.Stream,
		Subjects: []string{c.Subject + ".*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{
			Source:      c.Subject + ".*",
			Destination: fmt.Sprintf("{{partition(%d,1)}}.%s.{{wildcard(1)}}", c.Partitions, c.Subject),
		},
		Retention: jetstream.LimitsPolicy,
		MaxAge:    c.MaxAge,
		MaxBytes:  c.MaxBytes,
		Discard:   jetstream.DiscardOld,
		Storage:   jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("eventbus: stream %s: %w", c.Stream, err)
	}
	if _, err := pcgroups.CreateStatic(ctx, js, c.Stream, group, uint(c.Partitions), nil, members(c.Partitions), nil); err != nil {
		return fmt.Errorf("eventbus: consumer group: %w", err)
	}
	return nil
}

// members names the group's members, one per partition.
func members(n int) []string {
	m := make([]string, n)
	for i := range m {
		m[i] = "p" + strconv.Itoa(i)
	}
	return m
}

// copyOf is one message an event becomes: the identities it carries and
// the key that picks its partition.
type copyOf struct {
	kinds behavior.Kinds
	key   string
}

// split lists the copies of an event: its session, its network (IP and
// network state share a partition, an address being inside its network),
// and its JA4, each when present and analysed.
func split(ev *detect.Event, k behavior.KeysConfig, dst []copyOf) []copyOf {
	if k.Session && ev.SessionID != "" {
		dst = append(dst, copyOf{behavior.KindSession, reputation.PrefixSession + ev.SessionID})
	}
	if ip := ev.ClientIP.Unmap(); (k.IP || k.Net) && ip.IsValid() {
		key := reputation.KeyPrefix(ip, k.V4PrefixBits, k.V6PrefixBits)
		dst = append(dst, copyOf{behavior.KindIP | behavior.KindNet, key})
	}
	if k.JA4 && ev.JA4 != "" {
		dst = append(dst, copyOf{behavior.KindJA4, reputation.PrefixJA4 + ev.JA4})
	}
	return dst
}

// token is the subject token for a partition key: a hash, so that any key
// (an 8 KiB session id, a JA4 with odd bytes) makes a short, valid subject.
func token(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}
