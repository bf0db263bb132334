// Command bench is botwarden's ext_authz load test: in one process it starts
// a do-nothing Authorization server, one that replays botwarden's recorded
// answers without deciding (the cost of the answers alone), and botwarden's
// Check server on 127.0.0.1, drives each over loopback gRPC at a fixed
// concurrency for a bounded time with a realistic browser/bot request mix,
// and prints throughput, p50, p99 and the ratios botwarden / do-nothing.
//
//	go run ./bench                       # defaults: about 25 s
//	go run ./bench -concurrency 16 -phase 5s -rounds 3
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/botwarden/botwarden/bench/loadtest"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/server"
)

// maxRun caps a run: the machines this runs on are shared, and load must
// never be left running.
const maxRun = 2 * time.Minute

func main() {
	cfg := loadtest.DefaultConfig()
	flag.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "requests in flight per target")
	flag.IntVar(&cfg.Conns, "conns", cfg.Conns, "gRPC connections per target")
	flag.DurationVar(&cfg.Phase, "phase", cfg.Phase, "measured time per target per round")
	flag.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds; targets alternate within each")
	flag.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured warm-up per target")
	flag.IntVar(&cfg.FirstVisitEvery, "first-visit-every", cfg.FirstVisitEvery, "one request in N from clients that keep cookies comes without botwarden's session cookie; 0: all of them")
	flag.BoolVar(&cfg.FullDecode, "full-decode", cfg.FullDecode, "decode every answer completely in the load generator, not only its status")
	flag.BoolVar(&cfg.CannedSteady, "canned-steady", cfg.CannedSteady, "record the canned server's answers after the warm-up (botwarden's answers under sustained load) instead of before it")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured run to this file")
	flag.Parse()
	if total := (cfg.Warmup + cfg.Phase*time.Duration(cfg.Rounds)) * 3; total > maxRun { // three targets
		fmt.Fprintf(os.Stderr, "bench: a run of %s is longer than the %s this harness allows on a shared machine\n", total, maxRun)
		os.Exit(2)
	}

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var srv *server.Server
	cfg.NewPipeline = func() (*detect.Pipeline, error) {
		var err error
		if srv, err = newServer(ctx); err != nil {
			return nil, err
		}
		return srv.Pipeline(), nil
	}
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return
	}
	rep.Write(os.Stdout)
	writeAnalytics(os.Stdout, srv.Registry())
}

// writeAnalytics prints what became of the decisions botwarden's analytics
// writer was offered during the run (stored, sampled, dropped...): the
// writer runs as under serve, and a run where it dropped most decisions
// measured less work than serve does.
func writeAnalytics(w io.Writer, g prometheus.Gatherer) {
	mfs, err := g.Gather()
	if err != nil {
		fmt.Fprintln(w, "analytics: metrics:", err)
		return
	}
	var parts []string
	for _, mf := range mfs {
		switch mf.GetName() {
		case "botwarden_analytics_records_total":
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" {
						parts = append(parts, fmt.Sprintf("%s %.0f", l.GetValue(), m.GetCounter().GetValue()))
					}
				}
			}
		case "botwarden_analytics_sample_interval":
			for _, m := range mf.GetMetric() {
				parts = append(parts, fmt.Sprintf("sample interval at the end 1 in %.0f", m.GetGauge().GetValue()))
			}
		}
	}
	fmt.Fprintf(w, "analytics writer (running as under serve), decisions offered: %s\n", strings.Join(parts, ", "))
}
