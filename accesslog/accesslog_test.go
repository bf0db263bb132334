package accesslog

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogsvc "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/behavior"
)

// collector is a sink that keeps what it is offered.
type collector struct {
	mu     sync.Mutex
	events []*detect.Event
	n      atomic.Int64
	keep   bool
}

func (c *collector) Offer(ev *detect.Event) bool {
	c.n.Add(1)
	if c.keep {
		c.mu.Lock()
		c.events = append(c.events, ev)
		c.mu.Unlock()
	}
	return true
}

func (c *collector) snapshot() []*detect.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*detect.Event(nil), c.events...)
}

type harness struct {
	rcv  *Receiver
	reg  *prometheus.Registry
	addr string
	conn *grpc.ClientConn
	cl   accesslogsvc.AccessLogServiceClient
}

// serve starts a real gRPC server on loopback with the receiver mounted.
func serve(t testing.TB, cfg Config, sinks []Sink, opts ...Option) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	rcv, err := New(cfg, zerolog.Nop(), reg, sinks, opts...)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	rcv.Register(srv)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); srv.Stop() })
	return &harness{rcv: rcv, reg: reg, addr: lis.Addr().String(), conn: conn, cl: accesslogsvc.NewAccessLogServiceClient(conn)}
}

// metric reads a counter or gauge from the registry ("" label = no label).
func (h *harness) metric(name, label string) float64 {
	mfs, _ := h.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func (h *harness) waitMetric(t testing.TB, name, label string, want float64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for h.metric(name, label) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s} = %v, want %v", name, label, h.metric(name, label), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func identifier(node, logName string) *accesslogsvc.StreamAccessLogsMessage_Identifier {
	return &accesslogsvc.StreamAccessLogsMessage_Identifier{Node: &corev3.Node{Id: node, Cluster: "edge"}, LogName: logName}
}

func entry(ip, path string, status uint32) *accesslogv3.HTTPAccessLogEntry {
	return &accesslogv3.HTTPAccessLogEntry{
		ProtocolVersion: accesslogv3.HTTPAccessLogEntry_HTTP11,
		CommonProperties: &accesslogv3.AccessLogCommon{
			DownstreamRemoteAddress: sock(ip), StartTime: timestamppb.Now(),
		},
		Request:  &accesslogv3.HTTPRequestProperties{RequestMethod: corev3.RequestMethod_GET, Authority: "shop.example", Path: path, UserAgent: "Mozilla/5.0"},
		Response: &accesslogv3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(status)},
	}
}

func batch(id *accesslogsvc.StreamAccessLogsMessage_Identifier, entries ...*accesslogv3.HTTPAccessLogEntry) *accesslogsvc.StreamAccessLogsMessage {
	return &accesslogsvc.StreamAccessLogsMessage{Identifier: id, LogEntries: &accesslogsvc.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &accesslogsvc.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries}}}
}

// finish half-closes like Envoy does on shutdown. Envoy never reads the
// reply, and the server sends none, so the client sees a status error
// after EOF: only a transport failure matters here.
func finish(t testing.TB, s accesslogsvc.AccessLogService_StreamAccessLogsClient) {
	t.Helper()
	if _, err := s.CloseAndRecv(); err != nil && status.Code(err) != codes.Internal {
		t.Fatalf("CloseAndRecv: %v", err)
	}
}

func TestEnvoyLikeStream(t *testing.T) {
	sink := &collector{keep: true}
	h := serve(t, DefaultConfig(), []Sink{sink})
	s, err := h.cl.StreamAccessLogs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Identifier on the first message only, then batches, as Envoy does.
	msgs := []*accesslogsvc.StreamAccessLogsMessage{
		batch(identifier("envoy-a", "botwarden"), entry("192.0.2.1", "/a", 200), entry("192.0.2.2", "/b", 404)),
		batch(nil, entry("2001:db8::7", "/c", 200)),
		batch(nil, entry("192.0.2.1", "/d", 500), entry("192.0.2.1", "/e", 302)),
	}
	for _, m := range msgs {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	finish(t, s)
	h.waitMetric(t, "botwarden_als_streams_total", "eof", 1)
	evs := sink.snapshot()
	if len(evs) != 5 {
		t.Fatalf("%d events, want 5", len(evs))
	}
	for i, ev := range evs {
		if ev.Node != "envoy-a" || ev.LogName != "botwarden" {
			t.Errorf("event %d: node %q log %q", i, ev.Node, ev.LogName)
		}
	}
	if evs[2].ClientIP != netip.MustParseAddr("2001:db8::7") || evs[3].Status != 500 || evs[0].Method != "GET" {
		t.Errorf("events %+v", evs)
	}
	if h.metric("botwarden_als_entries_total", "accepted") != 5 || h.metric("botwarden_als_streams_total", "unidentified") != 0 {
		t.Error("metrics wrong")
	}
}

func TestUnidentifiedAndConcurrentStreams(t *testing.T) {
	sink := &collector{keep: true}
	h := serve(t, DefaultConfig(), []Sink{sink})
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 { // four "worker threads", interleaving
		wg.Go(func() {
			s, err := h.cl.StreamAccessLogs(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			var id *accesslogsvc.StreamAccessLogsMessage_Identifier
			if w > 0 {
				id = identifier(fmt.Sprintf("worker-%d", w), "l")
			}
			for i := range 20 {
				if err := s.Send(batch(id, entry("192.0.2.1", fmt.Sprintf("/w%d", w), 200))); err != nil {
					t.Error(err)
					return
				}
				id = nil
				_ = i
			}
			finish(t, s)
		})
	}
	wg.Wait()
	h.waitMetric(t, "botwarden_als_streams_total", "eof", 4)
	for _, ev := range sink.snapshot() {
		wantNode := "unknown"
		if ev.Path != "/w0" {
			wantNode = "worker-" + ev.Path[2:]
		}
		if ev.Node != wantNode {
			t.Fatalf("event %s has node %q, want %q", ev.Path, ev.Node, wantNode)
		}
	}
	if got := h.metric("botwarden_als_streams_total", "unidentified"); got != 1 {
		t.Errorf("unidentified streams %v, want 1", got)
	}
	if got := len(sink.snapshot()); got != 80 {
		t.Errorf("%d events, want 80", got)
	}
}

func TestBadEntriesCounted(t *testing.T) {
	sink := &collector{keep: true}
	h := serve(t, DefaultConfig(), []Sink{sink})
	s, err := h.cl.StreamAccessLogs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	absurd := entry("192.0.2.1", "/x", 7)
	absurd.CommonProperties.StartTime = timestamppb.New(time.Unix(1, 0))
	intermediate := entry("192.0.2.1", "/y", 200)
	intermediate.CommonProperties.AccessLogType = accesslogv3.AccessLogType_DownstreamPeriodic
	msgs := []*accesslogsvc.StreamAccessLogsMessage{
		batch(identifier("n", "l"), absurd, &accesslogv3.HTTPAccessLogEntry{}, intermediate, entry("not-an-ip", "/z", 200)),
		{LogEntries: &accesslogsvc.StreamAccessLogsMessage_TcpLogs{TcpLogs: &accesslogsvc.StreamAccessLogsMessage_TCPAccessLogEntries{
			LogEntry: []*accesslogv3.TCPAccessLogEntry{{}}}}},
		{}, // no entries at all
	}
	for _, m := range msgs {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	finish(t, s)
	h.waitMetric(t, "botwarden_als_streams_total", "eof", 1)
	for _, c := range []struct {
		name, label string
		want        float64
	}{
		{"botwarden_als_entries_total", "accepted", 2},
		{"botwarden_als_entries_total", "rejected", 1},
		{"botwarden_als_entries_total", "skipped", 1},
		{"botwarden_als_invalid_fields_total", "status", 1},
		{"botwarden_als_invalid_fields_total", "start_time", 1},
		{"botwarden_als_invalid_fields_total", "client_ip", 1},
		{"botwarden_als_messages_total", "tcp", 1},
		{"botwarden_als_messages_total", "empty", 1},
	} {
		if got := h.metric(c.name, c.label); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.label, got, c.want)
		}
	}
	if evs := sink.snapshot(); len(evs) != 2 || evs[0].Status != 0 || evs[1].ClientIP.IsValid() {
		t.Errorf("events %+v", evs)
	}
}

// rawCodec sends pre-encoded bytes, so tests can put on the wire what a
// protobuf encoder would refuse (invalid UTF-8) and benchmarks can skip
// client-side encoding.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	return proto.Marshal(v.(proto.Message))
}
func (rawCodec) Unmarshal(b []byte, v any) error { return proto.Unmarshal(b, v.(proto.Message)) }
func (rawCodec) Name() string                    { return "proto" }

func rawStream(t testing.TB, h *harness, ctx context.Context) grpc.ClientStream {
	t.Helper()
	s, err := h.conn.NewStream(ctx, &accesslogsvc.AccessLogService_ServiceDesc.Streams[0],
		"/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestUndecodableMessage: invalid UTF-8 in a proto3 string fails decoding;
// gRPC fails that stream (Envoy then opens a new one), the receiver counts
// it and keeps serving.
func TestUndecodableMessage(t *testing.T) {
	sink := &collector{keep: true}
	h := serve(t, DefaultConfig(), []Sink{sink})
	m := batch(identifier("n", "l"), entry("192.0.2.1", "/ok", 200))
	good, _ := proto.Marshal(m)
	// The protobuf encoder refuses invalid UTF-8, so patch the bytes.
	m.GetHttpLogs().LogEntry[0].Request.Path = "/badQQQQ"
	bad, _ := proto.Marshal(m)
	bad = bytes.Replace(bad, []byte("QQQQ"), []byte("\xff\xfe\xff\xfe"), 1)
	s := rawStream(t, h, context.Background())
	for _, b := range [][]byte{good, bad, good} {
		if err := s.SendMsg(&b); err != nil {
			break // the server may fail the stream before the last send
		}
	}
	_ = s.CloseSend()
	var resp accesslogsvc.StreamAccessLogsResponse
	if err := s.RecvMsg(&resp); status.Code(err) != codes.Internal {
		t.Errorf("stream ended with %v, want Internal", err)
	}
	h.waitMetric(t, "botwarden_als_streams_total", "error", 1)

	// The receiver still serves.
	s2, _ := h.cl.StreamAccessLogs(context.Background())
	_ = s2.Send(batch(identifier("n2", "l"), entry("192.0.2.3", "/after", 200)))
	finish(t, s2)
	h.waitMetric(t, "botwarden_als_entries_total", "accepted", 2)
	if got := sink.snapshot(); got[0].Path != "/ok" || got[1].Path != "/after" {
		t.Errorf("events %v %v", got[0].Path, got[1].Path)
	}
}

// TestClientCancelsMidStream: what arrived before the cancel is kept.
func TestClientCancelsMidStream(t *testing.T) {
	sink := &collector{}
	h := serve(t, DefaultConfig(), []Sink{sink})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := h.cl.StreamAccessLogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Send(batch(identifier("n", "l"), entry("192.0.2.1", "/", 200))); err != nil {
			t.Fatal(err)
		}
	}
	h.waitMetric(t, "botwarden_als_entries_total", "accepted", 3)
	cancel()
	h.waitMetric(t, "botwarden_als_streams_total", "cancelled", 1)
	if h.rcv.ActiveStreams() != 0 {
		t.Errorf("%d streams still active", h.rcv.ActiveStreams())
	}
}

// TestTruncatedMessage speaks raw HTTP/2: the stream ends (END_STREAM)
// in the middle of a length-prefixed gRPC message.
func TestTruncatedMessage(t *testing.T) {
	sink := &collector{keep: true}
	h := serve(t, DefaultConfig(), []Sink{sink})
	good, _ := proto.Marshal(batch(identifier("raw", "l"), entry("192.0.2.1", "/whole", 200)))
	var body bytes.Buffer
	frame := func(b []byte, claimed int) {
		var hdr [5]byte
		binary.BigEndian.PutUint32(hdr[1:], uint32(claimed))
		body.Write(hdr[:])
		body.Write(b)
	}
	frame(good, len(good))
	frame(good[:len(good)/2], len(good)) // cut off mid-message
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	req, _ := http.NewRequest("POST", "http://"+h.addr+"/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", &body)
	req.Header.Set("content-type", "application/grpc")
	req.Header.Set("te", "trailers")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	code := resp.Trailer.Get("grpc-status")
	if code == "" { // a trailers-only response carries it in the headers
		code = resp.Header.Get("grpc-status")
	}
	if code != fmt.Sprint(int(codes.Internal)) {
		t.Errorf("grpc-status %q, want Internal", code)
	}
	h.waitMetric(t, "botwarden_als_streams_total", "error", 1)
	if evs := sink.snapshot(); len(evs) != 1 || evs[0].Path != "/whole" || evs[0].Node != "raw" {
		t.Errorf("events %+v", evs)
	}
}

// TestTenThousandStreams: one client opens 10,000 streams. Unlimited, the
// per-stream cost stays small; with max_streams the rest are refused.
func TestTenThousandStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 streams; skipped with -short")
	}
	const n = 10_000
	open := func(t *testing.T, h *harness) (streams []accesslogsvc.AccessLogService_StreamAccessLogsClient, cancel func()) {
		ctx, cancel := context.WithCancel(context.Background())
		streams = make([]accesslogsvc.AccessLogService_StreamAccessLogsClient, n)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < n; i += 8 {
					s, err := h.cl.StreamAccessLogs(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					_ = s.Send(batch(identifier(fmt.Sprint("n", i), "l"), entry("192.0.2.1", "/", 200)))
					streams[i] = s
				}
			})
		}
		wg.Wait()
		return streams, cancel
	}

	t.Run("unlimited", func(t *testing.T) {
		sink := &collector{}
		cfg := DefaultConfig()
		cfg.MaxStreams = 0
		h := serve(t, cfg, []Sink{sink})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		streams, cancel := open(t, h)
		h.waitMetric(t, "botwarden_als_entries_total", "accepted", n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		t.Logf("%d open streams: %d KiB heap (client and server) each, %d goroutines",
			h.rcv.ActiveStreams(), (int64(after.HeapInuse)-int64(before.HeapInuse))/n/1024, runtime.NumGoroutine())
		for _, s := range streams {
			_ = s.CloseSend()
		}
		h.waitMetric(t, "botwarden_als_streams_total", "eof", n)
		cancel()
		if h.rcv.ActiveStreams() != 0 {
			t.Errorf("%d streams active after close", h.rcv.ActiveStreams())
		}
	})
	t.Run("max_streams", func(t *testing.T) {
		sink := &collector{}
		cfg := DefaultConfig()
		cfg.MaxStreams = 1000
		h := serve(t, cfg, []Sink{sink})
		streams, cancel := open(t, h)
		defer cancel()
		h.waitMetric(t, "botwarden_als_streams_total", "refused", n-1000)
		h.waitMetric(t, "botwarden_als_entries_total", "accepted", 1000)
		refused := 0
		for _, s := range streams {
			if _, err := s.CloseAndRecv(); status.Code(err) == codes.ResourceExhausted {
				refused++
			}
		}
		if refused != n-1000 {
			t.Errorf("%d streams saw RESOURCE_EXHAUSTED, want %d", refused, n-1000)
		}
		// Once they are closed, new streams are served again.
		h.waitMetric(t, "botwarden_als_streams_total", "eof", 1000)
		s, _ := h.cl.StreamAccessLogs(context.Background())
		_ = s.Send(batch(identifier("late", "l"), entry("192.0.2.1", "/", 200)))
		finish(t, s)
		h.waitMetric(t, "botwarden_als_entries_total", "accepted", 1001)
	})
}

// encodedBatch is one pre-encoded message of n entries from varied clients.
func encodedBatch(n int, withID bool) []byte {
	entries := make([]*accesslogv3.HTTPAccessLogEntry, n)
	for i := range entries {
		e := entry(fmt.Sprintf("10.%d.%d.%d", i%7, i%251, i%253), fmt.Sprintf("/product/%d", i), 200)
		e.Request.RequestHeaders = map[string]string{"accept-language": "en-US,en;q=0.9", detect.HeaderJA4: "t13d1516h2_8daaf6152771_b186095e22b6"}
		entries[i] = e
	}
	var id *accesslogsvc.StreamAccessLogsMessage_Identifier
	if withID {
		id = identifier("bench", "l")
	}
	b, _ := proto.Marshal(batch(id, entries...))
	return b
}

// TestMillionEntries: one stream carries 1,000,000 entries; all are
// counted and the receiver keeps serving.
func TestMillionEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 1,000,000 entries; skipped with -short")
	}
	sink := &collector{}
	cfg := behavior.DefaultConfig()
	cfg.QueueSize = 1024
	eng, err := behavior.New(cfg, zerolog.Nop(), nil, nil) // never started: its queues fill and drop
	if err != nil {
		t.Fatal(err)
	}
	h := serve(t, DefaultConfig(), []Sink{sink, eng})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	first, rest := encodedBatch(1000, true), encodedBatch(1000, false)
	s := rawStream(t, h, ctx)
	start := time.Now()
	for i := range 1000 {
		b := rest
		if i == 0 {
			b = first
		}
		if err := s.SendMsg(&b); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.CloseSend()
	h.waitMetric(t, "botwarden_als_streams_total", "eof", 1)
	t.Logf("1,000,000 entries in %s", time.Since(start))
	if got := sink.n.Load(); got != 1_000_000 {
		t.Errorf("sink got %d entries", got)
	}
	acc, drop := h.metric("botwarden_als_entries_total", "accepted"), h.metric("botwarden_als_entries_total", "dropped")
	if acc+drop != 1_000_000 || drop == 0 {
		t.Errorf("accepted %v + dropped %v", acc, drop)
	}
	s2, _ := h.cl.StreamAccessLogs(context.Background())
	_ = s2.Send(batch(identifier("after", "l"), entry("192.0.2.1", "/", 200)))
	finish(t, s2)
	h.waitMetric(t, "botwarden_als_streams_total", "eof", 2)
}

func TestSessionResolver(t *testing.T) {
	sink := &collector{keep: true}
	h := serve(t, DefaultConfig(), []Sink{sink}, WithSessionResolver(func(ev *detect.Event) string {
		if c := ev.Headers.Get("cookie"); c != "" {
			return "from-cookie:" + c
		}
		return ""
	}))
	e := entry("192.0.2.1", "/", 200)
	e.Request.RequestHeaders = map[string]string{"cookie": "__bm=x"}
	s, _ := h.cl.StreamAccessLogs(context.Background())
	_ = s.Send(batch(identifier("n", "l"), e, entry("192.0.2.2", "/", 200)))
	finish(t, s)
	h.waitMetric(t, "botwarden_als_entries_total", "accepted", 2)
	evs := sink.snapshot()
	if evs[0].SessionID != "from-cookie:__bm=x" || evs[1].SessionID != "" {
		t.Errorf("sessions %q %q", evs[0].SessionID, evs[1].SessionID)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		field string
		mut   func(*Config)
	}{
		{"max_streams", func(c *Config) { c.MaxStreams = -1 }},
		{"max_value_bytes", func(c *Config) { c.MaxValueBytes = 1 }},
		{"max_headers", func(c *Config) { c.MaxHeaders = 0 }},
		{"max_clock_skew", func(c *Config) { c.MaxClockSkew = 0 }},
		{"max_duration", func(c *Config) { c.MaxDuration = 0 }},
	} {
		cfg := DefaultConfig()
		c.mut(&cfg)
		if err := cfg.Validate(); err == nil || !bytes.HasPrefix([]byte(err.Error()), []byte(c.field+":")) {
			t.Errorf("%s: %v", c.field, err)
		}
	}
	if _, err := New(Config{}, zerolog.Nop(), nil, nil); err == nil {
		t.Error("New accepted an invalid config")
	}
}

func TestCookieSessionResolver(t *testing.T) {
	open := func(v string, _ time.Time) (string, error) {
		if v == "good" {
			return "sid-1", nil
		}
		return "", fmt.Errorf("bad cookie")
	}
	res := CookieSessionResolver("__bw", open)
	for cookie, want := range map[string]string{"": "", "a=b; __bw=good": "sid-1", "__bw=forged": "", "other=good": ""} {
		ev := &detect.Event{Headers: detect.Headers{}}
		if cookie != "" {
			ev.Headers["cookie"] = cookie
		}
		if got := res(ev); got != want {
			t.Errorf("cookie %q: %q, want %q", cookie, got, want)
		}
	}
}

// TestScoreHistogram: the BotScore Envoy logs with each request (ext_authz
// metadata) is observed; entries without one are not.
func TestScoreHistogram(t *testing.T) {
	h := serve(t, DefaultConfig(), []Sink{&collector{}})
	s, err := h.cl.StreamAccessLogs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var es []*accesslogv3.HTTPAccessLogEntry
	for _, score := range []float64{1, 12, 80, 0} {
		e := entry("198.51.100.7", "/", 200)
		if score > 0 {
			md, err := structpb.NewStruct(map[string]any{"BotScore": score})
			if err != nil {
				t.Fatal(err)
			}
			e.CommonProperties.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{MetadataNamespace: md}}
		}
		es = append(es, e)
	}
	if err := s.Send(batch(identifier("n", "l"), es...)); err != nil {
		t.Fatal(err)
	}
	finish(t, s)
	h.waitMetric(t, "botwarden_als_entries_total", "accepted", 4)
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "botwarden_als_bot_score" {
			hg := mf.GetMetric()[0].GetHistogram()
			if hg.GetSampleCount() != 3 || hg.GetSampleSum() != 93 {
				t.Fatalf("count %d sum %v, want 3 and 93", hg.GetSampleCount(), hg.GetSampleSum())
			}
			return
		}
	}
	t.Fatal("botwarden_als_bot_score not registered")
}
