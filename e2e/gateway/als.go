package gateway

// This file is the in-repo gateway's gRPC access logger: Options.ALS can be
// func(c ALSConfig) (AccessLogger, error) { return NewALSStreamer(c) }.

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogsvc "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// ALSStreamer reproduces Envoy's gRPC access logger (docs/envoy.md, "Access
// logs"; Envoy's grpc_access_logger.h): entries are buffered and flushed every
// FlushInterval or once BufferSizeBytes are buffered; the stream is opened on
// the first flush and its first message carries the identifier; the reply
// is never read; when a send fails the stream is dropped (and its batch
// lost) and the next flush opens a new one with a fresh identifier; past
// the buffer limit, entries are dropped.
type ALSStreamer struct {
	conn          *grpc.ClientConn
	client        accesslogsvc.AccessLogServiceClient
	id            *accesslogsvc.StreamAccessLogsMessage_Identifier
	flushInterval time.Duration
	bufferBytes   int

	mu      sync.Mutex
	buf     []*accesslogv3.HTTPAccessLogEntry
	size    int
	stream  accesslogsvc.AccessLogService_StreamAccessLogsClient
	cancel  context.CancelFunc
	flushes []ALSFlush
	written int
	dropped int

	stop chan struct{}
	done chan struct{}
}

// ALSFlush records one batch sent.
type ALSFlush struct {
	At      time.Time
	Entries int
}

// NewALSStreamer connects to cfg.Address and starts the flush timer. The
// identifier is cfg.Node and cfg.LogName; FlushInterval and BufferSizeBytes
// are Envoy's buffer_flush_interval and buffer_size_bytes.
func NewALSStreamer(cfg ALSConfig) (*ALSStreamer, error) {
	conn, err := dialGRPC(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("gateway: als %s: %w", cfg.Address, err)
	}
	node := cfg.Node
	if node == nil {
		node = &corev3.Node{Id: "in-repo-gateway"}
	}
	s := &ALSStreamer{
		conn:          conn,
		client:        accesslogsvc.NewAccessLogServiceClient(conn),
		id:            &accesslogsvc.StreamAccessLogsMessage_Identifier{Node: node, LogName: cfg.LogName},
		flushInterval: max(cfg.FlushInterval, time.Millisecond), bufferBytes: max(cfg.BufferSizeBytes, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go s.loop()
	return s, nil
}

func (s *ALSStreamer) loop() {
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
func (s *ALSStreamer) Log(e *accesslogv3.HTTPAccessLogEntry) {
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

func (s *ALSStreamer) flushLocked() {
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
		s.flushes = append(s.flushes, ALSFlush{At: time.Now(), Entries: len(s.buf)})
	}
	s.buf, s.size = nil, 0
}

// Flushes returns the batches sent so far.
func (s *ALSStreamer) Flushes() []ALSFlush {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ALSFlush(nil), s.flushes...)
}

// Counts returns Envoy's logs_written and logs_dropped.
func (s *ALSStreamer) Counts() (written, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written, s.dropped
}

// Close flushes what is buffered, half-closes the stream, as Envoy does on
// shutdown, and closes the connection once the receiver has read it. (The
// in-repo gateway calls it on Close.)
func (s *ALSStreamer) Close() {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	if st, cancel := s.stream, s.cancel; st != nil {
		// Half-close, let the server read to EOF, then release the stream.
		s.stream = nil
		go func() { _, _ = st.CloseAndRecv(); cancel(); _ = s.conn.Close() }()
		return
	}
	_ = s.conn.Close()
}
