package analytics

import (
	"bufio"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/analytics/logpush"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/reputation"
)

// feedbackService is testService with a real embedded reputation store
// (the one Checks read) behind the reports.
func feedbackService(t *testing.T) (*Service, *reputation.Local, func(path, body string) (int, map[string]any), string) {
	t.Helper()
	s, srv := testService(t)
	rep := newReputation(t)
	s.UseReputation(Reputation{Store: rep, ParseKey: reputation.DefaultEngineConfig().ParseKey})
	post := func(path, body string) (int, map[string]any) { return postJSON(t, srv.URL+path, body) }
	return s, rep, post, srv.URL
}

func newReputation(t *testing.T) *reputation.Local {
	t.Helper()
	// The store expires verdicts on the real clock, so the tests that
	// read verdicts back run the service on it too.
	l, err := reputation.NewLocal(context.Background(), reputation.DefaultLocalConfig(), zerolog.Nop(), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// checkClient runs the reputation engine for a request from ip, as the next
// Check would, after the analysis published behavioural for that address.
func checkClient(t *testing.T, rep reputation.Store, ip string) *detect.Verdict {
	t.Helper()
	e, err := reputation.NewEngine(reputation.DefaultEngineConfig(), rep)
	if err != nil {
		t.Fatal(err)
	}
	v := &detect.Verdict{}
	v.Propose(80, detect.SourceML)
	if err := e.Evaluate(context.Background(), &detect.Request{ClientIP: netip.MustParseAddr(ip)}, v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFeedbackAppliesThroughReputation(t *testing.T) {
	s, rep, post, url := feedbackService(t)
	s.now = time.Now // the reputation store expires verdicts on the real clock
	now := s.now()
	recs := newTraffic(9).batch(200, now.Add(-30*time.Minute), now, 0)
	for i := range recs[:40] {
		recs[i].ClientIP, recs[i].UserAgent, recs[i].BotScore, recs[i].BotScoreSrc = "203.0.113.7", "Mozilla/5.0 honest", 12, "behavioral_analysis"
	}
	if err := s.Store.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	// The analysis thinks 203.0.113.7 is a crawler.
	if err := rep.Put(context.Background(), reputation.Verdict{Key: "ip:203.0.113.7", Score: 5, Source: detect.SourceBehavioral,
		Tags: []string{"crawl"}, Expiry: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if v := checkClient(t, rep, "203.0.113.7"); v.Score != 5 || v.Reputation.Exempt {
		t.Fatalf("before the report: score %d exempt %v", v.Score, v.Reputation.Exempt)
	}

	// The operator reports the address as a false positive, as typed.
	code, res := post("/api/v1/feedback?since=1h&ip=203.0.113.7", `{"kind":"false_positive","key":"203.0.113.7","ttl":"2h","description":"our office"}`)
	if code != 201 {
		t.Fatalf("report: %d %v", code, res)
	}
	b, _ := json.Marshal(res)
	var fb Feedback
	json.Unmarshal(b, &fb)
	if fb.Key != "ip:203.0.113.7" || fb.Requests != 40 || fb.Origin != OriginOperator || fb.Applied == nil ||
		fb.Applied.Key != "feedback:ip:203.0.113.7" || !slices.Equal(fb.Applied.Tags, []string{reputation.TagExempt}) {
		t.Fatalf("report %s", b)
	}
	if d := fb.Applied.Expiry.Sub(fb.Time); d != 2*time.Hour {
		t.Errorf("exemption lasts %s, want 2h", d)
	}
	if len(fb.ByScore) != 1 || fb.ByScore[0].Value != "2-29" || fb.ByScore[0].Count != 40 ||
		len(fb.BySource) != 1 || fb.BySource[0].Value != "behavioral_analysis" ||
		len(fb.TopIPs) != 1 || fb.TopIPs[0].Value != "203.0.113.7" || fb.TopUserAgents[0].Value != "Mozilla/5.0 honest" {
		t.Errorf("breakdowns %s", b)
	}
	v := checkClient(t, rep, "203.0.113.7")
	if !v.Reputation.Exempt || v.Score != 80 || !v.HasTag(reputation.TagExempt) || v.HasTag("crawl") {
		t.Fatalf("after the report: score %d exempt %v tags %v", v.Score, v.Reputation.Exempt, v.Tags)
	}

	// A false negative about a network publishes a scored verdict.
	code, res = post("/api/v1/feedback", `{"kind":"false_negative","key":"net:198.51.100.99","abuse":"scraping","score":9}`)
	if code != 201 || res["applied"].(map[string]any)["key"] != "feedback:net:198.51.100.0/24" {
		t.Fatalf("false negative: %d %v", code, res)
	}
	if v := checkClient(t, rep, "198.51.100.20"); v.Score != 9 || !v.HasTag(reputation.TagFalseNegative) || !v.HasTag("scraping") {
		t.Fatalf("after the false negative: score %d tags %v", v.Score, v.Tags)
	}

	// A report about a request, without a key, is about its client.
	ref := recs[100].Ref
	code, res = post("/api/v1/feedback", `{"kind":"false_negative","ray_id":"`+ref+`"}`)
	if code != 201 || res["key"] != "ip:"+recs[100].ClientIP || res["requests"].(float64) != 1 {
		t.Fatalf("request report: %d %v", code, res)
	}

	// A report on a whole filter records, applies nothing.
	code, res = post("/api/v1/feedback?since=1h&user_agent=curl%2F8.5.0", `{"kind":"false_negative"}`)
	if code != 201 || res["applied"] != nil {
		t.Fatalf("filter report: %d %v", code, res)
	}

	var live map[string][]Feedback
	if getJSON(t, url+"/api/v1/feedback?live=true", &live); len(live["feedback"]) != 3 {
		t.Fatalf("live reports: %d, want 3", len(live["feedback"]))
	}
	var e apiError
	if code := getJSON(t, url+"/api/v1/feedback?live=maybe", &e); code != 400 || !strings.HasPrefix(e.Error, "live") {
		t.Fatalf("live=maybe: %d %q", code, e.Error)
	}
}

func TestFeedbackValidation(t *testing.T) {
	_, rep, post, _ := feedbackService(t)
	tests := []struct {
		name, query, body, field string
	}{
		{"unknown kind", "", `{"kind":"maybe"}`, "kind"},
		{"ttl not a duration", "", `{"kind":"false_positive","key":"ip:192.0.2.1","ttl":"forever"}`, "ttl"},
		{"ttl too long", "", `{"kind":"false_positive","key":"ip:192.0.2.1","ttl":"9000h"}`, "ttl"},
		{"ttl too short", "", `{"kind":"false_positive","key":"ip:192.0.2.1","ttl":"1s"}`, "ttl"},
		{"score on a false positive", "", `{"kind":"false_positive","key":"ip:192.0.2.1","score":5}`, "score"},
		{"score in the human band", "", `{"kind":"false_negative","key":"ip:192.0.2.1","score":30}`, "score"},
		{"key of no kind", "", `{"kind":"false_positive","key":"user_agent:curl"}`, "key"},
		{"network of the wrong size", "", `{"kind":"false_positive","key":"net:192.0.2.0/16"}`, "key"},
		{"bad address", "", `{"kind":"false_negative","key":"ip:300.1.1.1"}`, "key"},
		{"unknown abuse", "", `{"kind":"false_negative","abuse":"jaywalking"}`, "abuse"},
		{"not JSON", "", `{"kind":`, ""},
		{"bad filter", "?since=yesterday", `{"kind":"false_positive"}`, "since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, res := post("/api/v1/feedback"+tt.query, tt.body)
			msg, _ := res["error"].(string)
			if code != 400 || !strings.HasPrefix(msg, tt.field) {
				t.Fatalf("%d %q, want 400 naming %q", code, msg, tt.field)
			}
		})
	}
	if v := checkClient(t, rep, "192.0.2.1"); v.Reputation.Found {
		t.Fatalf("a rejected report wrote a verdict: %+v", v.Reputation)
	}
}

func TestFeedbackRefreshRestoresVerdicts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.duckdb")
	st, err := OpenDuckDB(StoreConfig{Path: path, Retention: 30 * 24 * time.Hour, MemoryLimit: "256MB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewIngester(testIngest(), st, nil, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{cfg: DefaultConfig(), Store: st, In: in, now: time.Now}
	s.UseReputation(Reputation{Store: newReputation(t), ParseKey: reputation.DefaultEngineConfig().ParseKey})
	ctx := context.Background()
	f := Filter{From: time.Now().Add(-time.Hour), To: time.Now()}
	// Two reports about one key, a false negative then a false positive,
	// and one that expired.
	for _, fr := range []FeedbackRequest{
		{Kind: FalseNegative, Key: "ip:192.0.2.9"},
		{Kind: FalsePositive, Key: "ip:192.0.2.9"},
		{Kind: FalseNegative, Key: "ip:192.0.2.10", TTL: "1m"},
	} {
		if _, err := s.Report(ctx, st, f, fr, OriginOperator); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct report times: newest wins
	}
	st.Close()

	// A restart: a new process, an empty reputation store, the same file.
	st, err = OpenDuckDB(StoreConfig{Path: path, Retention: 30 * 24 * time.Hour, MemoryLimit: "256MB", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep := newReputation(t)
	s2 := &Service{cfg: DefaultConfig(), Store: st, In: in, now: func() time.Time { return time.Now().Add(2 * time.Minute) }}
	s2.UseReputation(Reputation{Store: rep, ParseKey: reputation.DefaultEngineConfig().ParseKey})
	if v := checkClient(t, rep, "192.0.2.9"); v.Reputation.Found {
		t.Fatal("fresh store already has the verdict")
	}
	if err := s2.republish(ctx); err != nil {
		t.Fatal(err)
	}
	if v := checkClient(t, rep, "192.0.2.9"); !v.Reputation.Exempt || v.Score != 80 {
		t.Fatalf("after the refresh: exempt %v score %d (the newer false positive must win)", v.Reputation.Exempt, v.Score)
	}
	if v := checkClient(t, rep, "192.0.2.10"); v.Reputation.Found {
		t.Fatalf("an expired report came back: %+v", v.Reputation)
	}
}

func TestVisitorReportAppliesNothing(t *testing.T) {
	s, rep, _, _ := feedbackService(t)
	f := Filter{From: now0.Add(-time.Hour), To: now0}
	fb, err := s.Report(context.Background(), s.Store, f, FeedbackRequest{Kind: FalsePositive, Key: "ip:192.0.2.7"}, OriginVisitor)
	if err != nil {
		t.Fatal(err)
	}
	if fb.Applied != nil || fb.Origin != OriginVisitor {
		t.Fatalf("visitor report %+v", fb)
	}
	if v := checkClient(t, rep, "192.0.2.7"); v.Reputation.Found {
		t.Fatal("a visitor exempted themselves")
	}
}

func TestFeedbackExport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "feedback.ndjson")
	cfg := DefaultConfig()
	cfg.Store.Path = filepath.Join(t.TempDir(), "a.duckdb")
	cfg.Exports = []ExportConfig{{Name: "fb", Dataset: "feedback", Type: "file", Path: out, Interval: 10 * time.Millisecond}}
	s, err := Open(cfg, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	fb, err := s.Report(context.Background(), s.Store, Filter{From: time.Now().Add(-time.Hour), To: time.Now()},
		FeedbackRequest{Kind: FalseNegative, Abuse: "scraping", Description: "price scraper"}, OriginOperator)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	s.Close()
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		t.Fatal("nothing exported")
	}
	var got map[string]any
	if err := json.Unmarshal(sc.Bytes(), &got); err != nil || got["id"] != fb.ID || got["abuse"] != "scraping" || got["origin"] != OriginOperator {
		t.Fatalf("exported %s (%v)", sc.Bytes(), err)
	}

	for _, bad := range []struct {
		job   ExportConfig
		field string
	}{
		{ExportConfig{Name: "x", Dataset: "firewall_events", Type: "file", Path: "-"}, "exports[0].dataset"},
		{ExportConfig{Name: "x", Dataset: "feedback", Type: "file", Path: "-", Filter: "bot.score < 30"}, "exports[0].filter"},
		{ExportConfig{Name: "x", Dataset: "feedback", Type: "file", Path: "-", Fields: []string{"BotScore"}}, "exports[0].fields"},
	} {
		c := DefaultConfig()
		c.Exports = []ExportConfig{bad.job}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("%+v: %v, want an error naming %s", bad.job, err, bad.field)
		}
	}
	if !slices.Contains(FeedbackSchema.Fields, "by_score") || !slices.Contains(FeedbackSchema.Fields, "applied") {
		t.Errorf("feedback fields %v lack the embedded detail", FeedbackSchema.Fields)
	}
	var _ logpush.Item = Feedback{}
}
