package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func testService(t *testing.T) (*Service, *httptest.Server) {
	t.Helper()
	st := openTest(t, "")
	in, err := NewIngester(testIngest(), st, nil, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{cfg: DefaultConfig(), Store: st, In: in, now: func() time.Time { return now0 }}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}

// postJSON POSTs body to url and decodes the JSON answer.
func postJSON(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestAPI(t *testing.T) {
	s, srv := testService(t)
	recs := newTraffic(8).batch(500, now0.Add(-30*time.Minute), now0, 0)
	recs[0].UserAgent = `<img src=x onerror=alert(1)>`
	if err := s.Store.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	var top Counts
	if code := getJSON(t, srv.URL+"/api/v1/top?by=user_agent&limit=500&since=1h", &top); code != 200 || sum(top.Rows) != 500 {
		t.Fatalf("top: %d %+v", code, top)
	}
	var ts Series
	if code := getJSON(t, srv.URL+"/api/v1/timeseries?by=action&since=1h", &ts); code != 200 || ts.Total != 500 || ts.Step != "1m0s" {
		t.Fatalf("timeseries: %d %+v", code, ts)
	}
	var page Page
	if code := getJSON(t, srv.URL+"/api/v1/events?limit=100&since=1h", &page); code != 200 || len(page.Records) != 100 || page.Next == "" {
		t.Fatalf("events: %d %d %q", code, len(page.Records), page.Next)
	}
	var page2 Page
	getJSON(t, srv.URL+"/api/v1/events?limit=100&since=1h&page="+page.Next, &page2)
	if len(page2.Records) != 100 || page2.Records[0].Time.After(page.Records[99].Time) {
		t.Fatalf("second page")
	}
	var expr map[string]any
	getJSON(t, srv.URL+"/api/v1/expression?score_below=30&action=block", &expr)
	if expr["expression"] != "bot.score >= 1 && bot.score <= 29" || len(expr["not_expressible"].([]any)) != 1 {
		t.Fatalf("expression: %v", expr)
	}

	for _, bad := range []struct{ path, field string }{
		{"/api/v1/top?by=colour", "by"},
		{"/api/v1/top?by=ip&limit=0", "limit"},
		{"/api/v1/top?by=ip&since=forever", "since"},
		{"/api/v1/events?page=garbage!", "page"},
		{"/api/v1/timeseries?step=1s", "step"},
		{"/api/v1/histogram?score=1-200", "score"},
	} {
		var e apiError
		if code := getJSON(t, srv.URL+bad.path, &e); code != 400 || !strings.HasPrefix(e.Error, bad.field) {
			t.Errorf("%s: %d %q, want 400 naming %s", bad.path, code, e.Error, bad.field)
		}
	}

	post := func(path, body string) (int, map[string]any) { return postJSON(t, srv.URL+path, body) }
	code, res := post("/api/v1/draft?since=1h", `{"expression":"bot.score < 30","action":"block"}`)
	if code != 200 || res["matched"].(float64) == 0 || res["scanned"].(float64) != 500 {
		t.Fatalf("draft: %d %v", code, res)
	}
	if code, res := post("/api/v1/draft", `{"expression":"bot.score <"}`); code != 400 || !strings.HasPrefix(res["error"].(string), "expression") {
		t.Fatalf("bad draft: %d %v", code, res)
	}
	code, res = post("/api/v1/feedback?since=1h&user_agent=curl%2F8.5.0", `{"kind":"false_negative","abuse":"scraping","description":"price scraper"}`)
	if code != 201 || res["expression"] != `http.user_agent == "curl/8.5.0"` {
		t.Fatalf("feedback: %d %v", code, res)
	}
	if code, res := post("/api/v1/feedback", `{"kind":"maybe"}`); code != 400 || !strings.HasPrefix(res["error"].(string), "kind") {
		t.Fatalf("bad feedback: %d %v", code, res)
	}
	var fl map[string][]Feedback
	if getJSON(t, srv.URL+"/api/v1/feedback", &fl); len(fl["feedback"]) != 1 || fl["feedback"][0].Abuse != "scraping" {
		t.Fatalf("feedback list %+v", fl)
	}
}

func TestAPIWithoutStoreSaysWhy(t *testing.T) {
	in, _ := NewIngester(testIngest(), nil, errors.New(`open "x.duckdb": not a valid DuckDB database file`), zerolog.Nop(), nil)
	s := &Service{cfg: DefaultConfig(), In: in, now: time.Now}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var e apiError
	if code := getJSON(t, srv.URL+"/api/v1/top?by=ip", &e); code != 503 || !strings.Contains(e.Error, "not a valid DuckDB") {
		t.Fatalf("%d %q", code, e.Error)
	}
	var st Status
	if getJSON(t, srv.URL+"/api/v1/status", &st); st.Available || !strings.Contains(st.Error, "x.duckdb") {
		t.Fatalf("status %+v", st)
	}
}
