package analytics

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// startExport runs a service whose ingester feeds one export job.
func startExport(t *testing.T, ec ExportConfig) (*Service, *prometheus.Registry, func()) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Ingest = testIngest()
	cfg.Ingest.JoinWindow = 0
	cfg.Exports = []ExportConfig{ec}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	svc, err := Open(cfg, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done; svc.Close() }
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			stop()
		}
	})
	return svc, reg, stop
}

func decide(svc *Service, n int) {
	for i := range n {
		r, v := request("exp-" + time.Duration(i).String())
		svc.In.Finish(context.Background(), r, v)
	}
}

func TestExportHTTPDeliversEveryRecord(t *testing.T) {
	var mu sync.Mutex
	var lines []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			rd = zr
		}
		sc := bufio.NewScanner(rd)
		mu.Lock()
		defer mu.Unlock()
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			lines = append(lines, m)
		}
	}))
	defer srv.Close()
	svc, reg, stop := startExport(t, ExportConfig{Name: "siem", Type: "http", URL: srv.URL, Gzip: true, BatchSize: 7, Interval: 20 * time.Millisecond,
		Fields: []string{"RayID", "BotScore", "EdgeStartTimestamp", "ClientRequestUserAgent"}, TimeFormat: "unix"})
	decide(svc, 50)
	eventually(t, "50 exported", func() bool { mu.Lock(); defer mu.Unlock(); return len(lines) == 50 })
	stop()
	mu.Lock()
	defer mu.Unlock()
	if l := lines[0]; len(l) != 4 || l["BotScore"] != float64(1) || l["ClientRequestUserAgent"] != "curl/8.5.0" {
		t.Fatalf("line %v", l)
	}
	if _, ok := lines[0]["EdgeStartTimestamp"].(float64); !ok {
		t.Fatalf("unix time: %v", lines[0]["EdgeStartTimestamp"])
	}
	if n := testutil.ToFloat64(mustCounter(t, reg, "botwarden_export_records_sent_total")); n != 50 {
		t.Fatalf("sent %v", n)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			g.Set(sum)
			return g
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// A sink that answers 500 forever, or hangs: records are retried, then
// counted as dropped; the hot path and the store never wait.
func TestExportBrokenSinksDropAndNeverBlock(t *testing.T) {
	var hits atomic.Int64
	for name, h := range map[string]http.HandlerFunc{
		"500": func(w http.ResponseWriter, r *http.Request) { hits.Add(1); w.WriteHeader(500) },
		"hang": func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			// Far past the exporter's timeout; bounded so the test server
			// can close.
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close) // after the service's cleanup stops the exporter
			svc, reg, stop := startExport(t, ExportConfig{Name: "broken", Type: "http", URL: srv.URL, BatchSize: 10, Interval: 20 * time.Millisecond,
				Queue: 20, Timeout: 200 * time.Millisecond, MaxRetries: 2})
			start := time.Now()
			decide(svc, 500)
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("500 decisions took %s with a broken sink", d)
			}
			eventually(t, "drops", func() bool {
				return testutil.ToFloat64(mustCounter(t, reg, "botwarden_export_records_dropped_total")) >= 400
			})
			eventually(t, "all stored", func() bool { st, _ := svc.Store.Stats(context.Background()); return st.Records == 500 })
			eventually(t, "retries", func() bool {
				return testutil.ToFloat64(mustCounter(t, reg, "botwarden_export_retries_total")) > 0
			})
			t0 := time.Now()
			stop()
			if d := time.Since(t0); d > 5*time.Second {
				t.Fatalf("stop took %s", d)
			}
		})
	}
}

func TestExportFileRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bots.ndjson")
	svc, _, stop := startExport(t, ExportConfig{Name: "file", Type: "file", Path: path, BatchSize: 5, Interval: 20 * time.Millisecond, MaxFileBytes: 4096})
	decide(svc, 40)
	eventually(t, "rotation", func() bool { _, err := os.Stat(path + ".1"); return err == nil })
	stop()
	n := 0
	for _, p := range []string{path, path + ".1"} {
		b, _ := os.ReadFile(p)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r Record
			if err := json.Unmarshal([]byte(line), &r); err != nil || r.BotScore != 1 {
				t.Fatalf("%s: line %q: %v", p, line, err)
			}
			n++
		}
	}
	if n == 0 || n > 40 {
		t.Fatalf("%d lines in the two newest files", n)
	}
}

func TestExportConfigErrorsNameTheField(t *testing.T) {
	for _, c := range []struct {
		ec    ExportConfig
		field string
	}{
		{ExportConfig{Type: "http", URL: "http://x"}, "name"},
		{ExportConfig{Name: "a", Type: "kafka"}, "type"},
		{ExportConfig{Name: "a", Type: "http", URL: "ftp://x"}, "url"},
		{ExportConfig{Name: "a", Type: "file"}, "path"},
		{ExportConfig{Name: "a", Type: "file", Path: "-", Fields: []string{"Colour"}}, "fields"},
		{ExportConfig{Name: "a", Type: "file", Path: "-", TimeFormat: "iso"}, "time_format"},
	} {
		cfg := DefaultConfig()
		cfg.Exports = []ExportConfig{c.ec}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "exports[0]."+c.field) {
			t.Errorf("%+v: %v, want exports[0].%s", c.ec, err, c.field)
		}
	}
}
