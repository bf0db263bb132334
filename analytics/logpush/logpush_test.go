package logpush_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/analytics"
	"github.com/botwarden/botwarden/analytics/logpush"
)

// rec is request number i: scores cycle 1..99, so filters and the
// category label see several values.
func rec(i int) analytics.Record {
	score := 1 + i%99
	cat, action := "likely_human", "allow"
	switch {
	case score == 1:
		cat, action = "automated", "block"
	case score < 30:
		cat, action = "likely_automated", "managed_challenge"
	}
	return analytics.Record{Time: time.Unix(1700000000, int64(i)*1000), Ref: fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15+1),
		SampleInterval: 1, BotScore: score, BotScoreSrc: "heuristics", BotCategory: cat, Action: action,
		BotTags: []string{"http-library", "x,\"y\""}, BotDetectionIDs: []int{33554433},
		ClientIP: "192.0.2." + strconv.Itoa(1+i%250), Host: "shop.example.com", Method: "GET",
		Path: "/p/" + strconv.Itoa(i) + "?q=\"a,b\"\n", UserAgent: "curl/8.5.0 <x>"}
}

// running is a started job.
type running struct {
	job  *logpush.Job
	reg  *prometheus.Registry
	stop func()
}

func start(t testing.TB, cfg logpush.Config) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := logpush.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	j, err := logpush.New(cfg, analytics.RecordSchema, m, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { j.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return &running{job: j, reg: reg, stop: stop}
}

// metric sums a metric's series whose labels include want.
func (r *running) metric(name string, want ...string) float64 {
	mfs, _ := r.reg.Gather()
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(want); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == want[i] && l.GetValue() == want[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// receiver is an HTTP sink the test runs on loopback: it decodes each body
// with decode, which returns the RayIDs it carried (or an error: 400), and
// keeps them in arrival order.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	ids    []string
	status atomic.Int32 // when not 0, answer it without reading
	reqs   atomic.Int64
}

func newReceiver(t *testing.T, decode func(r *http.Request, body []byte) ([]string, error)) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.reqs.Add(1)
		if st := rc.status.Load(); st != 0 {
			w.WriteHeader(int(st))
			return
		}
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			rd = zr
		}
		body, err := io.ReadAll(rd)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		ids, err := decode(r, body)
		if err != nil {
			t.Errorf("receiver: %v", err)
			http.Error(w, err.Error(), 400)
			return
		}
		rc.mu.Lock()
		rc.ids = append(rc.ids, ids...)
		rc.mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/_bulk") {
			writeBulkOK(w, len(ids))
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.ids...)
}

func writeBulkOK(w http.ResponseWriter, n int) {
	items := make([]map[string]any, n)
	for i := range items {
		items[i] = map[string]any{"create": map[string]any{"status": 201}}
	}
	json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": false, "items": items})
}

func ndjsonIDs(body []byte) ([]string, error) {
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return nil, fmt.Errorf("body does not end with a newline")
	}
	var ids []string
	for _, line := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		id, _ := m["RayID"].(string)
		ids = append(ids, id)
	}
	return ids, nil
}

func offer(j *logpush.Job, from, to int) []string {
	var ids []string
	for i := from; i < to; i++ {
		r := rec(i)
		j.Offer(r)
		ids = append(ids, r.Ref)
	}
	return ids
}

func sameOrder(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %d ids, want %d in order\ngot  %v\nwant %v", len(got), len(want), got[:min(len(got), 8)], want[:min(len(want), 8)])
	}
}

// Each HTTP body format, decoded strictly by the receiver as its real
// counterpart documents it.
func TestHTTPFormats(t *testing.T) {
	lokiLabel := regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	for _, c := range []struct {
		name   string
		cfg    logpush.Config
		decode func(r *http.Request, body []byte) ([]string, error)
	}{
		{"ndjson", logpush.Config{Type: "http", Gzip: true}, func(r *http.Request, body []byte) ([]string, error) {
			if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
				return nil, fmt.Errorf("content-type %q", ct)
			}
			return ndjsonIDs(body)
		}},
		{"csv", logpush.Config{Type: "http", Format: "csv", Fields: []string{"RayID", "BotScore", "BotTags", "ClientRequestPath", "ClientRequestUserAgent"}},
			func(r *http.Request, body []byte) ([]string, error) {
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
					return nil, fmt.Errorf("content-type %q", ct)
				}
				rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll() // RFC 4180, strict field counts
				if err != nil {
					return nil, err
				}
				if strings.Join(rows[0], ",") != "RayID,BotScore,BotTags,ClientRequestPath,ClientRequestUserAgent" {
					return nil, fmt.Errorf("header %v", rows[0])
				}
				var ids []string
				for _, row := range rows[1:] {
					var tags []string
					if err := json.Unmarshal([]byte(row[2]), &tags); err != nil || tags[1] != `x,"y"` {
						return nil, fmt.Errorf("tags %q: %v", row[2], err)
					}
					if !strings.HasSuffix(row[3], "?q=\"a,b\"\n") || row[4] != "curl/8.5.0 <x>" {
						return nil, fmt.Errorf("row %q", row)
					}
					ids = append(ids, row[0])
				}
				return ids, nil
			}},
		{"splunk_hec", logpush.Config{Type: "http", Format: "splunk_hec", Token: "t0k"}, func(r *http.Request, body []byte) ([]string, error) {
			if r.URL.Path != "/services/collector/event" || r.Header.Get("Authorization") != "Splunk t0k" {
				return nil, fmt.Errorf("path %s, authorization %q", r.URL.Path, r.Header.Get("Authorization"))
			}
			var ids []string
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			for dec.More() {
				var ev struct {
					Time  json.Number    `json:"time"`
					Event map[string]any `json:"event"`
				}
				if err := dec.Decode(&ev); err != nil {
					return nil, err
				}
				if f, err := ev.Time.Float64(); err != nil || f < 1.7e9 || f > 1.8e9 {
					return nil, fmt.Errorf("time %q: want epoch seconds", ev.Time)
				}
				id, _ := ev.Event["RayID"].(string)
				ids = append(ids, id)
			}
			return ids, nil
		}},
		{"elasticsearch", logpush.Config{Type: "http", Format: "elasticsearch", Index: "bots"}, func(r *http.Request, body []byte) ([]string, error) {
			if r.URL.Path != "/_bulk" || r.Header.Get("Content-Type") != "application/x-ndjson" || body[len(body)-1] != '\n' {
				return nil, fmt.Errorf("path %s, content-type %q, last byte %q", r.URL.Path, r.Header.Get("Content-Type"), body[len(body)-1])
			}
			lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
			if len(lines)%2 != 0 {
				return nil, fmt.Errorf("%d lines: want action, document pairs", len(lines))
			}
			var ids []string
			for i := 0; i < len(lines); i += 2 {
				var action map[string]struct {
					Index string `json:"_index"`
					ID    string `json:"_id"`
				}
				if err := json.Unmarshal(lines[i], &action); err != nil || action["create"].Index != "bots" {
					return nil, fmt.Errorf("action %q: %v", lines[i], err)
				}
				var doc map[string]any
				if err := json.Unmarshal(lines[i+1], &doc); err != nil || doc["RayID"] != action["create"].ID {
					return nil, fmt.Errorf("document %q: %v", lines[i+1], err)
				}
				ids = append(ids, action["create"].ID)
			}
			return ids, nil
		}},
		// No Loki server can run here (Grafana Loki is AGPL; Debian's "loki"
		// is an unrelated program), so the receiver checks the push body
		// against Loki's documented JSON API, field by field.
		{"loki", logpush.Config{Type: "loki", Gzip: true, Labels: map[string]string{"env": "test"}}, func(r *http.Request, body []byte) ([]string, error) {
			if r.URL.Path != "/loki/api/v1/push" || r.Header.Get("Content-Type") != "application/json" {
				return nil, fmt.Errorf("path %s, content-type %q", r.URL.Path, r.Header.Get("Content-Type"))
			}
			var push struct {
				Streams []struct {
					Stream map[string]string `json:"stream"`
					Values [][]json.RawMessage
				} `json:"streams"`
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&push); err != nil {
				return nil, err
			}
			var ids []string
			for _, s := range push.Streams {
				for k, v := range s.Stream {
					if !lokiLabel.MatchString(k) || v == "" {
						return nil, fmt.Errorf("label %q=%q", k, v)
					}
				}
				for _, k := range []string{"job", "category", "action", "env"} {
					if s.Stream[k] == "" {
						return nil, fmt.Errorf("stream %v lacks %s", s.Stream, k)
					}
				}
				if len(s.Stream) > 5 {
					return nil, fmt.Errorf("labels %v: only job, host, category, action and the static ones", s.Stream)
				}
				var last int64
				for _, v := range s.Values {
					var ts, line string
					if len(v) != 2 || json.Unmarshal(v[0], &ts) != nil || json.Unmarshal(v[1], &line) != nil {
						return nil, fmt.Errorf("value %s: want [\"<ns>\", \"<line>\"]", v)
					}
					ns, err := strconv.ParseInt(ts, 10, 64)
					if err != nil || ns < last {
						return nil, fmt.Errorf("timestamp %q not a unix ns string in order", ts)
					}
					last = ns
					var m map[string]any
					if err := json.Unmarshal([]byte(line), &m); err != nil {
						return nil, fmt.Errorf("line %q: %w", line, err)
					}
					if m["BotCategory"] != s.Stream["category"] {
						return nil, fmt.Errorf("line in the wrong stream: %v in %v", m["BotCategory"], s.Stream)
					}
					ids = append(ids, m["RayID"].(string))
				}
			}
			return ids, nil
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t, c.decode)
			cfg := c.cfg
			cfg.Name, cfg.URL, cfg.BatchSize, cfg.Interval = c.name, rc.URL, 16, 20*time.Millisecond
			r := start(t, cfg)
			want := offer(r.job, 0, 100)
			eventually(t, "100 delivered", func() bool { return len(rc.got()) >= 100 })
			r.stop()
			got := rc.got()
			if c.name == "loki" { // streams regroup the batch: compare as sets
				if n := countDistinct(got, want); n != 100 || len(got) != 100 {
					t.Fatalf("%d distinct of %d", n, len(got))
				}
			} else {
				sameOrder(t, got, want)
			}
			if n := r.metric("botwarden_export_records_sent_total"); n != 100 {
				t.Fatalf("sent %v", n)
			}
		})
	}
}

func countDistinct(got, want []string) int {
	w := map[string]bool{}
	for _, id := range want {
		w[id] = true
	}
	seen := map[string]bool{}
	for _, id := range got {
		if w[id] {
			seen[id] = true
		}
	}
	return len(seen)
}

// An Elasticsearch _bulk answer with errors: items refused with 429 are
// sent again (alone), items refused for good (400) are counted as
// rejected, and 409 (already stored, a replay) counts as delivered.
func TestElasticsearchPartialFailure(t *testing.T) {
	var mu sync.Mutex
	stored := map[string]int{}
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
		var items []map[string]any
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < len(lines); i += 2 {
			var a map[string]map[string]string
			json.Unmarshal(lines[i], &a)
			id := a["create"]["_id"]
			var doc analytics.Record
			json.Unmarshal(lines[i+1], &doc)
			st := 201
			switch {
			case doc.BotScore == 7: // a mapping error: never accepted
				st = 400
			case doc.BotScore%2 == 0 && call == 1: // overloaded on the first call
				st = 429
			case stored[id] > 0:
				st = 409
			}
			if st == 201 {
				stored[id]++
			}
			item := map[string]any{"status": st}
			if st >= 400 {
				item["error"] = map[string]string{"type": "x"}
			}
			items = append(items, map[string]any{"create": item})
		}
		json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": true, "items": items})
	}))
	defer srv.Close()
	r := start(t, logpush.Config{Name: "es", Type: "http", Format: "elasticsearch", URL: srv.URL, BatchSize: 20, Interval: time.Hour})
	offer(r.job, 0, 20)
	eventually(t, "all but the rejected stored", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(stored) == 19
	})
	r.stop()
	for id, n := range stored {
		if n != 1 {
			t.Fatalf("%s stored %d times", id, n)
		}
	}
	if n := r.metric("botwarden_export_records_dropped_total", "reason", "rejected"); n != 1 {
		t.Fatalf("rejected %v, want 1", n)
	}
	if n := r.metric("botwarden_export_records_sent_total"); n != 19 {
		t.Fatalf("sent %v, want 19", n)
	}
	if n := r.metric("botwarden_export_retries_total"); n < 1 {
		t.Fatalf("retries %v", n)
	}
}

// The file sink writes CSV with a header row in every file, rotating.
func TestFileCSVRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bots.csv")
	r := start(t, logpush.Config{Name: "file", Type: "file", Format: "csv", Path: path, BatchSize: 5, Interval: 20 * time.Millisecond, MaxFileBytes: 8192})
	offer(r.job, 0, 60)
	eventually(t, "rotation", func() bool { _, err := os.Stat(path + ".1"); return err == nil })
	eventually(t, "60 written", func() bool { return r.metric("botwarden_export_records_sent_total") == 60 })
	r.stop()
	for _, p := range []string{path, path + ".1"} {
		f, _ := os.Open(p)
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil || len(rows) < 2 || rows[0][0] != "EdgeStartTimestamp" || len(rows[0]) != len(analytics.RecordSchema.Fields) {
			t.Fatalf("%s: %v, header %v", p, err, rows[:1])
		}
	}
}

// Sampling keeps the same requests in every job with the same rate,
// about 1 in N of them, each standing for N; the filter keeps exactly the
// records its policy expression matches.
func TestSampleAndFilter(t *testing.T) {
	var ids [2][]string
	var intervals []float64
	var mu sync.Mutex
	for k := range 2 {
		rc := newReceiver(t, func(_ *http.Request, body []byte) ([]string, error) {
			sc := bufio.NewScanner(bytes.NewReader(body))
			var out []string
			for sc.Scan() {
				var m map[string]any
				json.Unmarshal(sc.Bytes(), &m)
				mu.Lock()
				intervals = append(intervals, m["SampleInterval"].(float64))
				mu.Unlock()
				out = append(out, m["RayID"].(string))
			}
			return out, nil
		})
		r := start(t, logpush.Config{Name: fmt.Sprint("s", k), Type: "http", URL: rc.URL, SampleRate: 0.25, BatchSize: 100, Interval: 20 * time.Millisecond})
		offer(r.job, 0, 2000)
		eventually(t, "all seen", func() bool {
			return r.metric("botwarden_export_records_sent_total")+r.metric("botwarden_export_records_skipped_total", "reason", "sampled") == 2000
		})
		r.stop()
		ids[k] = rc.got()
	}
	sameOrder(t, ids[1], ids[0])
	if n := len(ids[0]); n < 400 || n > 600 {
		t.Fatalf("kept %d of 2000 at 1/4", n)
	}
	for _, iv := range intervals {
		if iv != 4 {
			t.Fatalf("SampleInterval %v, want 4", iv)
		}
	}

	rc := newReceiver(t, func(_ *http.Request, body []byte) ([]string, error) { return ndjsonIDs(body) })
	r := start(t, logpush.Config{Name: "f", Type: "http", URL: rc.URL, Filter: `bot.score < 30 && http.path.startsWith("/p/1")`, BatchSize: 100, Interval: 20 * time.Millisecond})
	offer(r.job, 0, 300)
	var want []string
	for i := range 300 {
		if x := rec(i); x.BotScore < 30 && strings.HasPrefix(x.Path, "/p/1") {
			want = append(want, x.Ref)
		}
	}
	eventually(t, "filtered", func() bool {
		return r.metric("botwarden_export_records_sent_total")+r.metric("botwarden_export_records_skipped_total", "reason", "filtered") == 300
	})
	r.stop()
	sameOrder(t, rc.got(), want)
}

// The on-disk buffer: while the receiver is down batches go to disk; the
// job is stopped and started again (a restart) with the receiver still
// down; when it comes back every record arrives, in order, exactly once.
func TestBufferSurvivesOutageAndRestart(t *testing.T) {
	dir := t.TempDir()
	rc := newReceiver(t, func(_ *http.Request, body []byte) ([]string, error) { return ndjsonIDs(body) })
	rc.status.Store(503)
	cfg := logpush.Config{Name: "buf", Type: "http", URL: rc.URL, BatchSize: 10, Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond,
		Buffer: logpush.BufferConfig{Dir: dir, MaxBytes: 64 << 20}}
	r := start(t, cfg)
	want := offer(r.job, 0, 150)
	eventually(t, "buffered on disk", func() bool {
		return r.metric("botwarden_export_records_buffered") == 150 && r.metric("botwarden_export_buffer_bytes") > 0
	})
	r.stop()
	if files, _ := filepath.Glob(filepath.Join(dir, "*.batch")); len(files) != 15 {
		t.Fatalf("%d batch files after the stop, want 15", len(files))
	}

	r = start(t, cfg)
	want = append(want, offer(r.job, 150, 200)...)
	time.Sleep(100 * time.Millisecond)
	rc.status.Store(0)
	eventually(t, "200 delivered", func() bool { return len(rc.got()) >= 200 })
	eventually(t, "buffer empty", func() bool { return r.metric("botwarden_export_buffer_bytes") == 0 })
	r.stop()
	got := rc.got()
	sameOrder(t, got, want) // exactly once: same length, same order
	if n := r.metric("botwarden_export_records_dropped_total"); n != 0 {
		t.Fatalf("dropped %v", n)
	}
}

// Beyond buffer.max_bytes batches are dropped and counted.
func TestBufferFullDrops(t *testing.T) {
	rc := newReceiver(t, func(_ *http.Request, body []byte) ([]string, error) { return ndjsonIDs(body) })
	rc.status.Store(500)
	r := start(t, logpush.Config{Name: "full", Type: "http", URL: rc.URL, BatchSize: 50, Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond,
		Buffer: logpush.BufferConfig{Dir: t.TempDir(), MaxBytes: 1 << 20}})
	offer(r.job, 0, 5000) // about 3 MB encoded
	eventually(t, "drops", func() bool { return r.metric("botwarden_export_records_dropped_total", "reason", "buffer_full") > 0 })
	if b := r.metric("botwarden_export_buffer_bytes"); b > 1<<20 {
		t.Fatalf("buffer holds %v bytes, over its 1 MiB", b)
	}
}

// A sink that hangs and one that answers 500 forever cost only their own
// job: Offer never waits, and a healthy job next to them delivers all.
func TestBrokenSinksBlockNothing(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // never answers while the test runs
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	fail := newReceiver(t, nil)
	fail.status.Store(500)
	ok := newReceiver(t, func(_ *http.Request, body []byte) ([]string, error) { return ndjsonIDs(body) })
	short := func(name, url string) logpush.Config {
		return logpush.Config{Name: name, Type: "http", URL: url, BatchSize: 10, Interval: 20 * time.Millisecond, Queue: 20, Timeout: 200 * time.Millisecond, MaxRetries: 1}
	}
	jobs := []*running{start(t, short("hang", hang.URL)), start(t, short("fail", fail.URL))}
	healthy := start(t, logpush.Config{Name: "healthy", Type: "http", URL: ok.URL, BatchSize: 100, Interval: 20 * time.Millisecond})
	start := time.Now()
	for i := range 5000 {
		for _, j := range jobs {
			j.job.Offer(rec(i))
		}
		healthy.job.Offer(rec(i))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("offering 5000 records took %s", d)
	}
	eventually(t, "healthy delivered", func() bool { return healthy.metric("botwarden_export_records_sent_total") == 5000 })
	for _, j := range jobs {
		eventually(t, "drops counted", func() bool { return j.metric("botwarden_export_records_dropped_total", "reason", "queue_full") > 0 })
	}
	eventually(t, "retries exhausted", func() bool { return jobs[1].metric("botwarden_export_records_dropped_total", "reason", "retries") > 0 })
	t0 := time.Now()
	for _, j := range append(jobs, healthy) {
		j.stop()
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("stop took %s", d)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, c := range []struct {
		cfg   logpush.Config
		field string
	}{
		{logpush.Config{Type: "http", URL: "http://x"}, "name"},
		{logpush.Config{Name: "a", Type: "kafka"}, "type"},
		{logpush.Config{Name: "a", Type: "http", URL: "ftp://x"}, "url"},
		{logpush.Config{Name: "a", Type: "file"}, "path"},
		{logpush.Config{Name: "a", Type: "file", Path: "-", Format: "splunk_hec"}, "format"},
		{logpush.Config{Name: "a", Type: "http", URL: "http://x", Format: "splunk_hec"}, "token"},
		{logpush.Config{Name: "a", Type: "loki", URL: "http://x", Labels: map[string]string{"bad-name": "x"}}, "labels"},
		{logpush.Config{Name: "a", Type: "loki", URL: "http://x", Labels: map[string]string{"job": "x"}}, "labels"},
		{logpush.Config{Name: "a", Type: "nats", URL: "nats://127.0.0.1:4222", Subject: "a.*", Stream: "S"}, "subject"},
		{logpush.Config{Name: "a", Type: "nats", URL: "nats://127.0.0.1:4222", Subject: "a", Stream: "S.x"}, "stream"},
		{logpush.Config{Name: "a", Type: "nats", URL: "http://x", Subject: "a", Stream: "S"}, "url"},
		{logpush.Config{Name: "a", Type: "file", Path: "-", Fields: []string{"Colour"}}, "fields"},
		{logpush.Config{Name: "a", Type: "file", Path: "-", TimeFormat: "iso"}, "time_format"},
		{logpush.Config{Name: "a", Type: "file", Path: "-", SampleRate: 0.3}, "sample_rate"},
		{logpush.Config{Name: "a", Type: "file", Path: "-", SampleRate: 2}, "sample_rate"},
		{logpush.Config{Name: "a", Type: "file", Path: "-", Filter: "bot.scor > 3"}, "filter"},
		{logpush.Config{Name: "a", Type: "file", Path: "-", Filter: "bot.score"}, "filter"},
		{logpush.Config{Name: "a", Type: "file", Path: "-", Buffer: logpush.BufferConfig{Dir: "/tmp/x", MaxBytes: 10}}, "buffer.max_bytes"},
		{logpush.Config{Name: "a", Type: "file", Path: "-", Buffer: logpush.BufferConfig{MaxBytes: 10 << 20}}, "buffer.dir"},
	} {
		err := c.cfg.Validate(analytics.RecordSchema)
		if err == nil || !strings.HasPrefix(err.Error(), c.field+":") {
			t.Errorf("%+v: %v, want %s: ...", c.cfg, err, c.field)
		}
	}
	for _, ok := range []logpush.Config{
		{Name: "a", Type: "file", Path: "-", SampleRate: 0.1, Filter: `bot.score < 30 || "headless" in bot.tags`},
		{Name: "a", Type: "http", URL: "https://es:9200", Format: "elasticsearch"},
	} {
		if err := ok.Validate(analytics.RecordSchema); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	// analytics names the job in the list.
	cfg := analytics.DefaultConfig()
	cfg.Exports = []analytics.ExportConfig{{Name: "a", Type: "file", Path: "-"}, {Name: "b", Type: "file", Path: "-", Filter: "ip.src ="}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "exports[1].filter: ") {
		t.Errorf("analytics: %v, want exports[1].filter", err)
	}
}
