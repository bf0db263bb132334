package logpush_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/botwarden/botwarden/analytics/logpush"
	"github.com/botwarden/botwarden/internal/natstest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExport pushes b.N records through one job per sink to a
// receiver on loopback (in this process, so cpu-s counts both ends) and
// reports records/s and records per CPU-second. "file-devnull" is the
// baseline: sampling, encoding and batching with a sink that costs
// nothing.
func BenchmarkExport(b *testing.B) {
	discard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/_bulk" {
			w.Write([]byte(`{"errors":false,"items":[]}`))
		}
		_ = n
	}))
	defer discard.Close()
	nats := natstest.Start(b)
	for _, c := range []struct {
		name string
		cfg  logpush.Config
	}{
		{"file-devnull", logpush.Config{Type: "file", Path: "/dev/null"}},
		{"file", logpush.Config{Type: "file", Path: filepath.Join(b.TempDir(), "bots.ndjson"), MaxFileBytes: 64 << 20}},
		{"file-csv", logpush.Config{Type: "file", Format: "csv", Path: filepath.Join(b.TempDir(), "bots.csv"), MaxFileBytes: 64 << 20}},
		{"http-ndjson", logpush.Config{Type: "http", URL: discard.URL}},
		{"http-ndjson-gzip", logpush.Config{Type: "http", URL: discard.URL, Gzip: true}},
		{"splunk_hec", logpush.Config{Type: "http", Format: "splunk_hec", Token: "t", URL: discard.URL}},
		{"elasticsearch", logpush.Config{Type: "http", Format: "elasticsearch", URL: discard.URL}},
		{"loki", logpush.Config{Type: "loki", URL: discard.URL}},
		{"nats", logpush.Config{Type: "nats", URL: nats.URL, Subject: "bench.requests", Stream: "BENCH", CreateStream: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := c.cfg
			cfg.Name, cfg.BatchSize, cfg.Interval, cfg.Queue = c.name, 500, 50*time.Millisecond, 20000
			r := start(b, cfg)
			b.ResetTimer()
			t0, c0 := time.Now(), cpuTime()
			for i := 0; i < b.N; i++ {
				r.job.Offer(rec(i))
				if i%2000 == 1999 { // keep under the queue: a benchmark must not drop
					for float64(i)-r.metric("botwarden_export_records_sent_total") > 15000 {
						time.Sleep(time.Millisecond)
					}
				}
			}
			for r.metric("botwarden_export_records_sent_total") < float64(b.N) {
				time.Sleep(time.Millisecond)
			}
			wall, cpu := time.Since(t0), cpuTime()-c0
			b.StopTimer()
			r.stop()
			if d := r.metric("botwarden_export_records_dropped_total"); d > 0 {
				b.Fatalf("dropped %v", d)
			}
			b.ReportMetric(float64(b.N)/wall.Seconds(), "records/s")
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "records/cpu-s")
		})
	}
}
