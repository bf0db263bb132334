// Package accesslog receives Envoy's gRPC access logs
// (envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs) and turns
// every HTTP entry into a detect.Event for the asynchronous analysis
// (Netacea's "Monitor Ingest").
//
// The wire contract (docs/envoy.md, "Access logs"): one client-streaming RPC per
// Envoy worker thread; the identifier comes only on the first message of a
// stream; Envoy never reads a response and loses what it wrote to a stream
// the server closed. So the receiver reads until EOF, never ends a stream on
// Envoy's behalf, and never blocks Recv on a slow consumer: sinks take
// events without blocking and drop (counted) when full.
package accesslog

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogsvc "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/botwarden/botwarden/detect"
)

// Sink consumes events. Offer must not block: it returns false when the
// event was dropped (a full queue). behavior.Engine implements it.
type Sink interface {
	Offer(ev *detect.Event) bool
}

// TimedSink is a Sink that also takes the time the receiver got the entry
// (behavior.Engine): the receiver reads the clock once per message, not
// once per entry in each sink.
type TimedSink interface {
	OfferAt(ev *detect.Event, received time.Time) bool
}

// SessionResolver derives a session id for an event whose ext_authz
// metadata carried none, e.g. by opening the session cookie in
// ev.Headers["cookie"] (when Envoy logs that header). "" means none.
type SessionResolver func(ev *detect.Event) string

// Config configures the receiver.
type Config struct {
	// MaxStreams caps concurrent ALS streams (Envoy opens one per worker
	// thread per log config); more are refused with RESOURCE_EXHAUSTED.
	// 0 = unlimited.
	MaxStreams int `yaml:"max_streams"`
	// MaxValueBytes cuts longer paths and header values.
	MaxValueBytes int `yaml:"max_value_bytes"`
	// MaxHeaders caps the logged request headers kept per entry.
	MaxHeaders int `yaml:"max_headers"`
	// MaxClockSkew: a start_time further than this from the receipt time
	// is absurd and replaced by the receipt time.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// MaxDuration: longer request durations are absurd (set to 0).
	MaxDuration time.Duration `yaml:"max_duration"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxStreams: 1024, MaxValueBytes: 8192, MaxHeaders: 64, MaxClockSkew: time.Hour, MaxDuration: 24 * time.Hour}
}

// Validate reports every invalid field by its name.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.MaxStreams < 0 {
		bad("max_streams: must not be negative, got %d", c.MaxStreams)
	}
	if c.MaxValueBytes < 64 {
		bad("max_value_bytes: must be at least 64, got %d", c.MaxValueBytes)
	}
	if c.MaxHeaders < 1 {
		bad("max_headers: must be positive, got %d", c.MaxHeaders)
	}
	if c.MaxClockSkew < time.Second {
		bad("max_clock_skew: must be at least 1s, got %s", c.MaxClockSkew)
	}
	if c.MaxDuration < time.Second {
		bad("max_duration: must be at least 1s, got %s", c.MaxDuration)
	}
	return errors.Join(errs...)
}

func (c Config) limits() Limits {
	return Limits{MaxValueBytes: c.MaxValueBytes, MaxHeaders: c.MaxHeaders, MaxTags: 32, MaxClockSkew: c.MaxClockSkew, MaxDuration: c.MaxDuration}
}

// Option customises a Receiver.
type Option func(*Receiver)

// WithSessionResolver sets the hook used when metadata has no session id.
func WithSessionResolver(fn SessionResolver) Option { return func(r *Receiver) { r.resolve = fn } }

// WithClock sets the receipt clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(r *Receiver) { r.now = now } }

// Receiver implements the AccessLogService server.
type Receiver struct {
	accesslogsvc.UnimplementedAccessLogServiceServer

	cfg     Config
	lim     Limits
	log     zerolog.Logger
	sinks   []Sink
	resolve SessionResolver
	now     func() time.Time
	active  atomic.Int64
	m       metrics
}

type metrics struct {
	outcomes [numOutcomes]prometheus.Counter // by outcome
	streams  *prometheus.CounterVec
	messages *prometheus.CounterVec
	problems [numProblems]prometheus.Counter
	score    prometheus.Histogram
}

// New builds a receiver that hands events to sinks (in order; an event
// dropped by any sink counts as dropped).
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer, sinks []Sink, opts ...Option) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("accesslog: %w", err)
	}
	r := &Receiver{cfg: cfg, lim: cfg.limits(), log: log, sinks: sinks, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	entries := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_als_entries_total",
		Help: "ALS HTTP entries by result: accepted, dropped (a sink's queue was full), rejected (unusable), skipped (intermediate entries)."}, []string{"result"})
	for o, name := range [numOutcomes]string{"accepted", "dropped", "skipped", "rejected"} {
		r.m.outcomes[o] = entries.WithLabelValues(name)
	}
	r.m.streams = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_als_streams_total",
		Help: "ALS streams by outcome: opened, unidentified (first message had no identifier), refused (max_streams), eof, cancelled, error."}, []string{"result"})
	r.m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_als_messages_total",
		Help: "ALS stream messages by kind: http, tcp (ignored), empty."}, []string{"kind"})
	problems := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "botwarden_als_invalid_fields_total",
		Help: "Entry fields that were absurd or malformed and were repaired, by field."}, []string{"field"})
	for i, n := range problemNames {
		r.m.problems[i] = problems.WithLabelValues(n)
	}
	// Observed here, off the Check path: every request Envoy logs carries
	// the BotScore ext_authz gave it, so this is the score distribution of
	// the traffic without a histogram update per Check.
	r.m.score = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "botwarden_als_bot_score",
		Help:    "BotScore of logged requests (from the ext_authz metadata in the access log): 1 automated, 2-29 likely automated, 30-99 likely human.",
		Buckets: []float64{1, 9, 19, 29, 39, 49, 59, 69, 79, 89, 99}})
	if reg != nil {
		for _, c := range []prometheus.Collector{entries, r.m.streams, r.m.messages, problems, r.m.score,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "botwarden_als_active_streams", Help: "Open ALS streams."},
				func() float64 { return float64(r.active.Load()) })} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("accesslog: register metric: %w", err)
			}
		}
	}
	return r, nil
}

// Register mounts the service on s.
func (r *Receiver) Register(s *grpc.Server) { accesslogsvc.RegisterAccessLogServiceServer(s, r) }

// ActiveStreams is the number of open streams.
func (r *Receiver) ActiveStreams() int64 { return r.active.Load() }

// stream is the per-stream state: small, because a misbehaving client may
// open thousands.
type stream struct {
	node, logName string
}

// StreamAccessLogs reads one Envoy stream until EOF. It never sends a
// response (Envoy never reads one) and never ends the stream itself,
// except to refuse it when max_streams are open.
func (r *Receiver) StreamAccessLogs(srv accesslogsvc.AccessLogService_StreamAccessLogsServer) error {
	if n := r.active.Add(1); r.cfg.MaxStreams > 0 && n > int64(r.cfg.MaxStreams) {
		r.active.Add(-1)
		r.m.streams.WithLabelValues("refused").Inc()
		return status.Errorf(codes.ResourceExhausted, "accesslog: %d streams open, max_streams is %d", n-1, r.cfg.MaxStreams)
	}
	defer r.active.Add(-1)
	r.m.streams.WithLabelValues("opened").Inc()
	st := stream{node: "unknown"}
	for first := true; ; first = false {
		msg, err := srv.Recv()
		if err != nil {
			return r.ended(err)
		}
		if id := msg.GetIdentifier(); id != nil {
			// Envoy sends it once per stream; a repeat replaces it.
			st.node = id.GetNode().GetId()
			if st.node == "" {
				st.node = id.GetNode().GetCluster()
			}
			if st.node == "" {
				st.node = "unknown"
			}
			st.logName = id.GetLogName()
		} else if first {
			r.m.streams.WithLabelValues("unidentified").Inc()
		}
		switch {
		case msg.GetHttpLogs() != nil:
			r.m.messages.WithLabelValues("http").Inc()
			// One clock read and one add per counter per message: with
			// eight streams the per-entry increments of shared counters
			// and time.Now were a measurable share of the ingest cost.
			now := r.now()
			var n [numOutcomes]int
			entries := msg.GetHttpLogs().GetLogEntry()
			// One allocation for the message's events instead of one
			// per entry; they live as long as the analysis holds them.
			evs := make([]detect.Event, len(entries))
			for i, e := range entries {
				n[r.entry(&evs[i], e, &st, now)]++
			}
			for o, c := range n {
				if c > 0 {
					r.m.outcomes[o].Add(float64(c))
				}
			}
		case msg.GetTcpLogs() != nil:
			r.m.messages.WithLabelValues("tcp").Inc()
		default:
			r.m.messages.WithLabelValues("empty").Inc()
		}
	}
}

// ended classifies how a stream ended. EOF is the normal end (Envoy closed
// its side); a cancelled context means the client went away mid-stream.
// Either way what was received was already handed on.
func (r *Receiver) ended(err error) error {
	switch {
	case errors.Is(err, io.EOF):
		r.m.streams.WithLabelValues("eof").Inc()
		return nil
	case status.Code(err) == codes.Canceled || status.Code(err) == codes.DeadlineExceeded:
		r.m.streams.WithLabelValues("cancelled").Inc()
		return nil
	default:
		// A message that failed to decode (or exceeded the size limit):
		// gRPC has already failed the stream; Envoy will open a new one.
		r.m.streams.WithLabelValues("error").Inc()
		r.log.Debug().Err(err).Msg("accesslog: stream failed")
		return err
	}
}

// entry converts one entry and hands it to the sinks.
func (r *Receiver) entry(ev *detect.Event, e *accesslogv3.HTTPAccessLogEntry, st *stream, now time.Time) outcome {
	p, err := convertInto(ev, e, st.node, st.logName, now, r.lim)
	for i := range numProblems {
		if p&(1<<i) != 0 {
			r.m.problems[i].Inc()
		}
	}
	switch {
	case errors.Is(err, ErrIntermediate):
		return outcomeSkipped
	case err != nil:
		return outcomeRejected
	}
	if ev.BotScore > 0 {
		r.m.score.Observe(float64(ev.BotScore))
	}
	if ev.SessionID == "" && r.resolve != nil {
		ev.SessionID = r.resolve(ev)
	}
	ok := true
	for _, s := range r.sinks {
		if ts, timed := s.(TimedSink); timed {
			ok = ts.OfferAt(ev, now) && ok
		} else {
			ok = s.Offer(ev) && ok
		}
	}
	if ok {
		return outcomeAccepted
	}
	return outcomeDropped
}

// outcome is what became of one entry (botwarden_als_entries_total's result).
type outcome int

const (
	outcomeAccepted outcome = iota
	outcomeDropped
	outcomeSkipped
	outcomeRejected
	numOutcomes
)

// CookieSessionResolver reads the session id from the session cookie in the
// logged cookie header (Envoy must log "cookie" in
// additional_request_headers_to_log). open decodes a cookie value sealed by
// botwarden, e.g. session.Manager.Open followed by Claims.SessionID.String.
// It must not check the client binding: a session seen from many addresses
// is what the ip-rotation detector looks for.
func CookieSessionResolver(cookieName string, open func(value string, at time.Time) (string, error)) SessionResolver {
	return func(ev *detect.Event) string {
		if ev.Headers.Get("cookie") == "" {
			return ""
		}
		r := detect.Request{Headers: ev.Headers}
		v := r.Cookie(cookieName)
		if v == "" {
			return ""
		}
		id, err := open(v, ev.Time)
		if err != nil {
			return ""
		}
		return id
	}
}
