package accesslog

import (
	"errors"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botwarden/botwarden/detect"
)

// MetadataNamespace is where Envoy stores ext_authz's dynamic metadata; the
// ALS carries it in common_properties.metadata.filter_metadata.
const MetadataNamespace = "envoy.filters.http.ext_authz"

// Limits bound what one entry may put into an event.
type Limits struct {
	MaxValueBytes int           // longest string kept (path, header value); longer is cut
	MaxHeaders    int           // logged request headers kept
	MaxTags       int           // BotTags kept
	MaxClockSkew  time.Duration // start_time further from the receipt time is replaced by it
	MaxDuration   time.Duration // longer request durations are absurd
}

// Problem flags record what Convert had to repair in an entry.
type Problem uint16

const (
	ProblemStartTime Problem = 1 << iota // missing or absurd start_time: receipt time used
	ProblemDuration                      // negative or absurd duration: 0 used
	ProblemStatus                        // response code outside 100–999: 0 used
	ProblemUTF8                          // invalid UTF-8 replaced
	ProblemTruncated                     // a value or the header list was cut
	ProblemClientIP                      // unparsable address
	ProblemMetadata                      // an ext_authz field of the wrong type or range
	numProblems      = iota
)

var problemNames = [numProblems]string{"start_time", "duration", "status", "utf8", "truncated", "client_ip", "metadata"}

// Errors for entries that cannot become an event.
var (
	ErrNilEntry     = errors.New("accesslog: nil entry")
	ErrEmptyEntry   = errors.New("accesslog: entry without request or common properties")
	ErrIntermediate = errors.New("accesslog: intermediate entry (request not finished)")
)

// Convert turns one HTTP access-log entry into an event. now is when it was
// received (used for a missing or absurd start_time). It never panics; what
// it repaired is reported in the Problem flags.
func Convert(e *accesslogv3.HTTPAccessLogEntry, node, logName string, now time.Time, lim Limits) (*detect.Event, Problem, error) {
	ev := &detect.Event{}
	p, err := convertInto(ev, e, node, logName, now, lim)
	if err != nil {
		return nil, p, err
	}
	return ev, p, nil
}

// convertInto is Convert writing into ev (which must be zero), so that a
// receiver can allocate the events of a whole message at once.
func convertInto(ev *detect.Event, e *accesslogv3.HTTPAccessLogEntry, node, logName string, now time.Time, lim Limits) (Problem, error) {
	if e == nil {
		return 0, ErrNilEntry
	}
	c, req, resp := e.GetCommonProperties(), e.GetRequest(), e.GetResponse()
	if c == nil && req == nil {
		return 0, ErrEmptyEntry
	}
	switch c.GetAccessLogType() {
	case accesslogv3.AccessLogType_NotSet, accesslogv3.AccessLogType_DownstreamEnd:
		if c.GetIntermediateLogEntry() {
			return 0, ErrIntermediate
		}
	default: // periodic, start and upstream entries would count a request twice
		return 0, ErrIntermediate
	}
	cv := converter{lim: lim}
	ev.Node, ev.LogName = node, logName

	ev.Time = now
	if ts := c.GetStartTime(); ts != nil {
		t := ts.AsTime()
		if ts.IsValid() && t.Sub(now).Abs() <= lim.MaxClockSkew {
			ev.Time = t
		} else {
			cv.p |= ProblemStartTime
		}
	} else {
		cv.p |= ProblemStartTime
	}
	if d := c.GetDuration(); d != nil {
		dur := d.AsDuration()
		if d.IsValid() && dur >= 0 && dur <= lim.MaxDuration {
			ev.Duration = dur
		} else {
			cv.p |= ProblemDuration
		}
	}

	ev.ClientIP = cv.addr(c.GetDownstreamRemoteAddress())
	ev.Method = method(req.GetRequestMethod())
	ev.Scheme = cv.str(req.GetScheme())
	ev.Host = strings.ToLower(cv.str(req.GetAuthority()))
	ev.Path = cv.str(req.GetPath())
	ev.Protocol = protocol(e.GetProtocolVersion())
	ev.RequestID = cv.str(req.GetRequestId())
	if ev.RequestID == "" {
		ev.RequestID = cv.str(c.GetStreamId())
	}
	ev.RequestBytes = req.GetRequestBodyBytes()
	ev.ResponseBytes = resp.GetResponseBodyBytes()
	if rc := resp.GetResponseCode(); rc != nil {
		if v := rc.GetValue(); v >= 100 && v <= 999 {
			ev.Status = int(v)
		} else {
			cv.p |= ProblemStatus
		}
	}

	if hs := req.GetRequestHeaders(); len(hs) > 0 {
		if cv.clean(hs) {
			// Envoy logs lower-case names; the decoded map is this
			// entry's own, so the event can keep it instead of a copy
			// (a map and a write per header were a fifth of Convert).
			ev.Headers = detect.Headers(hs)
		} else {
			ev.Headers = make(detect.Headers, min(len(hs), lim.MaxHeaders))
			for k, v := range hs {
				if len(ev.Headers) >= lim.MaxHeaders {
					cv.p |= ProblemTruncated
					break
				}
				ev.Headers[strings.ToLower(cv.str(k))] = cv.str(v)
			}
		}
	}
	ev.UserAgent = cv.str(req.GetUserAgent())
	if ev.UserAgent == "" {
		ev.UserAgent = ev.Headers.Get("user-agent")
	}
	ev.Referer = cv.str(req.GetReferer())
	if ev.Referer == "" {
		ev.Referer = ev.Headers.Get("referer")
	}
	if ja4 := ev.Headers.Get(detect.HeaderJA4); ja4 != "-" {
		ev.JA4 = ja4
	}
	ev.JA3 = cv.str(c.GetTlsProperties().GetJa3Fingerprint())
	ev.ContentType = cv.str(resp.GetResponseHeaders()["content-type"])
	ev.ResponseFlags = responseFlags(c.GetResponseFlags())

	if md := c.GetMetadata().GetFilterMetadata()[MetadataNamespace]; md != nil {
		cv.metadata(ev, md.GetFields())
	}
	return cv.p, nil
}

// converter carries the limits and the problems found in one entry.
type converter struct {
	lim Limits
	p   Problem
}

// str returns s cut to the limit and with invalid UTF-8 replaced. The
// protobuf decoder already rejects invalid UTF-8 in proto3 strings, so the
// repair only matters for other producers (and the fuzzer).
func (cv *converter) str(s string) string {
	if len(s) > cv.lim.MaxValueBytes {
		n := cv.lim.MaxValueBytes
		for n > 0 && !utf8.RuneStart(s[n]) { // do not split a rune
			n--
		}
		s = s[:n]
		cv.p |= ProblemTruncated
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
		cv.p |= ProblemUTF8
	}
	return s
}

// addr reads the client address: a socket address (IPv4 or IPv6, zone
// dropped); pipes and Envoy-internal addresses have none.
// clean reports whether hs can be used as it is: within the header limit,
// every name lower-case and every name and value short enough and valid
// UTF-8 (what str and strings.ToLower would leave unchanged).
func (cv *converter) clean(hs map[string]string) bool {
	if len(hs) > cv.lim.MaxHeaders {
		return false
	}
	for k, v := range hs {
		if len(k) > cv.lim.MaxValueBytes || len(v) > cv.lim.MaxValueBytes || !utf8.ValidString(v) {
			return false
		}
		for i := 0; i < len(k); i++ {
			if c := k[i]; c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
				return false
			}
		}
	}
	return true
}

func (cv *converter) addr(a *corev3.Address) netip.Addr {
	sa := a.GetSocketAddress()
	if sa == nil {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		cv.p |= ProblemClientIP
		return netip.Addr{}
	}
	return ip.WithZone("").Unmap()
}

// metadata copies the Logpush-named fields ext_authz put into its dynamic
// metadata. Types are checked, not trusted: a score may arrive as a number
// or a string, tags as a list or a comma-separated string.
func (cv *converter) metadata(ev *detect.Event, f map[string]*structpb.Value) {
	if v, ok := f[detect.FieldBotScore]; ok {
		var n float64
		switch k := v.GetKind().(type) {
		case *structpb.Value_NumberValue:
			n = k.NumberValue
		case *structpb.Value_StringValue:
			var err error
			if n, err = strconv.ParseFloat(k.StringValue, 64); err != nil {
				n = -1
			}
		default:
			n = -1
		}
		if n >= 0 && n <= detect.ScoreMax && !math.IsNaN(n) {
			ev.BotScore = int(n)
		} else {
			cv.p |= ProblemMetadata
		}
	}
	ev.BotScoreSrc = cv.mdString(f, detect.FieldBotScoreSrc)
	ev.Action = cv.mdString(f, detect.FieldAction)
	ev.RuleID = cv.mdString(f, detect.FieldRuleID)
	ev.SessionID = cv.mdString(f, detect.FieldSessionID)
	if ev.JA4 == "" {
		if ja4 := cv.mdString(f, detect.FieldJA4); ja4 != "-" {
			ev.JA4 = ja4
		}
	}
	if !ev.ClientIP.IsValid() {
		if s := cv.mdString(f, detect.FieldClientIP); s != "" {
			if ip, err := netip.ParseAddr(s); err == nil {
				ev.ClientIP = ip.WithZone("").Unmap()
			}
		}
	}
	if v, ok := f[detect.FieldBotTags]; ok {
		switch k := v.GetKind().(type) {
		case *structpb.Value_ListValue:
			for _, t := range k.ListValue.GetValues() {
				if s, ok := t.GetKind().(*structpb.Value_StringValue); ok && s.StringValue != "" {
					ev.BotTags = cv.addTag(ev.BotTags, s.StringValue)
				}
			}
		case *structpb.Value_StringValue:
			for t := range strings.SplitSeq(k.StringValue, ",") {
				if t = strings.TrimSpace(t); t != "" {
					ev.BotTags = cv.addTag(ev.BotTags, t)
				}
			}
		default:
			cv.p |= ProblemMetadata
		}
	}
}

func (cv *converter) addTag(tags []string, t string) []string {
	if len(tags) >= cv.lim.MaxTags {
		cv.p |= ProblemTruncated
		return tags
	}
	return append(tags, cv.str(t))
}

func (cv *converter) mdString(f map[string]*structpb.Value, name string) string {
	v, ok := f[name]
	if !ok {
		return ""
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return cv.str(k.StringValue)
	case *structpb.Value_NumberValue:
		if !math.IsNaN(k.NumberValue) && !math.IsInf(k.NumberValue, 0) {
			return strconv.FormatFloat(k.NumberValue, 'f', -1, 64)
		}
	case *structpb.Value_NullValue:
		return ""
	}
	cv.p |= ProblemMetadata
	return ""
}

func method(m corev3.RequestMethod) string {
	if m == corev3.RequestMethod_METHOD_UNSPECIFIED {
		return "" // Envoy logs methods it has no enum value for as unspecified
	}
	if s, ok := corev3.RequestMethod_name[int32(m)]; ok {
		return s
	}
	return ""
}

func protocol(v accesslogv3.HTTPAccessLogEntry_HTTPVersion) string {
	switch v {
	case accesslogv3.HTTPAccessLogEntry_HTTP10:
		return "HTTP/1.0"
	case accesslogv3.HTTPAccessLogEntry_HTTP11:
		return "HTTP/1.1"
	case accesslogv3.HTTPAccessLogEntry_HTTP2:
		return "HTTP/2"
	case accesslogv3.HTTPAccessLogEntry_HTTP3:
		return "HTTP/3"
	}
	return ""
}

// responseFlags returns Envoy's short names (%RESPONSE_FLAGS%) of the set
// flags, or nil.
func responseFlags(f *accesslogv3.ResponseFlags) []string {
	if f == nil {
		return nil
	}
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(f.FailedLocalHealthcheck, "LH")
	add(f.NoHealthyUpstream, "UH")
	add(f.UpstreamRequestTimeout, "UT")
	add(f.LocalReset, "LR")
	add(f.UpstreamRemoteReset, "UR")
	add(f.UpstreamConnectionFailure, "UF")
	add(f.UpstreamConnectionTermination, "UC")
	add(f.UpstreamOverflow, "UO")
	add(f.NoRouteFound, "NR")
	add(f.DelayInjected, "DI")
	add(f.FaultInjected, "FI")
	add(f.RateLimited, "RL")
	add(f.UnauthorizedDetails.GetReason() == accesslogv3.ResponseFlags_Unauthorized_EXTERNAL_SERVICE, "UAEX")
	add(f.RateLimitServiceError, "RLSE")
	add(f.DownstreamConnectionTermination, "DC")
	add(f.UpstreamRetryLimitExceeded, "URX")
	add(f.StreamIdleTimeout, "SI")
	add(f.InvalidEnvoyRequestHeaders, "IH")
	add(f.DownstreamProtocolError, "DPE")
	add(f.UpstreamMaxStreamDurationReached, "UMSDR")
	add(f.ResponseFromCacheFilter, "RFCF")
	add(f.NoFilterConfigFound, "NFCF")
	add(f.DurationTimeout, "DT")
	add(f.UpstreamProtocolError, "UPE")
	add(f.NoClusterFound, "NC")
	add(f.OverloadManager, "OM")
	add(f.DnsResolutionFailure, "DF")
	add(f.DownstreamRemoteReset, "DR")
	return out
}
