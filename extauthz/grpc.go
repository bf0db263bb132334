package extauthz

import (
	"net/http"
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/botwarden/botwarden/detect"
)

// checkResponse maps a verdict to Envoy's CheckResponse as
// reference/envoy.md §1.3–1.4 describe how Envoy applies it.
func (s *Server) checkResponse(r *detect.Request, v *detect.Verdict) *authv3.CheckResponse {
	var resp *authv3.CheckResponse
	if denies(v) {
		d := s.respond(r, v)
		code := codes.PermissionDenied
		if v.EnforcedAction == detect.ActionRateLimit {
			code = codes.ResourceExhausted
		}
		a := new(deniedAnswer)
		a.status = rpcstatus.Status{Code: int32(code), Message: utf8Safe("botwarden: " + string(v.EnforcedAction))}
		deniedResponse(a, d, v.SetCookies)
		a.oneof.DeniedResponse = &a.denied
		a.resp.Status, a.resp.HttpResponse = &a.status, &a.oneof
		resp = &a.resp
	} else {
		a := new(okAnswer)
		okResponse(&a.ok, r, v)
		a.oneof.OkResponse = &a.ok
		a.resp.Status, a.resp.HttpResponse = &a.status, &a.oneof
		resp = &a.resp
	}
	resp.ProtoReflect().SetUnknown(metadataBytes(r, v))
	return resp
}

// okAnswer and deniedAnswer hold the messages of one answer in a single
// allocation instead of one each.
type okAnswer struct {
	resp   authv3.CheckResponse
	status rpcstatus.Status
	oneof  authv3.CheckResponse_OkResponse
	ok     authv3.OkHttpResponse
}

type deniedAnswer struct {
	resp   authv3.CheckResponse
	status rpcstatus.Status
	oneof  authv3.CheckResponse_DeniedResponse
	denied authv3.DeniedHttpResponse
	code   typev3.HttpStatus
}

// falseValue is shared by every header option: Append=false makes Envoy
// overwrite-or-add request headers (it ignores append_action there) and is
// the only form it keeps on denials. Marshalling only reads it.
var falseValue = wrapperspb.Bool(false)

func setHeader(name, value string) *corev3.HeaderValueOption {
	// Value, not RawValue: Envoy reads header.value in ext_authz responses.
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: utf8Safe(name), Value: utf8Safe(value)}, Append: falseValue}
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

// okResponse fills ok, which is zero.
func okResponse(ok *authv3.OkHttpResponse, r *detect.Request, v *detect.Verdict) {
	var set []header
	if injects(v) {
		var buf [10]header
		set = verdictHeaders(v, buf[:0])
		// One allocation per kind instead of two per header.
		opts := make([]corev3.HeaderValueOption, len(set))
		vals := make([]corev3.HeaderValue, len(set))
		ok.Headers = make([]*corev3.HeaderValueOption, len(set))
		for i, h := range set {
			vals[i] = corev3.HeaderValue{Key: h.name, Value: utf8Safe(h.value)}
			opts[i].Header, opts[i].Append = &vals[i], falseValue
			ok.Headers[i] = &opts[i]
		}
	}
	// Client copies of our headers go, in every mode; the ones set above
	// are overwritten instead (Envoy removes after it sets).
	ok.HeadersToRemove = spoofed(r.Headers, set)
	if len(v.SetCookies) > 0 {
		// Set-Cookie goes to the client with APPEND_IF_EXISTS_OR_ADD and no
		// Append: Envoy then addCopy()s each one, so several cookies all
		// arrive and the origin's own Set-Cookie headers survive.
		// OVERWRITE_IF_EXISTS_OR_ADD would setCopy() them: only the last
		// of ours would remain and the origin's would be replaced.
		ok.ResponseHeadersToAdd = make([]*corev3.HeaderValueOption, len(v.SetCookies))
		for i, c := range v.SetCookies {
			ok.ResponseHeadersToAdd[i] = &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: "set-cookie", Value: utf8Safe(c)},
				AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD,
			}
		}
	}
}

// deniedResponse fills a with the responder's reply. Every header has
// Append=false: Envoy drops append=true headers on a denial, and removes
// then addCopy()s each named header, so repeating set-cookie works.
func deniedResponse(a *deniedAnswer, d detect.Response, cookies []string) {
	a.code.Code = typev3.StatusCode(d.Status)
	out := &a.denied
	out.Status, out.Body = &a.code, utf8Safe(string(d.Body))
	out.Headers = make([]*corev3.HeaderValueOption, 0, len(d.Headers)+len(cookies))
	for name, values := range d.Headers {
		name = strings.ToLower(name)
		for _, val := range values {
			out.Headers = append(out.Headers, setHeader(name, val))
		}
	}
	for _, c := range cookies {
		if !hasValue(d.Headers, "Set-Cookie", c) {
			out.Headers = append(out.Headers, setHeader("set-cookie", c))
		}
	}
}

func hasValue(h http.Header, name, value string) bool {
	for _, v := range h.Values(name) {
		if v == value {
			return true
		}
	}
	return false
}
