package accesslog

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogsvc "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/detect/reputation"
)

// drainServer only reads the stream: the baseline an ingest path is
// compared with (gRPC transport + protobuf decoding, nothing else).
type drainServer struct {
	accesslogsvc.UnimplementedAccessLogServiceServer
	entries atomic.Int64
}

func (d *drainServer) StreamAccessLogs(s accesslogsvc.AccessLogService_StreamAccessLogsServer) error {
	for {
		m, err := s.Recv()
		if err != nil {
			return nil
		}
		d.entries.Add(int64(len(m.GetHttpLogs().GetLogEntry())))
	}
}

const benchBatch = 100

// sendBatches streams n pre-encoded batches over streams concurrent streams
// (Envoy opens one per worker thread), and waits until done() reports them
// all handled.
func sendBatches(b *testing.B, conn *grpc.ClientConn, n, streams int, done func() int64) {
	first, rest := encodedBatch(benchBatch, true), encodedBatch(benchBatch, false)
	ss := make([]grpc.ClientStream, streams)
	for i := range ss {
		s, err := conn.NewStream(context.Background(), &accesslogsvc.AccessLogService_ServiceDesc.Streams[0],
			"/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", grpc.ForceCodec(rawCodec{}))
		if err != nil {
			b.Fatal(err)
		}
		ss[i] = s
	}
	base := done()
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for k, s := range ss {
		wg.Go(func() {
			for i := k; i < n; i += streams {
				m := rest
				if i < streams {
					m = first
				}
				if err := s.SendMsg(&m); err != nil {
					errs <- err
					return
				}
			}
			_ = s.CloseSend()
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	want := base + int64(n*benchBatch)
	for done() < want {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(n*benchBatch)/b.Elapsed().Seconds(), "entries/s")
	// CPU per entry (client, server and analysis together) does not depend
	// on how busy the shared machine is; 1e6 / it is entries/s per core.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n*benchBatch), "cpu-µs/entry")
}

func loopback(b *testing.B, register func(*grpc.Server)) *grpc.ClientConn {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(); srv.Stop() })
	return conn
}

// BenchmarkIngest compares, in one run, a drain-only receiver (Drain), the
// receiver converting entries into events (Convert), and the receiver
// feeding the running behavioural analysis (Analysis), on one stream and on
// eight (Envoy opens one per worker). One op is one batch of 100 entries;
// entries/s is the figure to compare.
func BenchmarkIngest(b *testing.B) {
	for _, streams := range []int{1, 8} {
		b.Run(fmt.Sprintf("streams=%d/Drain", streams), func(b *testing.B) {
			d := &drainServer{}
			conn := loopback(b, func(s *grpc.Server) { accesslogsvc.RegisterAccessLogServiceServer(s, d) })
			sendBatches(b, conn, b.N, streams, d.entries.Load)
		})
		b.Run(fmt.Sprintf("streams=%d/Convert", streams), func(b *testing.B) {
			h := serveBench(b, &collector{})
			sendBatches(b, h.conn, b.N, streams, func() int64 { return int64(h.metric("botwarden_als_entries_total", "accepted")) })
		})
		b.Run(fmt.Sprintf("streams=%d/Analysis", streams), func(b *testing.B) {
			cfg := behavior.DefaultConfig()
			eng, err := behavior.New(cfg, zerolog.Nop(), nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() { _ = eng.Run(ctx) }()
			b.Cleanup(cancel)
			h := serveBench(b, eng)
			sendBatches(b, h.conn, b.N, streams, func() int64 {
				if eng.Pending() > 0 { // the analysis must catch up: its work is part of the cost
					return 0
				}
				return int64(h.metric("botwarden_als_entries_total", "accepted") + h.metric("botwarden_als_entries_total", "dropped"))
			})
			b.ReportMetric(h.metric("botwarden_als_entries_total", "dropped")/float64(b.N*benchBatch), "dropped/entry")
		})
	}
}

func serveBench(b *testing.B, sink Sink) *harness {
	return serve(b, DefaultConfig(), []Sink{sink})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAnalysisLag streams credential stuffing from many addresses
// (each address's 5th failure crosses the threshold) through the real
// receiver and running analysis, and reports the lag from an entry being
// taken from the stream to its verdict being published: p50 and p99.
func BenchmarkAnalysisLag(b *testing.B) {
	var mu sync.Mutex
	var lags []time.Duration
	store, err := reputation.NewLocal(context.Background(), reputation.DefaultLocalConfig(), zerolog.Nop(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	eng, err := behavior.New(behavior.DefaultConfig(), zerolog.Nop(), nil, store,
		behavior.WithObserver(func(_ reputation.Verdict, lag time.Duration) {
			mu.Lock()
			lags = append(lags, lag)
			mu.Unlock()
		}))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = eng.Run(ctx) }()
	h := serveBench(b, eng)
	s, err := h.cl.StreamAccessLogs(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N { // one op: one 100-entry batch, flushed 1 ms apart
		entries := make([]*accesslogv3.HTTPAccessLogEntry, benchBatch)
		for j := range entries {
			n := i*benchBatch + j
			// 20 addresses per batch, five failures each: every batch
			// convicts 20 new addresses (and their networks).
			ip := fmt.Sprintf("10.%d.%d.%d", (n/100)%250, (n/100/250)%250, j%20)
			e := entry(ip, "/login", 401)
			e.Request.RequestMethod = corev3.RequestMethod_POST
			entries[j] = e
		}
		var id *accesslogsvc.StreamAccessLogsMessage_Identifier
		if i == 0 {
			id = identifier("lag", "l")
		}
		if err := s.Send(batch(id, entries...)); err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	want := int64(b.N * benchBatch)
	for h.metric("botwarden_als_entries_total", "accepted")+h.metric("botwarden_als_entries_total", "dropped") < float64(want) || eng.Pending() > 0 {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if len(lags) == 0 {
		b.Fatal("no verdicts")
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds()), "p50-lag-µs")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds()), "p99-lag-µs")
	b.ReportMetric(float64(len(lags))/float64(b.N), "verdicts/op")
}
