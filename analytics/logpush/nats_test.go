package logpush_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/botwarden/botwarden/analytics/logpush"
	"github.com/botwarden/botwarden/internal/natstest"
)

// readStream reads every message of a stream back, in stream order.
func readStream(t *testing.T, url, stream string) []string {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var r map[string]any
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if m.Header.Get(jetstream.MsgIDHeader) != r["RayID"] {
			t.Fatalf("message id %q for RayID %v", m.Header.Get(jetstream.MsgIDHeader), r["RayID"])
		}
		ids = append(ids, r["RayID"].(string))
	}
	return ids
}

// A real NATS server (embedded nats-server v2 on loopback): the stream is
// created per config, every record is published with acks and read back
// from the stream in order; while the server is down records wait in the
// disk buffer, and after it is back they arrive exactly once (the message
// id is the RayID: the stream's duplicate window drops a replay).
func TestNATSJetStream(t *testing.T) {
	srv := natstest.Start(t)
	cfg := logpush.Config{Name: "js", Type: "nats", URL: srv.URL, Subject: "botwarden.requests", Stream: "BOTWARDEN_REQUESTS", CreateStream: true,
		BatchSize: 25, Interval: 20 * time.Millisecond, Timeout: 500 * time.Millisecond, Buffer: logpush.BufferConfig{Dir: t.TempDir(), MaxBytes: 16 << 20}}
	r := start(t, cfg)
	want := offer(r.job, 0, 100)
	eventually(t, "100 acked", func() bool { return r.metric("botwarden_export_records_sent_total") == 100 })
	sameOrder(t, readStream(t, srv.URL, cfg.Stream), want)

	srv.Stop()
	want = append(want, offer(r.job, 100, 200)...)
	eventually(t, "buffered while down", func() bool { return r.metric("botwarden_export_records_buffered") >= 75 })
	srv.Restart()
	eventually(t, "200 acked", func() bool { return r.metric("botwarden_export_records_sent_total") >= 200 })
	r.stop()
	sameOrder(t, readStream(t, srv.URL, cfg.Stream), want)
}

// Without create_stream a missing stream is an error the job retries and
// counts; nothing is published to a subject no stream holds.
func TestNATSStreamMustExist(t *testing.T) {
	srv := natstest.Start(t)
	r := start(t, logpush.Config{Name: "js", Type: "nats", URL: srv.URL, Subject: "bw.x", Stream: "MISSING",
		BatchSize: 10, Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond, MaxRetries: 1})
	offer(r.job, 0, 10)
	eventually(t, "dropped after retries", func() bool { return r.metric("botwarden_export_records_dropped_total", "reason", "retries") == 10 })
	if n := r.metric("botwarden_export_records_sent_total"); n != 0 {
		t.Fatalf("sent %v", n)
	}
}
