package analytics

import (
	"context"
	"fmt"
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

// rollupCase is one overview question asked of two stores.
type rollupCase struct {
	name string
	f    func(Filter) Filter
}

var rollupCases = []rollupCase{
	{"everything", func(f Filter) Filter { return f }},
	{"score below 30", func(f Filter) Filter { f.ScoreMin, f.ScoreMax = 1, 29; return f }},
	{"category", func(f Filter) Filter { f.Match = map[Dim][]string{DimCategory: {"likely_automated"}}; return f }},
	{"two actions and a source", func(f Filter) Filter {
		f.Match = map[Dim][]string{DimAction: {"block", "managed_challenge"}, DimSource: {"heuristics"}}
		return f
	}},
	{"mode and score", func(f Filter) Filter {
		f.Match = map[Dim][]string{DimMode: {"mitigate"}}
		f.ScoreMin = 50
		return f
	}},
	{"host (not rolled up)", func(f Filter) Filter { f.Match = map[Dim][]string{DimHost: {"login.example.com"}}; return f }},
	{"path prefix (not rolled up)", func(f Filter) Filter { f.PathPrefix = "/products/1"; return f }},
	{"partial hours only", func(f Filter) Filter { f.From, f.To = f.To.Add(-50*time.Minute), f.To.Add(-10*time.Minute); return f }},
}

// overviewAnswers is what the overview asks, as comparable text.
func overviewAnswers(t *testing.T, s *DuckDB, f Filter) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, step := range []time.Duration{time.Hour, 6 * time.Hour, 15 * time.Minute} {
		for _, by := range []Dim{DimCategory, DimAction, DimHost} {
			pts, err := s.Timeseries(ctx, f, step, by)
			if err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("timeseries %s by %s", step, by)] = fmt.Sprint(pts)
		}
	}
	h, err := s.Histogram(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	out["histogram"] = fmt.Sprint(h)
	for _, by := range []Dim{DimSource, DimCategory, DimScore, DimUserAgent} {
		c, err := s.Top(ctx, f, by, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out["top "+string(by)] = fmt.Sprint(c)
	}
	return out
}

func TestRollupAnswersAsDetail(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 37, 0, 0, time.UTC)
	tr := newTraffic(5)
	recs := tr.batch(20000, now.Add(-72*time.Hour-23*time.Minute), now, 0)
	for i := range recs {
		recs[i].SampleInterval = 1 << (i % 3) // counts are scaled
	}
	// late arrive after the fold: in hours already rolled up
	late := tr.batch(500, now.Add(-30*time.Hour-7*time.Minute), now.Add(-20*time.Hour), len(recs))
	detail, rolled := openTest(t, ""), openTest(t, "")
	for _, s := range []*DuckDB{detail, rolled} {
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := rolled.Maintain(ctx, now); err != nil {
		t.Fatal(err)
	}
	if w := time.UnixMicro(rolled.rolledTo.Load()).UTC(); !w.Equal(now.Add(-foldDelay).Truncate(time.Hour)) {
		t.Fatalf("rolled up to %s", w)
	}
	for _, s := range []*DuckDB{detail, rolled} {
		if err := s.Append(ctx, late); err != nil {
			t.Fatal(err)
		}
	}
	base := Filter{From: now.Add(-60*time.Hour - 17*time.Minute), To: now.Add(-3 * time.Minute)}
	for _, tt := range rollupCases {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f(base)
			want, got := overviewAnswers(t, detail, f), overviewAnswers(t, rolled, f)
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s: rollup answers\n%s\ndetail answers\n%s", k, got[k], w)
				}
			}
		})
	}
	// Where the rollup can answer it does; other questions read detail.
	for _, tt := range []struct {
		f          Filter
		rollupCols string
		exact      bool
		want       bool
	}{
		{base, "cat AS v", true, true},
		{rollupCases[5].f(base), "cat AS v", true, false},
		{rollupCases[6].f(base), "cat AS v", true, false},
		{base, "", true, false},          // by an attribute the rollup does not keep
		{base, "cat AS v", false, false}, // 15-minute steps while the detail is there
		{rollupCases[7].f(base), "cat AS v", true, false},
	} {
		q, _ := rolled.source(tt.f, "cat AS v", tt.rollupCols, tt.exact)
		if got := strings.Contains(q, "FROM rollup"); got != tt.want {
			t.Errorf("filter %+v, rollup %q exact %v: reads rollup %v, want %v", tt.f, tt.rollupCols, tt.exact, got, tt.want)
		}
	}
}

func TestRollupSurvivesRestartAndRetention(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.duckdb")
	now := time.Date(2026, 12, 3, 12, 37, 0, 0, time.UTC)
	recs := newTraffic(6).batch(5000, now.Add(-48*time.Hour), now, 0)
	s := openTest(t, path)
	if err := s.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.Maintain(ctx, now); err != nil {
		t.Fatal(err)
	}
	f := Filter{From: now.Add(-47*time.Hour - 30*time.Minute), To: now}
	before := overviewAnswers(t, s, f)
	w := s.rolledTo.Load()
	s.Close()

	s = openTest(t, path)
	if s.rolledTo.Load() != w {
		t.Fatalf("rolled up to %d after restart, was %d", s.rolledTo.Load(), w)
	}
	after := overviewAnswers(t, s, f)
	if after["histogram"] != before["histogram"] || after["timeseries 6h0m0s by category"] != before["timeseries 6h0m0s by category"] {
		t.Fatalf("answers changed across a restart:\n%v\n%v", before["histogram"], after["histogram"])
	}
	// Retention deletes the detail; the rolled-up charts keep their whole
	// hours, questions the rollup cannot answer count what is left.
	s.cfg.Retention = 6 * time.Hour
	if err := s.Maintain(ctx, now); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(ctx)
	if st.Oldest.Before(now.Add(-7*time.Hour)) || st.RollupFrom.IsZero() {
		t.Fatalf("detail not cut: %+v", st)
	}
	whole := f
	whole.From = f.From.Truncate(time.Hour).Add(time.Hour) // whole hours: the partial first one was detail
	g := whole
	g.From = f.From
	hist := func(f Filter) int64 {
		h, err := s.Histogram(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return sum(h)
	}
	full := int64(0)
	for _, r := range recs {
		if !r.Time.Before(whole.From) {
			full += int64(r.SampleInterval)
		}
	}
	if n := hist(g); n != full {
		t.Fatalf("histogram after retention: %d, want %d", n, full)
	}
	host := g
	host.Match = map[Dim][]string{DimHost: {"shop.example.com"}}
	if n := hist(host); n == 0 || n > full/3 {
		t.Fatalf("host filter after retention counts %d (only detail is left), of %d", n, full)
	}
}

func TestStoreWithoutRollupStateUpgrades(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.duckdb")
	now := time.Date(2026, 12, 3, 12, 37, 0, 0, time.UTC)
	s := openTest(t, path)
	if err := s.Append(ctx, newTraffic(7).batch(100, now.Add(-5*time.Hour), now, 0)); err != nil {
		t.Fatal(err)
	}
	// A file of the previous version: no watermarks.
	if _, err := s.db.Exec(`DROP TABLE rollup_state`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, path)
	if got, want := s.rolledTo.Load(), micros(now.Add(-5*time.Hour).Truncate(time.Hour)); got != want {
		t.Fatalf("watermark %d, want the first detail hour %d", got, want)
	}
}

func TestTopLeavesOutUnknownASNAndStatus(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	recs := []Record{
		{Time: now.Add(-time.Minute), Ref: "a", SampleInterval: 1, ClientASN: 0, Status: 0},
		{Time: now.Add(-time.Minute), Ref: "b", SampleInterval: 1, ClientASN: 0, Status: 0},
		{Time: now.Add(-time.Minute), Ref: "c", SampleInterval: 1, ClientASN: 64500, Status: 200, Logged: true},
	}
	if err := s.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	f := Filter{From: now.Add(-time.Hour), To: now}
	for _, tt := range []struct {
		by   Dim
		want string
	}{{DimASN, "64500"}, {DimStatus, "200"}, {DimScore, "0"}} { // a score of 0 ("not computed") is a value
		got, err := s.Top(ctx, f, tt.by, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Value != tt.want {
			t.Errorf("top %s: %+v, want only %s", tt.by, got, tt.want)
		}
	}
}

func TestWALLimitFollowsTheSizeCap(t *testing.T) {
	for _, tt := range []struct{ maxBytes, want int64 }{
		{0, 128 << 20}, {2 << 30, 128 << 20}, {512 << 20, 32 << 20}, {16 << 20, 16 << 20},
	} {
		if got := walLimit(tt.maxBytes); got != tt.want {
			t.Errorf("walLimit(%d) = %d, want %d", tt.maxBytes, got, tt.want)
		}
	}
	s, err := OpenDuckDB(StoreConfig{Path: filepath.Join(t.TempDir(), "w.duckdb"), MaxBytes: 512 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v string
	if err := s.db.QueryRow(`SELECT current_setting('wal_autocheckpoint')`).Scan(&v); err != nil || !strings.HasPrefix(v, "32") {
		t.Fatalf("wal_autocheckpoint %q %v, want 32 MiB", v, err)
	}
}
