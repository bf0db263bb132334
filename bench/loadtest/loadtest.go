// Package loadtest drives ext_authz Check over loopback gRPC at a fixed
// concurrency against a do-nothing Authorization server and botwarden's, in
// one process and one run, and compares throughput and latency. The
// pipeline under test is built by a function the caller passes, so the same
// harness measures whatever the server would run.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/rs/zerolog"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/extauthz"
)

// Config bounds a run. The zero value is not useful; start from
// DefaultConfig.
type Config struct {
	// Concurrency is the number of requests in flight per target.
	Concurrency int
	// Conns is the number of gRPC connections the load is spread over
	// (Envoy keeps about one per worker thread).
	Conns int
	// Phase is how long one target is driven in one round; Rounds
	// alternate the targets so drift on a shared machine hits both.
	Phase  time.Duration
	Rounds int
	// Warmup runs each target once, unmeasured, before the rounds.
	Warmup time.Duration
	// NewPipeline builds the pipeline botwarden's server runs.
	NewPipeline func() (*detect.Pipeline, error)
	// Visits is the traffic; nil means Mix().
	Visits []Visit
	// FirstVisitEvery: clients that keep cookies send botwarden's session
	// cookie back on every request but one in FirstVisitEvery (see
	// Returning); 0 or less makes every request a first visit.
	FirstVisitEvery int
	// Requests is what was sent: Visits after Returning. Run fills it.
	Requests []*authv3.CheckRequest
	// FullDecode makes the load generator decode every answer completely
	// instead of only its status (see answer).
	FullDecode bool
	// CannedSteady records the canned server's answers after the warm-up
	// instead of before it: botwarden's answers once its engines have
	// watched the sustained load (most of them denials: the ML engine's
	// page-pace features take the mix's clients, each asking hundreds of
	// times a second, for crawlers), so the canned server costs what the
	// same answers cost and botwarden / canned is the cost of deciding.
	CannedSteady bool
	// Options for the botwarden server (Config, Responder); the logger
	// and registry are the caller's business.
	Options extauthz.Options

	// fresh is Requests in the form the load generator sends them, each
	// send with its own x-request-id (see Fresh). Run fills it.
	fresh []*Fresh
}

// DefaultConfig: 32 in flight (the load the targets are set for) over 2
// connections, 18 rounds of 0.4 s per target after 0.5 s of warm-up each.
// Short, many alternating rounds expose every target to the same drift of
// a shared machine, so the ratios of repeated runs agree far better than
// with a few long rounds (BENCHMARKS.md).
func DefaultConfig() Config {
	return Config{Concurrency: 32, Conns: 2, FirstVisitEvery: 10, Phase: 400 * time.Millisecond, Rounds: 18, Warmup: 500 * time.Millisecond,
		Options: extauthz.Options{Config: extauthz.DefaultConfig(), Logger: zerolog.Nop()}}
}

// Result is one target's measurements over all rounds.
type Result struct {
	Name     string
	Requests int
	Errors   int
	Allowed  int
	Denied   int
	Elapsed  time.Duration
	P50, P99 time.Duration
	// PerRound is the throughput of each round, in order.
	PerRound []float64
}

// Throughput is requests per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Report compares botwarden with the do-nothing baseline.
type Report struct {
	Config    Config
	Baseline  Result
	Botwarden Result
	// Canned is a do-nothing server that sends, for each request, the answer
	// botwarden gave it before the run: the cost of botwarden's answers on
	// the wire (headers, cookie, metadata, block pages) without deciding.
	Canned Result
}

// Targets for the ratios against the do-nothing server.
const (
	TargetThroughput = 0.9 // botwarden's throughput at least this share of the baseline's
	TargetP99        = 1.2 // botwarden's p99 at most this multiple of the baseline's
)

// ThroughputRatio is botwarden's throughput over the baseline's (target:
// TargetThroughput).
func (r Report) ThroughputRatio() float64 {
	return ratio(r.Botwarden.Throughput(), r.Baseline.Throughput())
}

// P50Ratio is botwarden's median latency over the baseline's.
func (r Report) P50Ratio() float64 { return ratio(float64(r.Botwarden.P50), float64(r.Baseline.P50)) }

// P99Ratio is botwarden's p99 over the baseline's (target: TargetP99).
func (r Report) P99Ratio() float64 { return ratio(float64(r.Botwarden.P99), float64(r.Baseline.P99)) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Write prints the report as a table.
func (r Report) Write(w io.Writer) {
	c := r.Config
	decoding := "status only"
	if c.FullDecode {
		decoding = "full (protobuf-go)"
	}
	visits := "every request a first visit (no session cookie)"
	if c.FirstVisitEvery > 0 {
		visits = fmt.Sprintf("clients that keep cookies return the session cookie on %d of %d requests", c.FirstVisitEvery-1, c.FirstVisitEvery)
	}
	fmt.Fprintf(w, "ext_authz Check over loopback gRPC: %d in flight over %d connections, %d round(s) x %s per target, %d distinct requests;\n%s; the client decodes answers: %s\n",
		c.Concurrency, c.Conns, c.Rounds, c.Phase, len(c.Requests), visits, decoding)
	if c.CannedSteady {
		fmt.Fprintln(w, "canned answers recorded after the warm-up: botwarden's answers under the sustained load")
	}
	fmt.Fprintf(w, "%-10s %9s %7s %10s %10s %10s %8s %8s\n", "target", "requests", "errors", "req/s", "p50", "p99", "allowed", "denied")
	for _, res := range []Result{r.Baseline, r.Canned, r.Botwarden} {
		fmt.Fprintf(w, "%-10s %9d %7d %10.0f %10s %10s %8d %8d\n", res.Name, res.Requests, res.Errors, res.Throughput(),
			res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), res.Allowed, res.Denied)
	}
	fmt.Fprintf(w, "botwarden / do-nothing: throughput %.2fx (target >= %.2fx: %s), p50 %.2fx, p99 %.2fx (target <= %.2fx: %s)\n",
		r.ThroughputRatio(), TargetThroughput, verdict(r.ThroughputRatio() >= TargetThroughput),
		r.P50Ratio(), r.P99Ratio(), TargetP99, verdict(r.P99Ratio() <= TargetP99))
	var rounds []float64
	for i, bw := range r.Botwarden.PerRound {
		if i < len(r.Baseline.PerRound) {
			rounds = append(rounds, ratio(bw, r.Baseline.PerRound[i]))
		}
	}
	if len(rounds) > 0 {
		slices.Sort(rounds)
		fmt.Fprintf(w, "throughput ratio of single rounds: min %.2f, median %.2f, max %.2f (%d rounds; the machine's noise)\n",
			rounds[0], rounds[len(rounds)/2], rounds[len(rounds)-1], len(rounds))
	}
	fmt.Fprintf(w, "answers alone (canned / do-nothing): throughput %.2fx; deciding (botwarden / canned): throughput %.2fx\n",
		ratio(r.Canned.Throughput(), r.Baseline.Throughput()), ratio(r.Botwarden.Throughput(), r.Canned.Throughput()))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// Noop is the do-nothing Authorization server: OK without looking. It is
// the baseline every figure is compared with.
type Noop struct {
	authv3.UnimplementedAuthorizationServer
}

var okResponse = &authv3.CheckResponse{Status: &rpcstatus.Status{}}

func (Noop) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return okResponse, nil
}

// Canned answers each request with a response recorded from botwarden
// before the run, keyed by the request's stream id, without deciding
// anything; requests it has no answer for get the plain OK.
type Canned struct {
	authv3.UnimplementedAuthorizationServer
	byID map[string]*authv3.CheckResponse
}

// Record asks srv once for every request and keeps the answers.
func Record(ctx context.Context, srv authv3.AuthorizationServer, reqs []*authv3.CheckRequest) (*Canned, error) {
	c := &Canned{}
	if err := c.record(ctx, srv, reqs); err != nil {
		return nil, err
	}
	return c, nil
}

// record replaces c's answers with srv's current ones. c must not be
// serving meanwhile.
func (c *Canned) record(ctx context.Context, srv authv3.AuthorizationServer, reqs []*authv3.CheckRequest) error {
	byID := make(map[string]*authv3.CheckResponse, len(reqs))
	for _, r := range reqs {
		resp, err := srv.Check(ctx, r)
		if err != nil {
			return fmt.Errorf("loadtest: record answer: %w", err)
		}
		wireForm, err := asSent(resp)
		if err != nil {
			return err
		}
		byID[r.GetAttributes().GetRequest().GetHttp().GetId()] = wireForm
	}
	c.byID = byID
	return nil
}

// asSent is resp in the form botwarden's gRPC handler sends it: the dynamic
// metadata as encoded bytes, not a Struct to marshal (in-process Check
// returns the typed field). Same bytes on the wire, same marshalling work.
func asSent(resp *authv3.CheckResponse) (*authv3.CheckResponse, error) {
	md := resp.GetDynamicMetadata()
	if md == nil {
		return resp, nil
	}
	b, err := proto.Marshal(&authv3.CheckResponse{DynamicMetadata: md})
	if err != nil {
		return nil, fmt.Errorf("loadtest: record answer: %w", err)
	}
	out := proto.Clone(resp).(*authv3.CheckResponse)
	out.DynamicMetadata = nil
	out.ProtoReflect().SetUnknown(b)
	return out, nil
}

func (c *Canned) Check(_ context.Context, r *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	if resp, ok := c.byID[r.GetAttributes().GetRequest().GetHttp().GetId()]; ok {
		return resp, nil
	}
	return okResponse, nil
}

// Run starts the servers on 127.0.0.1, drives them, stops them and
// reports. It returns early with what it has if ctx ends.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Concurrency < 1 || cfg.Conns < 1 || cfg.Rounds < 1 || cfg.Phase <= 0 {
		return Report{}, errors.New("loadtest: concurrency, conns, rounds and phase must be positive")
	}
	if cfg.NewPipeline == nil {
		return Report{}, errors.New("loadtest: NewPipeline is required")
	}
	if cfg.Visits == nil {
		cfg.Visits = Mix()
	}
	p, err := cfg.NewPipeline()
	if err != nil {
		return Report{}, fmt.Errorf("loadtest: build pipeline: %w", err)
	}
	bw, err := extauthz.New(p, cfg.Options)
	if err != nil {
		return Report{}, fmt.Errorf("loadtest: %w", err)
	}
	if cfg.Requests, err = Returning(ctx, bw, cfg.Visits, cfg.FirstVisitEvery); err != nil {
		return Report{}, err
	}
	canned, err := Record(ctx, bw, cfg.Requests)
	if err != nil {
		return Report{}, err
	}
	for _, r := range cfg.Requests {
		f, err := NewFresh(r)
		if err != nil {
			return Report{}, err
		}
		cfg.fresh = append(cfg.fresh, f)
	}
	targets := []*target{{name: "do-nothing", srv: Noop{}}, {name: "canned", srv: canned}, {name: "botwarden", srv: bw}}
	for _, t := range targets {
		var err error
		// Goroutines inherit profiler labels: the target's server and
		// connections are started under its name, so a CPU profile of the
		// run (bench -cpuprofile) splits by target and side.
		pprof.Do(ctx, pprof.Labels("target", t.name, "side", "server"), func(context.Context) { err = t.start(cfg.Conns) })
		if err != nil {
			for _, t := range targets {
				t.stop()
			}
			return Report{}, err
		}
		defer t.stop()
	}

	for _, t := range targets {
		var err error
		// The first RPCs connect: the client transport's goroutines are
		// the client side's.
		pprof.Do(ctx, pprof.Labels("target", t.name, "side", "client"), func(ctx context.Context) { err = t.verify(ctx, cfg.Requests) })
		if err != nil {
			return Report{}, err
		}
	}
	for _, t := range targets {
		if cfg.Warmup > 0 {
			t.drive(ctx, cfg, cfg.Warmup, false)
		}
	}
	if cfg.CannedSteady {
		if err := canned.record(ctx, bw, cfg.Requests); err != nil {
			return Report{}, err
		}
		ct := targets[1]
		pprof.Do(ctx, pprof.Labels("target", ct.name, "side", "client"), func(ctx context.Context) { err = ct.verify(ctx, cfg.Requests) })
		if err != nil {
			return Report{}, err
		}
	}
	for range cfg.Rounds {
		for _, t := range targets {
			t.drive(ctx, cfg, cfg.Phase, true)
		}
	}
	return Report{Config: cfg, Baseline: targets[0].result(), Canned: targets[1].result(), Botwarden: targets[2].result()}, ctx.Err()
}

// target is one gRPC server under load and what was measured against it.
type target struct {
	name  string
	srv   authv3.AuthorizationServer
	grpc  *grpc.Server
	conns []*grpc.ClientConn

	lat                            []time.Duration
	requests, errs, allowed, denis int
	elapsed                        time.Duration
	perRound                       []float64
}

func (t *target) start(conns int) error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("loadtest: listen: %w", err)
	}
	// Every target is served the way botwarden serves (its codec), so
	// the baseline differs from botwarden only in what the handler does.
	t.grpc = grpc.NewServer(extauthz.ServerOption())
	if r, ok := t.srv.(interface{ Register(grpc.ServiceRegistrar) }); ok {
		r.Register(t.grpc) // botwarden registers itself, as `botwarden serve` does
	} else {
		authv3.RegisterAuthorizationServer(t.grpc, t.srv)
	}
	go t.grpc.Serve(lis)
	for range conns {
		c, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(newClientCodec())))
		if err != nil {
			return fmt.Errorf("loadtest: dial %s: %w", t.name, err)
		}
		t.conns = append(t.conns, c)
	}
	return nil
}

// verify asks the target once for every request, decoding each answer
// completely and status-only, and fails if the two readings disagree: the
// status-only decoder the measurements use must read what protobuf-go does.
func (t *target) verify(ctx context.Context, reqs []*authv3.CheckRequest) error {
	client := authv3.NewAuthorizationClient(t.conns[0])
	for _, req := range reqs {
		full, err := client.Check(ctx, req)
		if err != nil {
			return fmt.Errorf("loadtest: verify %s: %w", t.name, err)
		}
		var light answer
		if err := t.conns[0].Invoke(ctx, authv3.Authorization_Check_FullMethodName, req, &light); err != nil {
			return fmt.Errorf("loadtest: verify %s: %w", t.name, err)
		}
		want := fromResponse(full)
		if light.code != want.code || light.ok != want.ok || light.denied != want.denied {
			return fmt.Errorf("loadtest: verify %s: status-only decoding read %+v, full decoding %+v", t.name, light, want)
		}
	}
	return nil
}

func (t *target) stop() {
	for _, c := range t.conns {
		c.Close()
	}
	if t.grpc != nil {
		t.grpc.Stop()
	}
}

// drive keeps cfg.Concurrency Checks in flight for d and, if record, adds
// the outcome to the target's totals.
//
// The phase only stops new Checks; the ones in flight run to completion on
// the parent context, so the end of a phase is not counted as failures and
// the elapsed time covers every request counted.
func (t *target) drive(ctx context.Context, cfg Config, d time.Duration, record bool) {
	phase, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type tally struct {
		lat                      []time.Duration
		n, errs, allowed, denied int
	}
	tallies := make([]tally, cfg.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range cfg.Concurrency {
		wg.Go(func() {
			pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("target", t.name, "side", "client")))
			tl := &tallies[w]
			tl.lat = make([]time.Duration, 0, 4096)
			conn := t.conns[w%len(t.conns)]
			for i := w; phase.Err() == nil; i += cfg.Concurrency {
				req := freshCall{cfg.fresh[i%len(cfg.fresh)]}
				var a answer
				t0 := time.Now()
				var err error
				if cfg.FullDecode {
					resp := new(authv3.CheckResponse)
					if err = conn.Invoke(ctx, authv3.Authorization_Check_FullMethodName, req, resp); err == nil {
						a = fromResponse(resp)
					}
				} else {
					err = conn.Invoke(ctx, authv3.Authorization_Check_FullMethodName, req, &a)
				}
				el := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						break // the run was interrupted
					}
					tl.errs++
					continue
				}
				tl.lat = append(tl.lat, el)
				tl.n++
				if a.code == 0 {
					tl.allowed++
				} else {
					tl.denied++
				}
			}
		})
	}
	wg.Wait()
	if !record {
		return
	}
	el := time.Since(start)
	t.elapsed += el
	n := 0
	for _, tl := range tallies {
		n += tl.n
	}
	t.perRound = append(t.perRound, float64(n)/el.Seconds())
	for _, tl := range tallies {
		t.lat = append(t.lat, tl.lat...)
		t.requests += tl.n
		t.errs += tl.errs
		t.allowed += tl.allowed
		t.denis += tl.denied
	}
}

func (t *target) result() Result {
	slices.Sort(t.lat)
	return Result{
		Name: t.name, Requests: t.requests, Errors: t.errs, Allowed: t.allowed, Denied: t.denis,
		Elapsed: t.elapsed, P50: percentile(t.lat, 0.50), P99: percentile(t.lat, 0.99), PerRound: t.perRound,
	}
}

// percentile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
