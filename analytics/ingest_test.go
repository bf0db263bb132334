package analytics

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
)

func testIngest() IngestConfig {
	c := DefaultConfig().Ingest
	c.FlushInterval = 10 * time.Millisecond
	c.JoinWindow = 200 * time.Millisecond
	c.Queue = 1024
	return c
}

func runIngester(t *testing.T, cfg IngestConfig, s Store) *Ingester {
	t.Helper()
	in, err := NewIngester(cfg, s, nil, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return in
}

func request(id string) (*detect.Request, *detect.Verdict) {
	r := &detect.Request{ID: id, Time: time.Now(), ClientIP: netip.MustParseAddr("2001:db8:1:2::5"), Method: "GET", Host: "shop.example.com",
		Path: "/cart", Headers: detect.Headers{"user-agent": "curl/8.5.0"}}
	v := &detect.Verdict{Score: 1, Source: detect.SourceHeuristics, DetectionIDs: []int{33554433}, Tags: []string{"http-library"},
		Action: detect.ActionBlock, EnforcedAction: detect.ActionBlock, RuleID: "bot-fight", Mode: detect.ModeMitigate,
		IP: detect.IPInfo{ASN: 64500, Country: "DE"}}
	return r, v
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func allEvents(t *testing.T, s Store) []Record {
	t.Helper()
	now := time.Now()
	recs, _, err := s.Events(context.Background(), Filter{From: now.Add(-24 * time.Hour), To: now.Add(time.Hour)}, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestIngesterJoinsDecisionAndAccessLog(t *testing.T) {
	s := openTest(t, "")
	in := runIngester(t, testIngest(), s)

	r, v := request("req-1")
	in.Finish(context.Background(), r, v)
	in.Offer(&detect.Event{RequestID: "req-1", Status: 403, ResponseBytes: 512, Duration: 3 * time.Millisecond})
	// A decision whose entry never comes is stored alone after the window.
	r2, v2 := request("req-2")
	in.Finish(context.Background(), r2, v2)
	// An entry whose decision was not seen here is stored from its metadata.
	in.Offer(&detect.Event{RequestID: "req-3", Time: time.Now(), BotScore: 85, BotScoreSrc: "machine_learning", Action: "allow", Status: 200,
		ClientIP: netip.MustParseAddr("192.0.2.9"), UserAgent: "Mozilla/5.0"})

	eventually(t, "three records", func() bool { return len(allEvents(t, s)) == 3 })
	by := map[string]Record{}
	for _, rec := range allEvents(t, s) {
		by[rec.Ref] = rec
	}
	j := by[Ref("req-1")]
	if !j.Logged || j.Status != 403 || j.ResponseBytes != 512 || j.BotScore != 1 || j.RuleID != "bot-fight" || j.ClientNet != "2001:db8:1:2::/64" ||
		j.ClientASN != 64500 || len(j.BotDetectionIDs) != 1 || j.UserAgent != "curl/8.5.0" {
		t.Fatalf("joined record: %+v", j)
	}
	if alone := by[Ref("req-2")]; alone.Logged || alone.BotScore != 1 {
		t.Fatalf("decision alone: %+v", alone)
	}
	if m := by[Ref("req-3")]; !m.Logged || m.BotScore != 85 || m.BotCategory != "likely_human" || m.ClientNet != "192.0.2.0/24" {
		t.Fatalf("entry alone: %+v", m)
	}

	// The entry of req-2 arrives after its decision was stored: not twice.
	in.Offer(&detect.Event{RequestID: "req-2", Status: 200})
	time.Sleep(100 * time.Millisecond)
	if n := len(allEvents(t, s)); n != 3 {
		t.Fatalf("late entry stored again: %d records", n)
	}
}

func TestSamplingKeepsBothHalvesOfARequest(t *testing.T) {
	s := openTest(t, "")
	in := runIngester(t, testIngest(), s)
	in.interval.Store(4)
	for i := range 400 {
		id := "r" + string(rune('A'+i%26)) + time.Duration(i).String()
		r, v := request(id)
		in.Finish(context.Background(), r, v)
		in.Offer(&detect.Event{RequestID: id, Status: 200})
	}
	eventually(t, "sampled records", func() bool { return len(allEvents(t, s)) > 0 })
	time.Sleep(300 * time.Millisecond)
	recs := allEvents(t, s)
	var scaled int
	for _, rec := range recs {
		if !rec.Logged || rec.SampleInterval != 4 {
			t.Fatalf("sampled record %+v: want joined with interval 4", rec)
		}
		scaled += rec.SampleInterval
	}
	if len(recs) < 60 || len(recs) > 140 || scaled < 240 || scaled > 560 {
		t.Fatalf("kept %d of 400 at interval 4 (scaled %d)", len(recs), scaled)
	}
}

type failingStore struct{ Store }

func (failingStore) Append(context.Context, []Record) error { return errors.New("disk full") }

func TestBrokenStoreNeverBlocksTheHotPath(t *testing.T) {
	in := runIngester(t, testIngest(), failingStore{openTest(t, "")})
	r, v := request("x")
	in.Finish(context.Background(), r, v)
	eventually(t, "the error", func() bool { err, _ := in.Err(); return err != nil })

	// No store at all (it failed to open): Finish and Offer return at once.
	none, err := NewIngester(testIngest(), nil, errors.New("open x.duckdb: not a database"), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 100000 {
		none.Finish(context.Background(), r, v)
		none.Offer(&detect.Event{})
	}
	if err, _ := none.Err(); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}

	// A writer that is stuck: the queue fills, drops are counted, and the
	// sample interval rises.
	stuck, _ := NewIngester(IngestConfig{Queue: 16, BatchSize: 1, FlushInterval: time.Second, MaxSampleInterval: 8}, openTest(t, ""), nil, zerolog.Nop(), nil)
	for i := range 100 {
		r, v := request(time.Duration(i).String())
		stuck.Finish(context.Background(), r, v)
	}
	stuck.adapt(0)
	if stuck.SampleInterval() != 2 {
		t.Fatalf("interval %d after overflow, want 2", stuck.SampleInterval())
	}
}
