package checkwire

import (
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// FromProto is the Request that an already decoded CheckRequest stands
// for: what Unmarshal returns for its wire bytes (headers aside, in map
// order). In-process callers that hold an authv3.CheckRequest use it so
// that one conversion serves both; the tests use it as the reference
// Unmarshal must agree with. The context-extension map is req's own.
func FromProto(req *authv3.CheckRequest) Request {
	attrs := req.GetAttributes()
	http := attrs.GetRequest().GetHttp()
	v := Request{
		HasHTTP:  http != nil,
		ID:       http.GetId(),
		Method:   http.GetMethod(),
		Path:     http.GetPath(),
		Host:     http.GetHost(),
		Scheme:   http.GetScheme(),
		Query:    http.GetQuery(),
		Protocol: http.GetProtocol(),
	}
	for k, val := range http.GetHeaders() {
		v.Headers = append(v.Headers, Header{k, val})
	}
	for _, h := range http.GetHeaderMap().GetHeaders() {
		v.HeaderMap = append(v.HeaderMap, RawHeader{h.GetKey(), h.GetValue(), h.GetRawValue()})
	}
	if t := attrs.GetRequest().GetTime(); t != nil && t.IsValid() {
		v.Time, v.HasTime = t.AsTime(), true
	}
	if sa := attrs.GetSource().GetAddress().GetSocketAddress(); sa != nil {
		v.PeerAddress, v.HasSocketAddress = sa.GetAddress(), true
	}
	if ext := attrs.GetContextExtensions(); len(ext) > 0 {
		v.ContextExtensions = ext
	}
	return v
}
