package extauthz

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestFromCheckRequestMapHeaders(t *testing.T) {
	req := checkRequest("/a/b?q=1", chromeUA, map[string]string{
		"x-forwarded-for": "198.51.100.7, 192.0.2.5",
		"cookie":          "a=1; b=2",
	})
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	req.Attributes.Request.Time = timestamppb.New(ts)
	req.Attributes.ContextExtensions = map[string]string{"site": "shop"}

	r := FromCheckRequest(req, DefaultConfig())
	if r.Method != "GET" || r.Path != "/a/b?q=1" || r.Host != "shop.example" || r.Scheme != "https" || r.Protocol != "HTTP/2" {
		t.Fatalf("request line: %+v", r)
	}
	if r.ID != "req-123" {
		t.Fatalf("ID = %q, want the x-request-id, not the stream id", r.ID)
	}
	if !r.Time.Equal(ts) {
		t.Fatalf("time = %v", r.Time)
	}
	for k := range r.Headers {
		if strings.HasPrefix(k, ":") {
			t.Fatalf("pseudo-header %s kept", k)
		}
	}
	if r.UserAgent() != chromeUA || r.Cookie("b") != "2" || r.ContextExtensions["site"] != "shop" {
		t.Fatalf("headers: %+v", r.Headers)
	}
	if r.HeaderOrder != nil {
		t.Fatalf("map headers have no order, got %v", r.HeaderOrder)
	}
	// Default config: XFF not trusted, the peer is the client.
	if r.PeerIP != netip.MustParseAddr("192.0.2.5") || r.ClientIP != r.PeerIP {
		t.Fatalf("peer %v client %v", r.PeerIP, r.ClientIP)
	}
	cfg := DefaultConfig()
	cfg.ClientIP = ClientIPConfig{UseXFF: true, XFFNumTrustedHops: 1}
	if r := FromCheckRequest(req, cfg); r.ClientIP != netip.MustParseAddr("198.51.100.7") {
		t.Fatalf("xff client = %v", r.ClientIP)
	}
}

func TestFromCheckRequestRawHeaders(t *testing.T) {
	raw := func(k, v string) *corev3.HeaderValue { return &corev3.HeaderValue{Key: k, RawValue: []byte(v)} }
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
				raw(":method", "POST"), raw(":path", "/login"), raw(":authority", "Shop.Example:8443"), raw(":scheme", "https"),
				raw("user-agent", chromeUA),
				raw("accept", "text/html"),
				raw("cookie", "a=1"),
				raw("Accept-Language", "en"),
				raw("cookie", "b=2"),
				raw("x-bin", "\xff\xfe\x00ok"),
			}},
		}},
	}}
	r := FromCheckRequest(req, DefaultConfig())
	if r.Method != "POST" || r.Path != "/login" || r.Host != "shop.example:8443" || r.Scheme != "https" {
		t.Fatalf("request line from pseudo-headers: %+v", r)
	}
	wantOrder := []string{"user-agent", "accept", "cookie", "accept-language", "x-bin"}
	if !slices.Equal(r.HeaderOrder, wantOrder) {
		t.Fatalf("order = %v, want %v", r.HeaderOrder, wantOrder)
	}
	if r.Headers["cookie"] != "a=1,b=2" {
		t.Fatalf("duplicates: %q", r.Headers["cookie"])
	}
	if r.Headers["x-bin"] != "\xff\xfe\x00ok" {
		t.Fatalf("raw bytes not kept: %q", r.Headers["x-bin"])
	}
	if r.Time.IsZero() {
		t.Fatal("missing time must default to now")
	}
}

func TestFromCheckRequestMissingParts(t *testing.T) {
	tests := []struct {
		name string
		req  *authv3.CheckRequest
	}{
		{"nil request", nil},
		{"no attributes", &authv3.CheckRequest{}},
		{"no request", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{}}},
		{"no http", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{}}}},
		{"empty source", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source:  &authv3.AttributeContext_Peer{Address: &corev3.Address{}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{}},
		}}},
		{"pipe peer", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/tmp/s"}}}},
		}}},
		{"empty header map", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{}}},
		}}},
		{"nil entries in header map", &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{
				Headers: []*corev3.HeaderValue{nil, {Key: ""}, {Key: "a", Value: "b"}},
			}}},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := FromCheckRequest(tt.req, DefaultConfig())
			if r == nil || r.Headers == nil {
				t.Fatal("want an empty request, not nil")
			}
			if r.ClientIP.IsValid() {
				t.Fatalf("client ip from nowhere: %v", r.ClientIP)
			}
		})
	}
}

func TestFromCheckRequestOversized(t *testing.T) {
	big := strings.Repeat("A", 70<<10)
	req := checkRequest("/"+big, big, map[string]string{"cookie": big})
	req.Attributes.Request.Http.Host = big
	cfg := DefaultConfig()
	r, iss := fromCheckRequest(req, cfg.ClientIP, cfg.limits())
	if iss&issueTruncated == 0 {
		t.Fatal("truncation not flagged")
	}
	for name, v := range map[string]string{"user-agent": r.UserAgent(), "cookie": r.Headers["cookie"], "path": r.Path, "host": r.Host} {
		if len(v) != DefaultMaxHeaderValueBytes {
			t.Errorf("%s: %d bytes, want the cap %d", name, len(v), DefaultMaxHeaderValueBytes)
		}
	}

	// Raw form: duplicates that only together exceed the cap.
	half := strings.Repeat("b", DefaultMaxHeaderValueBytes/2+10)
	raw := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
		HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: "x", RawValue: []byte(half)}, {Key: "x", RawValue: []byte(half)}, {Key: "y", RawValue: []byte(big)},
		}},
	}}}}
	r, iss = fromCheckRequest(raw, cfg.ClientIP, cfg.limits())
	if iss&issueTruncated == 0 || len(r.Headers["x"]) != DefaultMaxHeaderValueBytes || len(r.Headers["y"]) != DefaultMaxHeaderValueBytes {
		t.Fatalf("raw truncation: x=%d y=%d", len(r.Headers["x"]), len(r.Headers["y"]))
	}
}

func TestFromCheckRequestTooManyHeaders(t *testing.T) {
	h := map[string]string{}
	var list []*corev3.HeaderValue
	for i := range 1000 {
		k := "x-h-" + strconv.Itoa(i)
		h[k] = "v"
		list = append(list, &corev3.HeaderValue{Key: k, RawValue: []byte("v")})
	}
	cfg := DefaultConfig()
	for _, req := range []*authv3.CheckRequest{
		{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Headers: h}}}},
		{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{Headers: list}}}}},
	} {
		r, iss := fromCheckRequest(req, cfg.ClientIP, cfg.limits())
		if iss&issueTooManyHeaders == 0 || len(r.Headers) != DefaultMaxHeaders {
			t.Fatalf("kept %d headers (flag %v)", len(r.Headers), iss&issueTooManyHeaders != 0)
		}
		if r.HeaderOrder != nil && len(r.HeaderOrder) != DefaultMaxHeaders {
			t.Fatalf("order has %d names", len(r.HeaderOrder))
		}
	}
}

func TestFromCheckRequestQueryField(t *testing.T) {
	req := checkRequest("/p", chromeUA, nil)
	req.Attributes.Request.Http.Query = "a=1"
	if r := FromCheckRequest(req, DefaultConfig()); r.Path != "/p?a=1" {
		t.Fatalf("path %q", r.Path)
	}
}

func TestFromCheckRequestIPv6Peer(t *testing.T) {
	for in, want := range map[string]string{
		"2001:db8::9":      "2001:db8::9",
		"::ffff:192.0.2.8": "192.0.2.8",
		"fe80::1%eth0":     "fe80::1",
		"not-an-address":   "",
	} {
		req := checkRequest("/", chromeUA, nil)
		req.Attributes.Source.Address = socketAddr(in, 1)
		r := FromCheckRequest(req, DefaultConfig())
		if want == "" {
			if r.PeerIP.IsValid() {
				t.Errorf("%s: got %v", in, r.PeerIP)
			}
			continue
		}
		if r.PeerIP != netip.MustParseAddr(want) || r.ClientIP != r.PeerIP {
			t.Errorf("%s: peer %v client %v", in, r.PeerIP, r.ClientIP)
		}
	}
}
