// Package behavior holds end-to-end tests of the behavioural loop: a
// gateway that checks every request with botwarden's ext_authz over gRPC and
// streams its access log to botwarden's ALS receiver the way Envoy does,
// the analysis publishing verdicts to the reputation store, and the next
// Check enforcing them.
//
// Streamer (this file) is the reusable part: Envoy's gRPC access logger,
// for gateways that stand in for Envoy.
package behavior

import (
	"context"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogsvc "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Streamer reproduces Envoy's gRPC access logger (reference/envoy.md §2.2,
// grpc_access_logger.h): entries are buffered and flushed every
// FlushInterval or once BufferBytes are buffered; the stream is opened on
// the first flush and its first message carries the identifier; the reply
// is never read; when a send fails the stream is dropped (and its batch
// lost) and the next flush opens a new one with a fresh identifier; past
// the buffer limit, entries are dropped.
type Streamer struct {
	client        accesslogsvc.AccessLogServiceClient
	id            *accesslogsvc.StreamAccessLogsMessage_Identifier
	flushInterval time.Duration
	bufferBytes   int

	mu      sync.Mutex
	buf     []*accesslogv3.HTTPAccessLogEntry
	size    int
	stream  accesslogsvc.AccessLogService_StreamAccessLogsClient
	cancel  context.CancelFunc
	flushes []Flush
	written int
	dropped int

	stop chan struct{}
	done chan struct{}
}

// Flush records one batch sent.
type Flush struct {
	At      time.Time
	Entries int
}

// NewStreamer starts the flush timer. node and logName form the identifier
// (Node.id, log_name); flushInterval and bufferBytes are Envoy's
// buffer_flush_interval (default 1 s) and buffer_size_bytes (16 KiB).
func NewStreamer(conn grpc.ClientConnInterface, node, logName string, flushInterval time.Duration, bufferBytes int) *Streamer {
	s := &Streamer{
		client:        accesslogsvc.NewAccessLogServiceClient(conn),
		id:            &accesslogsvc.StreamAccessLogsMessage_Identifier{Node: &corev3.Node{Id: node, Cluster: "e2e"}, LogName: logName},
		flushInterval: flushInterval, bufferBytes: bufferBytes,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go s.loop()
	return s
}

func (s *Streamer) loop() {
	defer close(s.done)
	t := time.NewTicker(s.flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.mu.Lock()
			s.flushLocked()
			s.mu.Unlock()
		case <-s.stop:
			return
		}
	}
}

// Log buffers one entry, like Envoy's log(): when the buffer is full it
// flushes, and if that cannot make room the entry is dropped.
func (s *Streamer) Log(e *accesslogv3.HTTPAccessLogEntry) {
	n := proto.Size(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size+n >= s.bufferBytes {
		s.flushLocked()
		if s.size+n >= s.bufferBytes && len(s.buf) > 0 {
			s.dropped++
			return
		}
	}
	s.buf = append(s.buf, e)
	s.size += n
}

func (s *Streamer) flushLocked() {
	if len(s.buf) == 0 {
		return
	}
	msg := &accesslogsvc.StreamAccessLogsMessage{LogEntries: &accesslogsvc.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &accesslogsvc.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: s.buf}}}
	if s.stream == nil {
		ctx, cancel := context.WithCancel(context.Background())
		st, err := s.client.StreamAccessLogs(ctx)
		if err != nil {
			cancel()
			s.dropped += len(s.buf)
			s.buf, s.size = nil, 0
			return
		}
		s.stream, s.cancel = st, cancel
		msg.Identifier = s.id // only on the first message of a stream
	}
	if err := s.stream.Send(msg); err != nil {
		s.cancel() // onRemoteClose: reset; the next flush reconnects
		s.stream = nil
		s.dropped += len(s.buf)
	} else {
		s.written += len(s.buf)
		s.flushes = append(s.flushes, Flush{At: time.Now(), Entries: len(s.buf)})
	}
	s.buf, s.size = nil, 0
}

// Flushes returns the batches sent so far.
func (s *Streamer) Flushes() []Flush {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Flush(nil), s.flushes...)
}

// Counts returns Envoy's logs_written and logs_dropped.
func (s *Streamer) Counts() (written, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written, s.dropped
}

// Close flushes what is buffered and half-closes the stream, as Envoy does
// on shutdown.
func (s *Streamer) Close() {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	if st, cancel := s.stream, s.cancel; st != nil {
		// Half-close, let the server read to EOF, then release the stream.
		go func() { _, _ = st.CloseAndRecv(); cancel() }()
		s.stream = nil
	}
}
