package gateway

import (
	"context"
	"maps"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MetadataNamespace is where Envoy puts the CheckResponse's dynamic
// metadata, whatever the filter is named.
const MetadataNamespace = "envoy.filters.http.ext_authz"

// HeaderFailureModeAllowed is added to requests let through on an ext_authz
// error with failure_mode_allow_header_add.
const HeaderFailureModeAllowed = "x-envoy-auth-failure-mode-allowed"

// okMutations are the response-side effects of an OK check, applied by the
// ext_authz filter's encoder on the way back.
type okMutations struct {
	response []responseMutation
}

type responseMutation struct {
	key, value string
	action     corev3.HeaderValueOption_HeaderAppendAction
}

// perRoute resolves the ext_authz per-filter config for the stream's route:
// disabled from the most specific level that sets it, context_extensions
// merged from the virtual host down to the route.
func (f *httpFilter) perRoute(s *Stream) (disabled bool, ext map[string]string) {
	levels := []map[string]*anypb.Any{}
	if s.route.vhost != nil {
		levels = append(levels, s.route.vhost.perFilter)
	}
	levels = append(levels, s.route.perFilter)
	for _, lvl := range levels {
		a, ok := lvl[f.name]
		if !ok {
			continue
		}
		var pr extauthzv3.ExtAuthzPerRoute
		if err := a.UnmarshalTo(&pr); err != nil {
			continue // compile() already checked every per-route config
		}
		if _, ok := pr.GetOverride().(*extauthzv3.ExtAuthzPerRoute_Disabled); ok {
			disabled = pr.GetDisabled()
		}
		if ce := pr.GetCheckSettings().GetContextExtensions(); len(ce) > 0 {
			if ext == nil {
				ext = map[string]string{}
			}
			maps.Copy(ext, ce)
		}
	}
	return disabled, ext
}

// decodeAuthz is the ext_authz filter's decodeHeaders: it returns a reply
// for denied and failed-closed requests, nil to continue.
func (g *InRepo) decodeAuthz(ctx context.Context, f *httpFilter, s *Stream) *LocalReply {
	az := f.authz
	if s.route == nil {
		return nil // no route: Envoy skips the check entirely
	}
	disabled, ext := f.perRoute(s)
	if disabled {
		return nil
	}
	if az.enabledMetadata != nil && !matchMetadata(az.enabledMetadata, s) {
		return nil
	}
	req := g.checkRequest(f, s, ext)
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, az.timeout)
	resp, err := g.authzClients[az.cluster].Check(cctx, req)
	cancel()
	if err != nil {
		return authzError(az, s, nil)
	}

	md := resp.GetDynamicMetadata()
	if okr := resp.GetOkResponse(); okr != nil && okr.GetDynamicMetadata() != nil {
		md = okr.GetDynamicMetadata() // the deprecated field wins
	}
	ok := codes.Code(resp.GetStatus().GetCode()) == codes.OK
	if len(md.GetFields()) > 0 {
		if ok {
			md.Fields["ext_authz_duration"] = structpb.NewNumberValue(float64(time.Since(start).Milliseconds()))
		}
		s.SetMetadata(MetadataNamespace, md)
	}
	switch {
	case ok:
		return g.applyOK(f, s, resp.GetOkResponse())
	case resp.GetErrorResponse() != nil:
		return authzError(az, s, resp.GetErrorResponse())
	default:
		return authzDenied(s, resp.GetDeniedResponse())
	}
}

// checkRequest builds the CheckRequest as check_request_utils.cc does.
func (g *InRepo) checkRequest(f *httpFilter, s *Stream, ext map[string]string) *authv3.CheckRequest {
	az := f.authz
	headers := map[string]string{}
	for _, e := range s.Headers.All() {
		if e.Key == "x-envoy-auth-partial-body" || !g.headerAllowed(az, e.Key) {
			continue
		}
		v := sanitizeUTF8(e.Value)
		if prev, ok := headers[e.Key]; ok {
			v = prev + "," + v
		}
		headers[e.Key] = v
	}
	h := s.Headers
	attrs := &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: socketAddress(s.Peer)},
		Destination: &authv3.AttributeContext_Peer{Address: socketAddress(s.Local)},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.New(s.Start),
			Http: &authv3.AttributeContext_HttpRequest{
				Id:       strconv.FormatUint(s.ID, 10),
				Method:   sanitizeUTF8(h.Value(":method")),
				Headers:  headers,
				Path:     sanitizeUTF8(h.Value(":path")),
				Host:     sanitizeUTF8(h.Value(":authority")),
				Scheme:   h.Value(":scheme"),
				Protocol: s.Protocol,
			},
		},
		ContextExtensions: ext,
	}
	if len(az.metadataNS) > 0 {
		md := s.allMetadata()
		fm := map[string]*structpb.Struct{}
		for _, ns := range az.metadataNS {
			if v, ok := md[ns]; ok {
				fm[ns] = v
			}
		}
		if len(fm) > 0 {
			attrs.MetadataContext = &corev3.Metadata{FilterMetadata: fm}
		}
	}
	if az.includeTLS && s.TLS != nil && s.TLS.SNI != "" {
		attrs.TlsSession = &authv3.AttributeContext_TLSSession{Sni: s.TLS.SNI}
	}
	return &authv3.CheckRequest{Attributes: attrs}
}

// headerAllowed applies allowed_headers (unset: all) and disallowed_headers
// (which wins).
func (g *InRepo) headerAllowed(az *authzFilter, name string) bool {
	for _, m := range az.disallowedFn {
		if m(name) {
			return false
		}
	}
	if len(az.allowedFn) == 0 {
		return true
	}
	for _, m := range az.allowedFn {
		if m(name) {
			return true
		}
	}
	return false
}

func match(m *matcherv3.StringMatcher, s string) bool {
	fn, err := compileStringMatcher(m)
	return err == nil && fn(s)
}

// applyOK applies an OK CheckResponse to the request, in Envoy's order.
func (g *InRepo) applyOK(f *httpFilter, s *Stream, ok *authv3.OkHttpResponse) *LocalReply {
	az := f.authz
	if az.validate && !validMutations(ok) {
		return &LocalReply{Status: http.StatusInternalServerError, Details: "ext_authz_invalid"}
	}
	mutated := false
	for _, hv := range ok.GetHeaders() {
		k, v := strings.ToLower(hv.GetHeader().GetKey()), hv.GetHeader().GetValue()
		mutated = true
		// Only the deprecated append flag is read for request headers;
		// append_action is ignored, and raw_value too.
		if hv.GetAppend().GetValue() {
			if s.Headers.Has(k) { // append to a missing header adds nothing
				s.Headers.Append(k, v)
			}
			continue
		}
		s.Headers.Set(k, v)
	}
	for _, k := range ok.GetHeadersToRemove() {
		k = strings.ToLower(k)
		if strings.HasPrefix(k, ":") || k == "host" {
			continue // never removable
		}
		mutated = true
		s.Headers.Remove(k)
	}
	var om okMutations
	for _, hv := range ok.GetResponseHeadersToAdd() {
		action := hv.GetAppendAction()
		if hv.GetAppend() != nil { // the deprecated flag, when set, wins
			action = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
			if hv.GetAppend().GetValue() {
				action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
			}
		}
		if _, known := corev3.HeaderValueOption_HeaderAppendAction_name[int32(action)]; !known {
			continue // an invalid action (500 with validate_mutations, checked above)
		}
		om.response = append(om.response, responseMutation{strings.ToLower(hv.GetHeader().GetKey()), hv.GetHeader().GetValue(), action})
	}
	if len(om.response) > 0 {
		s.authzOK = &om
	}
	if len(ok.GetQueryParametersToSet()) > 0 || len(ok.GetQueryParametersToRemove()) > 0 {
		mutated = true
		s.Headers.Set(":path", rewriteQuery(s.Headers.Value(":path"), ok))
	}
	if az.clearRouteCache && mutated {
		s.route = nil
		g.pickRoute(s)
	}
	return nil
}

// encode applies the response headers an OK check asked for.
func (om *okMutations) encode(resp *HeaderMap) {
	for _, m := range om.response {
		switch m.action {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			resp.Add(m.key, m.value)
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			if !resp.Has(m.key) {
				resp.Add(m.key, m.value)
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			resp.Set(m.key, m.value)
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if resp.Has(m.key) {
				resp.Set(m.key, m.value)
			}
		}
	}
}

// rewriteQuery is Envoy's parseQueryString / replaceQueryString: parameters
// become a sorted map (the first occurrence of a name wins), then the
// check's sets and removals apply (names are case-sensitive).
func rewriteQuery(path string, ok *authv3.OkHttpResponse) string {
	p, q, _ := strings.Cut(path, "?")
	params := map[string]string{}
	for _, kv := range strings.Split(q, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if _, seen := params[k]; !seen {
			params[k] = v
		}
	}
	for _, qp := range ok.GetQueryParametersToSet() {
		params[qp.GetKey()] = qp.GetValue()
	}
	for _, k := range ok.GetQueryParametersToRemove() {
		delete(params, k)
	}
	if len(params) == 0 {
		return p
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + params[k])
	}
	return p + "?" + b.String()
}

func validMutations(ok *authv3.OkHttpResponse) bool {
	for _, list := range [][]*corev3.HeaderValueOption{ok.GetHeaders(), ok.GetResponseHeadersToAdd()} {
		for _, hv := range list {
			if !validHeaderName(hv.GetHeader().GetKey()) || !validHeaderValue(hv.GetHeader().GetValue()) {
				return false
			}
			if _, known := corev3.HeaderValueOption_HeaderAppendAction_name[int32(hv.GetAppendAction())]; !known {
				return false
			}
		}
	}
	for _, k := range ok.GetHeadersToRemove() {
		if !validHeaderName(k) {
			return false
		}
	}
	return true
}

// authzDenied is the Denied path: the check's status (403 when unset), body
// and the headers with append unset or false.
func authzDenied(s *Stream, d *authv3.DeniedHttpResponse) *LocalReply {
	s.flags.unauthorizedExternal = true
	status := http.StatusForbidden
	if c := int(d.GetStatus().GetCode()); c > 0 {
		status = c
	}
	return &LocalReply{Status: status, Headers: deniedHeaders(d), Body: d.GetBody(), Details: "ext_authz_denied"}
}

// authzError is the Error path: a failed RPC (e == nil) or an
// error_response. failure_mode_allow lets the request through.
func authzError(az *authzFilter, s *Stream, e *authv3.DeniedHttpResponse) *LocalReply {
	if az.failureModeAllow {
		if az.headerAdd {
			s.Headers.Add(HeaderFailureModeAllowed, "true")
		}
		return nil
	}
	s.flags.unauthorizedExternal = true
	status := az.statusOnError
	if c := int(e.GetStatus().GetCode()); c > 0 {
		status = c
	}
	return &LocalReply{Status: status, Headers: deniedHeaders(e), Body: e.GetBody(), Details: "ext_authz_error"}
}

func deniedHeaders(d *authv3.DeniedHttpResponse) []Header {
	var out []Header
	for _, hv := range d.GetHeaders() {
		if hv.GetAppend().GetValue() {
			continue // dropped on a local reply
		}
		out = append(out, Header{strings.ToLower(hv.GetHeader().GetKey()), hv.GetHeader().GetValue()})
	}
	return out
}

// matchMetadata evaluates filter_enabled_metadata against the stream's
// dynamic metadata (string, bool and presence value matchers).
func matchMetadata(m *matcherv3.MetadataMatcher, s *Stream) bool {
	st := s.Metadata(m.GetFilter())
	var v *structpb.Value
	if st != nil {
		v = structpb.NewStructValue(st)
		for _, seg := range m.GetPath() {
			v = v.GetStructValue().GetFields()[seg.GetKey()]
			if v == nil {
				break
			}
		}
	}
	matched := false
	vm := m.GetValue()
	switch {
	case v == nil:
		matched = false
	case vm.GetPresentMatch():
		matched = true
	case vm.GetMatchPattern() != nil:
		switch p := vm.GetMatchPattern().(type) {
		case *matcherv3.ValueMatcher_BoolMatch:
			_, isBool := v.GetKind().(*structpb.Value_BoolValue)
			matched = isBool && v.GetBoolValue() == p.BoolMatch
		case *matcherv3.ValueMatcher_StringMatch:
			_, isStr := v.GetKind().(*structpb.Value_StringValue)
			matched = isStr && match(p.StringMatch, v.GetStringValue())
		}
	}
	return matched != m.GetInvert()
}

func socketAddress(a netip.AddrPort) *corev3.Address {
	if !a.IsValid() {
		return nil
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: a.Addr().Unmap().String(), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(a.Port())},
	}}}
}
