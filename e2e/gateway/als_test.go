package gateway_test

import (
	"net"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botwarden/botwarden/accesslog"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/e2e/gateway"
)

type events struct {
	mu  sync.Mutex
	evs []*detect.Event
}

func (e *events) Offer(ev *detect.Event) bool {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
	return true
}

func (e *events) wait(t *testing.T, n int) []*detect.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		e.mu.Lock()
		got := append([]*detect.Event(nil), e.evs...)
		e.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events arrived, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receiver serves botwarden's ALS receiver on addr ("127.0.0.1:0" for any).
func receiver(t *testing.T, addr string, sink accesslog.Sink) (*grpc.Server, string) {
	t.Helper()
	rcv, err := accesslog.New(accesslog.DefaultConfig(), zerolog.Nop(), nil, []accesslog.Sink{sink})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	rcv.Register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return srv, lis.Addr().String()
}

func logEntry(path string) *accesslogv3.HTTPAccessLogEntry {
	return &accesslogv3.HTTPAccessLogEntry{
		CommonProperties: &accesslogv3.AccessLogCommon{StartTime: timestamppb.Now()},
		Request:          &accesslogv3.HTTPRequestProperties{Path: path},
	}
}

// TestALSStreamer: batches flushed on the interval, the identifier on the
// first message of each stream (also after the receiver restarts), entries
// written to a dead stream lost, as Envoy's logger does.
func TestALSStreamer(t *testing.T) {
	sink := &events{}
	srv, addr := receiver(t, "127.0.0.1:0", sink)
	s, err := gateway.NewALSStreamer(gateway.ALSConfig{LogName: "botwarden", Node: &corev3.Node{Id: "gw-1"},
		Address: addr, FlushInterval: 100 * time.Millisecond, BufferSizeBytes: 16384})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a", "/b", "/c"} {
		s.Log(logEntry(p))
	}
	got := sink.wait(t, 3)
	for _, ev := range got {
		if ev.Node != "gw-1" || ev.LogName != "botwarden" {
			t.Fatalf("event %s from node %q log %q", ev.Path, ev.Node, ev.LogName)
		}
	}
	if f := s.Flushes(); len(f) != 1 || f[0].Entries != 3 {
		t.Errorf("flushes %+v, want one batch of 3", f)
	}

	// The receiver restarts on the same address: the next flushes fail
	// until a new stream is opened, which carries the identifier again.
	srv.Stop()
	_, _ = receiver(t, addr, sink)
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		s.Log(logEntry("/after"))
		time.Sleep(150 * time.Millisecond)
		sink.mu.Lock()
		n := len(sink.evs)
		sink.mu.Unlock()
		if n > 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no entry arrived after the receiver restarted")
		}
	}
	got = sink.wait(t, 4)
	if ev := got[3]; ev.Node != "gw-1" {
		t.Errorf("after reconnect: node %q (identifier not resent)", ev.Node)
	}
	s.Close()
	written, dropped := s.Counts()
	t.Logf("written %d, dropped %d (lost with the dead stream)", written, dropped)
}

// TestALSStreamerBufferLimit: with nowhere to send, entries beyond the
// buffer are dropped and counted, never queued without bound.
func TestALSStreamerBufferLimit(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens: every flush fails
	s, err := gateway.NewALSStreamer(gateway.ALSConfig{LogName: "l", Address: addr, FlushInterval: time.Hour, BufferSizeBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 50 {
		s.Log(logEntry("/some/path/of/a/request"))
	}
	// A few may still sit in the buffer; the rest were dropped.
	written, dropped := s.Counts()
	if written != 0 || dropped < 40 {
		t.Errorf("written %d dropped %d, want 0 and ≥ 40", written, dropped)
	}
}
