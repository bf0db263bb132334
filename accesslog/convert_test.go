package accesslog

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/botwarden/botwarden/detect"
)

var now = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func sock(ip string) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 443}}}}
}

// fullEntry is what Envoy logs for a request checked by ext_authz, with the
// headers botwarden's envoy.yaml asks it to log.
func fullEntry() *accesslogv3.HTTPAccessLogEntry {
	md, _ := structpb.NewStruct(map[string]any{
		detect.FieldBotScore: 12, detect.FieldBotScoreSrc: "heuristics", detect.FieldBotTags: []any{"http-library", "datacenter-ip"},
		detect.FieldAction: "block", detect.FieldRuleID: "r1", detect.FieldSessionID: "sess-1", detect.FieldJA4: "from-metadata",
	})
	unknown, _ := anypb.New(wrapperspb.String("x"))
	unknown.TypeUrl = "type.googleapis.com/istio.telemetry.Unknown" // Istio's peer metadata: never resolved
	return &accesslogv3.HTTPAccessLogEntry{
		ProtocolVersion: accesslogv3.HTTPAccessLogEntry_HTTP2,
		CommonProperties: &accesslogv3.AccessLogCommon{
			DownstreamRemoteAddress: sock("203.0.113.5"),
			StartTime:               timestamppb.New(now.Add(-2 * time.Second)),
			Duration:                durationpb.New(35 * time.Millisecond),
			TlsProperties:           &accesslogv3.TLSProperties{Ja3Fingerprint: "771,4865-4866,0-23,29-23,0"},
			ResponseFlags:           &accesslogv3.ResponseFlags{UnauthorizedDetails: &accesslogv3.ResponseFlags_Unauthorized{Reason: accesslogv3.ResponseFlags_Unauthorized_EXTERNAL_SERVICE}, UpstreamConnectionFailure: true},
			Metadata:                &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{MetadataNamespace: md}},
			FilterStateObjects:      map[string]*anypb.Any{"upstream_peer": unknown},
			StreamId:                "stream-1",
		},
		Request: &accesslogv3.HTTPRequestProperties{
			RequestMethod: corev3.RequestMethod_POST, Scheme: "https", Authority: "Shop.Example", Path: "/login?next=/",
			UserAgent: "curl/8.5.0", Referer: "https://shop.example/", RequestId: "req-1", RequestBodyBytes: 120,
			RequestHeaders: map[string]string{"x-botwarden-ja4": "t13d1516h2_8daaf6152771_b186095e22b6", "accept-language": "en", "cookie": "__bm=abc"},
		},
		Response: &accesslogv3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(403), ResponseBodyBytes: 2048,
			ResponseHeaders: map[string]string{"content-type": "text/html; charset=utf-8"}},
	}
}

func lim() Limits { return DefaultConfig().limits() }

func TestConvertFull(t *testing.T) {
	ev, p, err := Convert(fullEntry(), "envoy-1", "botwarden", now, lim())
	if err != nil || p != 0 {
		t.Fatalf("Convert: %v, problems %b", err, p)
	}
	want := detect.Event{
		Time: now.Add(-2 * time.Second), ClientIP: netip.MustParseAddr("203.0.113.5"), Method: "POST", Scheme: "https",
		Host: "shop.example", Path: "/login?next=/", Protocol: "HTTP/2", Status: 403, RequestID: "req-1",
		RequestBytes: 120, ResponseBytes: 2048, Duration: 35 * time.Millisecond, UserAgent: "curl/8.5.0",
		Referer: "https://shop.example/", JA3: "771,4865-4866,0-23,29-23,0", JA4: "t13d1516h2_8daaf6152771_b186095e22b6",
		SessionID: "sess-1", ContentType: "text/html; charset=utf-8", BotScore: 12, BotScoreSrc: "heuristics",
		Action: "block", RuleID: "r1", Node: "envoy-1", LogName: "botwarden",
	}
	got := *ev
	if !slices.Equal(got.ResponseFlags, []string{"UF", "UAEX"}) || !slices.Equal(got.BotTags, []string{"http-library", "datacenter-ip"}) ||
		got.Headers.Get("cookie") != "__bm=abc" || len(got.Headers) != 3 {
		t.Errorf("flags %v tags %v headers %v", got.ResponseFlags, got.BotTags, got.Headers)
	}
	got.ResponseFlags, got.BotTags, got.Headers = nil, nil, nil
	if !got.Time.Equal(want.Time) {
		t.Errorf("time %v, want %v", got.Time, want.Time)
	}
	got.Time = want.Time
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestConvertCases(t *testing.T) {
	tests := []struct {
		name    string
		mut     func(e *accesslogv3.HTTPAccessLogEntry)
		check   func(t *testing.T, ev *detect.Event)
		problem Problem
		err     error
	}{
		{name: "ipv6 with zone", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			e.CommonProperties.DownstreamRemoteAddress = sock("fe80::1%eth0")
		},
			check: func(t *testing.T, ev *detect.Event) { want(t, ev.ClientIP.String(), "fe80::1") }},
		{name: "ipv4-mapped ipv6", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			e.CommonProperties.DownstreamRemoteAddress = sock("::ffff:192.0.2.1")
		},
			check: func(t *testing.T, ev *detect.Event) { want(t, ev.ClientIP.String(), "192.0.2.1") }},
		{name: "pipe has no client ip, metadata fallback", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			e.CommonProperties.DownstreamRemoteAddress = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/envoy.sock"}}}
			e.CommonProperties.Metadata.FilterMetadata[MetadataNamespace].Fields[detect.FieldClientIP] = structpb.NewStringValue("198.51.100.9")
		}, check: func(t *testing.T, ev *detect.Event) { want(t, ev.ClientIP.String(), "198.51.100.9") }},
		{name: "missing address", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.CommonProperties.DownstreamRemoteAddress = nil },
			check: func(t *testing.T, ev *detect.Event) { want(t, ev.ClientIP.IsValid(), false) }},
		{name: "garbage address", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			e.CommonProperties.DownstreamRemoteAddress = sock("not-an-ip")
		},
			problem: ProblemClientIP, check: func(t *testing.T, ev *detect.Event) { want(t, ev.ClientIP.IsValid(), false) }},
		{name: "negative duration", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.CommonProperties.Duration = durationpb.New(-time.Second) },
			problem: ProblemDuration, check: func(t *testing.T, ev *detect.Event) { want(t, ev.Duration, time.Duration(0)) }},
		{name: "huge duration", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			e.CommonProperties.Duration = &durationpb.Duration{Seconds: 1 << 40}
		},
			problem: ProblemDuration, check: func(t *testing.T, ev *detect.Event) { want(t, ev.Duration, time.Duration(0)) }},
		{name: "status out of range", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.Response.ResponseCode = wrapperspb.UInt32(42) },
			problem: ProblemStatus, check: func(t *testing.T, ev *detect.Event) { want(t, ev.Status, 0) }},
		{name: "status huge", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.Response.ResponseCode = wrapperspb.UInt32(1 << 31) },
			problem: ProblemStatus, check: func(t *testing.T, ev *detect.Event) { want(t, ev.Status, 0) }},
		{name: "no response (downstream reset)", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.Response = nil },
			check: func(t *testing.T, ev *detect.Event) { want(t, ev.Status, 0) }},
		{name: "start time in 1970", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			e.CommonProperties.StartTime = timestamppb.New(time.Unix(0, 0))
		},
			problem: ProblemStartTime, check: func(t *testing.T, ev *detect.Event) { want(t, ev.Time, now) }},
		{name: "start time invalid", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			e.CommonProperties.StartTime = &timestamppb.Timestamp{Seconds: 1 << 62}
		},
			problem: ProblemStartTime, check: func(t *testing.T, ev *detect.Event) { want(t, ev.Time, now) }},
		{name: "no start time", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.CommonProperties.StartTime = nil },
			problem: ProblemStartTime, check: func(t *testing.T, ev *detect.Event) { want(t, ev.Time, now) }},
		{name: "unknown method", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.Request.RequestMethod = corev3.RequestMethod(99) },
			check: func(t *testing.T, ev *detect.Event) { want(t, ev.Method, "") }},
		{name: "unspecified method", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			e.Request.RequestMethod = corev3.RequestMethod_METHOD_UNSPECIFIED
		},
			check: func(t *testing.T, ev *detect.Event) { want(t, ev.Method, "") }},
		{name: "ja4 dash falls back to metadata", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.Request.RequestHeaders["x-botwarden-ja4"] = "-" },
			check: func(t *testing.T, ev *detect.Event) { want(t, ev.JA4, "from-metadata") }},
		{name: "score as string, tags as string", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			f := e.CommonProperties.Metadata.FilterMetadata[MetadataNamespace].Fields
			f[detect.FieldBotScore] = structpb.NewStringValue("7")
			f[detect.FieldBotTags] = structpb.NewStringValue("a, b,,c")
		}, check: func(t *testing.T, ev *detect.Event) {
			want(t, ev.BotScore, 7)
			want(t, strings.Join(ev.BotTags, "|"), "a|b|c")
		}},
		{name: "score out of range and wrong types", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			f := e.CommonProperties.Metadata.FilterMetadata[MetadataNamespace].Fields
			f[detect.FieldBotScore] = structpb.NewNumberValue(1e9)
			f[detect.FieldBotTags] = structpb.NewBoolValue(true)
			f[detect.FieldSessionID] = structpb.NewListValue(&structpb.ListValue{})
		}, problem: ProblemMetadata, check: func(t *testing.T, ev *detect.Event) {
			want(t, ev.BotScore, 0)
			want(t, len(ev.BotTags), 0)
			want(t, ev.SessionID, "")
		}},
		{name: "no metadata", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.CommonProperties.Metadata = nil },
			check: func(t *testing.T, ev *detect.Event) { want(t, ev.SessionID, "") }},
		{name: "invalid utf-8 sanitized", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			e.Request.Path = "/a\xff\xfeb"
			e.Request.RequestHeaders["accept-language"] = "en\xc3"
		}, problem: ProblemUTF8, check: func(t *testing.T, ev *detect.Event) {
			want(t, ev.Path, "/a\uFFFDb")
			want(t, utf8.ValidString(ev.Headers["accept-language"]), true)
		}},
		{name: "long path cut", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.Request.Path = "/" + strings.Repeat("é", 10000) },
			problem: ProblemTruncated, check: func(t *testing.T, ev *detect.Event) {
				want(t, len(ev.Path) <= 8192+2, true)
				want(t, utf8.ValidString(ev.Path), true)
			}},
		{name: "too many headers", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			for i := range 100 {
				e.Request.RequestHeaders[strings.Repeat("x", i+1)] = "v"
			}
		}, problem: ProblemTruncated, check: func(t *testing.T, ev *detect.Event) { want(t, len(ev.Headers), 64) }},
		{name: "intermediate entry", mut: func(e *accesslogv3.HTTPAccessLogEntry) {
			e.CommonProperties.AccessLogType = accesslogv3.AccessLogType_DownstreamPeriodic
		}, err: ErrIntermediate},
		{name: "deprecated intermediate flag", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.CommonProperties.IntermediateLogEntry = true }, err: ErrIntermediate},
		{name: "request only", mut: func(e *accesslogv3.HTTPAccessLogEntry) { e.CommonProperties = nil },
			problem: ProblemStartTime, check: func(t *testing.T, ev *detect.Event) { want(t, ev.Path, "/login?next=/") }},
		{name: "empty entry", mut: func(e *accesslogv3.HTTPAccessLogEntry) { *e = accesslogv3.HTTPAccessLogEntry{} }, err: ErrEmptyEntry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fullEntry()
			tt.mut(e)
			ev, p, err := Convert(e, "n", "l", now, lim())
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if p != tt.problem {
				t.Errorf("problems %b, want %b", p, tt.problem)
			}
			tt.check(t, ev)
		})
	}
	if _, _, err := Convert(nil, "", "", now, lim()); !errors.Is(err, ErrNilEntry) {
		t.Errorf("nil entry: %v", err)
	}
}

func want[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

// FuzzEntryToEvent feeds arbitrary protobuf bytes through decoding and
// Convert: no panic, and the event's invariants hold.
func FuzzEntryToEvent(f *testing.F) {
	b, _ := proto.Marshal(fullEntry())
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e accesslogv3.HTTPAccessLogEntry
		if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &e); err != nil {
			return
		}
		ev, _, err := Convert(&e, "n", "l", now, lim())
		if err != nil {
			return
		}
		if ev.Status != 0 && (ev.Status < 100 || ev.Status > 999) {
			t.Fatalf("status %d", ev.Status)
		}
		if ev.Duration < 0 || ev.Duration > 24*time.Hour {
			t.Fatalf("duration %s", ev.Duration)
		}
		if ev.Time.Sub(now).Abs() > time.Hour {
			t.Fatalf("time %s", ev.Time)
		}
		if ev.BotScore < 0 || ev.BotScore > 99 {
			t.Fatalf("score %d", ev.BotScore)
		}
		for _, s := range append([]string{ev.Path, ev.Host, ev.UserAgent, ev.JA4, ev.SessionID}, ev.BotTags...) {
			if !utf8.ValidString(s) || len(s) > 8192 {
				t.Fatalf("bad string %q", s)
			}
		}
		if len(ev.Headers) > 64 || len(ev.BotTags) > 32 {
			t.Fatalf("%d headers, %d tags", len(ev.Headers), len(ev.BotTags))
		}
	})
}
