package extauthz

// This file maps a verdict onto Envoy's CheckResponse: allow or deny (never
// an RPC error), which headers go upstream and how Envoy applies them, the
// reply a denied client gets, and the dynamic metadata the access log and
// later filters read. How Envoy applies each field:
// https://www.envoyproxy.io/docs/envoy/latest/api-v3/service/auth/v3/external_auth.proto
// and https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/ext_authz_filter

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/botwarden/botwarden/detect"
)

// checkResponse is the answer to a decided request, without its dynamic
// metadata (see writeMetadata). An enforced denial is status
// PERMISSION_DENIED (RESOURCE_EXHAUSTED for rate_limit) with a
// denied_response; anything else is OK with an ok_response. A decision is
// never a gRPC error: Envoy would apply failure_mode_allow or
// status_on_error instead of the verdict.
func (s *Server) checkResponse(r *detect.Request, v *detect.Verdict) *authv3.CheckResponse {
	if denies(v) {
		code := codes.PermissionDenied
		if v.EnforcedAction == detect.ActionRateLimit {
			code = codes.ResourceExhausted
		}
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(code), Message: denyMessage(v.EnforcedAction)},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{
				DeniedResponse: deniedResponse(s.respond(r, v), v.SetCookies),
			},
		}
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: okResponse(r, v, s.cfg.RayIDHeader)},
	}
}

// denyMessage is the gRPC status message of a denial, "botwarden: " and
// the enforced action; the actions that deny are spelled out so that a
// denial does not build the same string every time.
func denyMessage(a detect.Action) string {
	switch a {
	case detect.ActionBlock:
		return "botwarden: " + string(detect.ActionBlock)
	case detect.ActionManagedChallenge:
		return "botwarden: " + string(detect.ActionManagedChallenge)
	case detect.ActionJSChallenge:
		return "botwarden: " + string(detect.ActionJSChallenge)
	case detect.ActionRateLimit:
		return "botwarden: " + string(detect.ActionRateLimit)
	}
	return utf8Safe("botwarden: " + string(a))
}

// okResponse: the verdict headers and the RayID (header ray) upstream (not
// in monitor mode), every other client-sent x-bot-*/x-botwarden-* header
// and RayID header removed, and the session cookies to the client.
func okResponse(r *detect.Request, v *detect.Verdict, ray string) *authv3.OkHttpResponse {
	ok := &authv3.OkHttpResponse{}
	var set []header
	if injects(v) {
		var buf [11]header
		set = verdictHeaders(v, buf[:0])
		n := len(set)
		set = withRay(set, ray, r, v)
		ok.Headers = make([]*corev3.HeaderValueOption, len(set))
		for i, h := range set[:n] {
			ok.Headers[i] = sharedOption(h)
		}
		// The reference differs per request: shared, it would only fill
		// the cache.
		if len(set) > n {
			ok.Headers[n] = headerOptions(set[n:])[0]
		}
	}
	// Client copies of our headers go, in every mode; the ones set above
	// are overwritten instead (Envoy removes after it sets).
	ok.HeadersToRemove = spoofed(r.Headers, set, ray)
	for _, c := range v.SetCookies {
		// Set-Cookie goes to the client with APPEND_IF_EXISTS_OR_ADD and no
		// Append: Envoy then adds each one, so several cookies all arrive
		// and the origin's own Set-Cookie headers survive.
		// OVERWRITE_IF_EXISTS_OR_ADD would set them: only the last of ours
		// would remain and the origin's would be replaced.
		ok.ResponseHeadersToAdd = append(ok.ResponseHeadersToAdd, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: "set-cookie", Value: utf8Safe(c)},
			AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD,
		})
	}
	return ok
}

// deniedResponse is the responder's reply as Envoy sends it to the client.
// Every header has Append=false: Envoy drops append=true headers on a
// denial, and removes then adds each named header, so repeating set-cookie
// works. Headers are in name order, so equal replies are equal answers;
// the responder's own headers other than cookies (content type, caching,
// Retry-After) repeat from one denial to the next and share their options.
func deniedResponse(d detect.Response, cookies []string) *authv3.DeniedHttpResponse {
	set := make([]header, 0, len(d.Headers)+len(cookies))
	for name, values := range d.Headers {
		for _, val := range values {
			set = append(set, header{name, val})
		}
	}
	slices.SortStableFunc(set, func(a, b header) int { return strings.Compare(a.name, b.name) })
	out := make([]*corev3.HeaderValueOption, 0, len(set)+len(cookies))
	for _, h := range set {
		if strings.EqualFold(h.name, "set-cookie") {
			out = append(out, headerOptions([]header{{"set-cookie", h.value}})[0])
		} else {
			out = append(out, sharedOption(header{h.name, h.value}))
		}
	}
	for _, c := range cookies {
		if !hasValue(d.Headers, "Set-Cookie", c) {
			out = append(out, headerOptions([]header{{"set-cookie", c}})[0])
		}
	}
	return &authv3.DeniedHttpResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode(d.Status)},
		Headers: out,
		Body:    utf8Safe(string(d.Body)),
	}
}

// headerOptions makes each header an option Envoy sets, replacing any
// value the request had: Append=false (Envoy ignores append_action in
// ext_authz answers) and Value, not RawValue (Envoy reads header.value
// there). The options and values share two arrays rather than two
// allocations per header.
func headerOptions(set []header) []*corev3.HeaderValueOption {
	opts := make([]corev3.HeaderValueOption, len(set))
	vals := make([]corev3.HeaderValue, len(set))
	out := make([]*corev3.HeaderValueOption, len(set))
	for i, h := range set {
		vals[i] = corev3.HeaderValue{Key: utf8Safe(h.name), Value: utf8Safe(h.value)}
		opts[i].Header, opts[i].Append = &vals[i], appendFalse
		out[i] = &opts[i]
	}
	return out
}

// appendFalse is shared by every header option; marshalling only reads it.
var appendFalse = wrapperspb.Bool(false)

// sharedOption is the option headerOptions would make for h, with the name
// lower-cased, shared by every answer that sends the same header: verdict
// headers draw their values from small vocabularies (a score, a source, a
// category, an action, a rule id) and a responder's from its own (content
// type, caching), so each is built once instead of twice per header per
// answer, and marshalling only reads it. The cache is bounded: past
// maxSharedOptions distinct headers, options are made afresh.
func sharedOption(h header) *corev3.HeaderValueOption {
	if o, ok := sharedOptions.Load(h); ok {
		return o.(*corev3.HeaderValueOption)
	}
	o := headerOptions([]header{{strings.ToLower(h.name), h.value}})[0]
	if sharedCount.Add(1) <= maxSharedOptions {
		sharedOptions.Store(h, o)
	}
	return o
}

var (
	sharedOptions sync.Map // header → *corev3.HeaderValueOption
	sharedCount   atomic.Int64
)

const maxSharedOptions = 4096

func hasValue(h http.Header, name, value string) bool {
	for _, v := range h.Values(name) {
		if v == value {
			return true
		}
	}
	return false
}

// utf8Safe makes s valid UTF-8. Proto3 string fields must be: one invalid
// byte (a raw header echoed into a page or the metadata) would make the
// response fail to marshal, and Envoy would see an RPC error instead of a
// decision. Invalid bytes become "!", as Envoy does for headers.
func utf8Safe(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "!")
}

// metadataWriter receives the dynamic metadata fields. Strings are valid
// UTF-8. structMetadata builds the typed Struct in-process callers get;
// the gRPC server writes wire bytes instead (wire.StructWriter).
type metadataWriter interface {
	String(key, val string)
	Addr(key string, a netip.Addr)
	Number(key string, n float64)
	Bool(key string, b bool)
	Strings(key string, items []string)
	Numbers(key string, items []int)
}

// writeMetadata writes the dynamic metadata of an answer, on allow and deny
// alike, under the ext_authz filter's namespace: the Logpush field names of
// detect/fields.go, for %DYNAMIC_METADATA(envoy.filters.http.ext_authz:BotScore)%
// in the access log and for later filters.
func writeMetadata(m metadataWriter, r *detect.Request, v *detect.Verdict) {
	src := v.Source
	if src == "" {
		src = detect.SourceNotComputed
	}
	m.Number(detect.FieldBotScore, float64(v.Score))
	m.String(detect.FieldBotScoreSrc, utf8Safe(string(src)))
	m.String(detect.FieldBotCategory, string(v.Category()))
	m.String(detect.FieldJA4, utf8Safe(r.JA4()))
	m.String(detect.FieldJSDetectionPassed, v.JSDetectionResult())
	m.Bool(detect.FieldVerifiedBot, v.Verified)
	m.String(detect.FieldVerifiedBotCategory, utf8Safe(v.VerifiedCategory))
	m.String(detect.FieldAction, utf8Safe(string(v.Action)))
	m.String(detect.FieldEnforcedAction, utf8Safe(string(v.EnforcedAction)))
	m.String(detect.FieldRuleID, utf8Safe(v.RuleID))
	m.String(detect.FieldRayID, r.Reference())
	m.String(detect.FieldMode, utf8Safe(string(v.Mode)))
	m.Addr(detect.FieldClientIP, r.ClientIP)
	m.Strings(detect.FieldBotTags, utf8SafeAll(v.Tags))
	m.Numbers(detect.FieldBotDetectionIDs, v.DetectionIDs)
	if v.Session != nil {
		m.String(detect.FieldSessionID, utf8Safe(v.Session.ID))
	}
}

// utf8SafeAll is items with every string made valid UTF-8, items itself
// when they already are.
func utf8SafeAll(items []string) []string {
	for i, it := range items {
		if !utf8.ValidString(it) {
			out := make([]string, len(items))
			copy(out, items[:i])
			for j := i; j < len(items); j++ {
				out[j] = utf8Safe(items[j])
			}
			return out
		}
	}
	return items
}

// structMetadata builds the dynamic metadata as a google.protobuf.Struct.
type structMetadata struct{ s *structpb.Struct }

func newStructMetadata() structMetadata {
	return structMetadata{&structpb.Struct{Fields: map[string]*structpb.Value{}}}
}

func (m structMetadata) String(key, val string) { m.s.Fields[key] = structpb.NewStringValue(val) }

func (m structMetadata) Addr(key string, a netip.Addr) { m.String(key, addrString(a)) }

func (m structMetadata) Number(key string, n float64) { m.s.Fields[key] = structpb.NewNumberValue(n) }

func (m structMetadata) Bool(key string, b bool) { m.s.Fields[key] = structpb.NewBoolValue(b) }

func (m structMetadata) Strings(key string, items []string) {
	list := &structpb.ListValue{Values: make([]*structpb.Value, len(items))}
	for i, it := range items {
		list.Values[i] = structpb.NewStringValue(it)
	}
	m.s.Fields[key] = structpb.NewListValue(list)
}

func (m structMetadata) Numbers(key string, items []int) {
	list := &structpb.ListValue{Values: make([]*structpb.Value, len(items))}
	for i, it := range items {
		list.Values[i] = structpb.NewNumberValue(float64(it))
	}
	m.s.Fields[key] = structpb.NewListValue(list)
}
