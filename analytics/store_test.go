package analytics

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTest(t *testing.T, path string) *DuckDB {
	t.Helper()
	s, err := OpenDuckDB(StoreConfig{Path: path, Retention: 30 * 24 * time.Hour, MemoryLimit: "256MB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sum(cs []Count) (n int64) {
	for _, c := range cs {
		n += c.Count
	}
	return n
}

func TestStoreCountsWhatWasAppended(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	recs := []Record{
		{Time: now.Add(-10 * time.Minute), Ref: "a", SampleInterval: 1, BotScore: 1, BotCategory: "automated", BotScoreSrc: "heuristics", Action: "block",
			UserAgent: "curl/8", Host: "shop.example.com", Path: "/api/x", ClientIP: "192.0.2.1", ClientNet: "192.0.2.0/24", BotTags: []string{"http-library"}, BotDetectionIDs: []int{7}},
		{Time: now.Add(-5 * time.Minute), Ref: "b", SampleInterval: 4, BotScore: 80, BotCategory: "likely_human", BotScoreSrc: "machine_learning", Action: "allow",
			UserAgent: "Mozilla/5.0", Host: "shop.example.com", Path: "/", ClientIP: "192.0.2.2", ClientNet: "192.0.2.0/24"},
		{Time: now.Add(-2 * time.Hour), Ref: "c", SampleInterval: 1, BotScore: 20, BotCategory: "likely_automated", Action: "allow", UserAgent: "curl/8"},
	}
	if err := s.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	f := Filter{From: now.Add(-time.Hour), To: now}
	tests := []struct {
		name string
		f    func(Filter) Filter
		by   Dim
		want map[string]int64
	}{
		{"by category, scaled by sample interval", func(f Filter) Filter { return f }, DimCategory, map[string]int64{"automated": 1, "likely_human": 4}},
		{"by prefix", func(f Filter) Filter { return f }, DimPrefix, map[string]int64{"192.0.2.0/24": 5}},
		{"score below 30", func(f Filter) Filter { f.ScoreMin, f.ScoreMax = 1, 29; return f }, DimUserAgent, map[string]int64{"curl/8": 1}},
		{"tags unnest", func(f Filter) Filter { return f }, DimTag, map[string]int64{"http-library": 1}},
		{"detection id filter", func(f Filter) Filter { f.Match = map[Dim][]string{DimDetectionID: {"7"}}; return f }, DimIP, map[string]int64{"192.0.2.1": 1}},
		{"path prefix", func(f Filter) Filter { f.PathPrefix = "/api/"; return f }, DimAction, map[string]int64{"block": 1}},
		{"two values of one field", func(f Filter) Filter {
			f.Match = map[Dim][]string{DimAction: {"block", "allow"}}
			return f
		}, DimAction, map[string]int64{"block": 1, "allow": 4}},
		{"longer range", func(f Filter) Filter { f.From = now.Add(-3 * time.Hour); return f }, DimUserAgent, map[string]int64{"curl/8": 2, "Mozilla/5.0": 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Top(ctx, tt.f(f), tt.by, 10)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]int64{}
			for _, c := range got {
				m[c.Value] = c.Count
			}
			if len(m) != len(tt.want) {
				t.Fatalf("got %v, want %v", m, tt.want)
			}
			for k, v := range tt.want {
				if m[k] != v {
					t.Fatalf("got %v, want %v", m, tt.want)
				}
			}
		})
	}
	h, err := s.Histogram(ctx, f)
	if err != nil || sum(h) != 5 {
		t.Fatalf("histogram %v %v", h, err)
	}
	ts, err := s.Timeseries(ctx, f, time.Minute, DimCategory)
	if err != nil || len(ts) != 2 || ts[0].Value != "automated" || ts[1].Count != 4 {
		t.Fatalf("timeseries %+v %v", ts, err)
	}
}

func TestEventsPagesNewestFirst(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tr := newTraffic(1)
	// 250 records over 30 days: the widening window must reach back.
	if err := s.Append(ctx, tr.batch(250, now.Add(-29*24*time.Hour), now, 0)); err != nil {
		t.Fatal(err)
	}
	f := Filter{From: now.Add(-30 * 24 * time.Hour), To: now.Add(time.Second)}
	seen := map[string]bool{}
	var last time.Time
	tok := ""
	for page := 0; ; page++ {
		recs, next, err := s.Events(ctx, f, 100, tok)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if seen[r.Ref] {
				t.Fatalf("page %d repeats %s", page, r.Ref)
			}
			seen[r.Ref] = true
			if !last.IsZero() && r.Time.After(last) {
				t.Fatalf("page %d not newest first", page)
			}
			last = r.Time
		}
		if next == "" {
			break
		}
		tok = next
	}
	if len(seen) != 250 {
		t.Fatalf("paged through %d records, want 250", len(seen))
	}
	recs, _, err := s.Events(ctx, Filter{From: f.From, To: f.To, Match: map[Dim][]string{DimRef: {tr.batch(1, now, now, 249)[0].Ref}}}, 10, "")
	if err != nil || len(recs) != 1 {
		t.Fatalf("by ray id: %v %v", recs, err)
	}
	for _, bad := range []string{"%%%", "bm9jb2xvbg", strings.Repeat("A", 200)} {
		if _, _, err := s.Events(ctx, f, 10, bad); err == nil || !strings.Contains(err.Error(), "page") {
			t.Errorf("token %q: err %v, want one naming page", bad, err)
		}
	}
}

func TestRetentionRollsUpSoChartsSurvive(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	s.cfg.Retention = 24 * time.Hour
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tr := newTraffic(2)
	recs := tr.batch(1000, now.Add(-72*time.Hour), now, 0)
	if err := s.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	f := Filter{From: now.Add(-80 * time.Hour), To: now.Add(time.Hour)}
	before, _ := s.Top(ctx, f, DimCategory, 10)
	if err := s.Maintain(ctx, now); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(ctx)
	if st.Oldest.Before(now.Add(-25*time.Hour)) || st.RollupFrom.IsZero() {
		t.Fatalf("detail not cut: %+v", st)
	}
	after, _ := s.Top(ctx, f, DimCategory, 10)
	if sum(before) != 1000 || sum(after) != 1000 {
		t.Fatalf("category counts before %d after %d, want 1000 both (rollups)", sum(before), sum(after))
	}
	// Attributes not in the rollups only count the detail that is left.
	ua, _ := s.Top(ctx, f, DimUserAgent, 1000)
	if n := sum(ua); n >= 1000 || n == 0 {
		t.Fatalf("user agents over rolled-up hours: %d", n)
	}
}

func TestRestartKeepsDataAndCorruptFileIsAnError(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "a.duckdb")
	s, err := OpenDuckDB(StoreConfig{Path: path, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := s.Append(ctx, newTraffic(3).batch(100, now.Add(-time.Minute), now, 0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, path)
	st, err := s.Stats(ctx)
	if err != nil || st.Records != 100 {
		t.Fatalf("after reopen: %+v %v", st, err)
	}

	bad := filepath.Join(dir, "bad.duckdb")
	os.WriteFile(bad, []byte(strings.Repeat("not a database ", 1000)), 0o600)
	if _, err := OpenDuckDB(StoreConfig{Path: bad}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("corrupt file: err %v, want one naming the file", err)
	}
}
