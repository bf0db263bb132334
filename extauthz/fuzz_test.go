package extauthz

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/extauthz/wire"
)

// fuzzCheckRequest builds a CheckRequest from fuzzed parts. headers is a
// newline-separated list of "name:value" lines (bytes, so anything goes);
// raw selects Envoy's encode_raw_headers form.
func fuzzCheckRequest(method, path, host string, headers []byte, xff, peer string, raw bool) *authv3.CheckRequest {
	httpReq := &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Host: host}
	var list []*corev3.HeaderValue
	m := map[string]string{}
	for line := range bytes.SplitSeq(headers, []byte("\n")) {
		k, v, _ := bytes.Cut(line, []byte(":"))
		list = append(list, &corev3.HeaderValue{Key: string(k), RawValue: bytes.Clone(v)})
		m[string(k)] = string(v)
	}
	if xff != "" {
		list = append(list, &corev3.HeaderValue{Key: "x-forwarded-for", RawValue: []byte(xff)})
		m["x-forwarded-for"] = xff
	}
	if raw {
		httpReq.HeaderMap = &corev3.HeaderMap{Headers: list}
	} else {
		httpReq.Headers = m
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:  &authv3.AttributeContext_Peer{Address: socketAddr(peer, 1)},
		Request: &authv3.AttributeContext_Request{Http: httpReq},
	}}
}

func FuzzCheckRequest(f *testing.F) {
	f.Add("GET", "/", "shop.example", []byte("user-agent:"+chromeUA+"\naccept:text/html\ncookie:a=1"), "198.51.100.7, 10.0.0.1", "10.0.0.1", false)
	f.Add("POST", "/limited?x=1", "", []byte(":method:GET\n:path:/x\nuser-agent:curl/8.5.0\nx-bot-score:99\nx-request-id:\xff<b>"), "garbage", "::ffff:10.0.0.1", true)
	f.Add("", "", "", []byte(""), "", "", true)
	f.Add("PROPFIND", "/%zz/../\x00", "EXAMPLE.com:99999", []byte("x-botwarden-ja4:\xfe\xff\nx-bot-\xff:1\nUser-Agent:python-requests/2.31"), "[::1]:80,unknown", "fe80::1%eth0", false)

	cfg := DefaultConfig()
	cfg.ClientIP = ClientIPConfig{UseXFF: true, XFFNumTrustedHops: 1, UseExternalAddress: true, PeerFallback: true}
	cfg.MaxHeaderValueBytes = 1024 // small, so truncation paths run
	s := newTestServer(f, &detect.Pipeline{Engines: []detect.Engine{testEngine}, Decider: testDecider{}, Budget: -1}, Options{Config: cfg})

	f.Fuzz(func(t *testing.T, method, path, host string, headers []byte, xff, peer string, raw bool) {
		req := fuzzCheckRequest(method, path, host, headers, xff, peer, raw)

		r, _ := fromCheckRequest(req, cfg.ClientIP, cfg.limits())
		for k, v := range r.Headers {
			if strings.HasPrefix(k, ":") || k != lowerASCII(k) {
				t.Fatalf("header name %q kept", k)
			}
			if len(v) > cfg.MaxHeaderValueBytes {
				t.Fatalf("header %q: %d bytes over the cap", k, len(v))
			}
		}
		if len(r.Path) > cfg.MaxHeaderValueBytes || len(r.Host) > cfg.MaxHeaderValueBytes {
			t.Fatal("path or host over the cap")
		}
		if r.ClientIP.IsValid() && (r.ClientIP.Zone() != "" || r.ClientIP.Is4In6()) {
			t.Fatalf("client ip %v not normalised", r.ClientIP)
		}

		sameFromWire(t, req, r, cfg)

		resp, err := s.Check(context.Background(), req)
		if err != nil || resp == nil {
			t.Fatalf("Check returned %v, %v", resp, err)
		}
		// What gRPC would send: a marshal failure would reach Envoy as an
		// RPC error, not a decision.
		if _, err := proto.Marshal(resp); err != nil {
			t.Fatalf("response does not marshal: %v", err)
		}
		var opts []*corev3.HeaderValueOption
		switch codes.Code(resp.GetStatus().GetCode()) {
		case codes.OK:
			ok := resp.GetOkResponse()
			if ok == nil {
				t.Fatal("OK without ok_response")
			}
			opts = ok.GetHeaders()
			for _, name := range ok.GetHeadersToRemove() {
				if !detect.Reserved(name) {
					t.Fatalf("removing a client header that is not ours: %q", name)
				}
				for _, o := range opts {
					if o.GetHeader().GetKey() == name {
						t.Fatalf("%q both set and removed", name)
					}
				}
			}
		case codes.PermissionDenied, codes.ResourceExhausted:
			d := resp.GetDeniedResponse()
			if d == nil || d.GetStatus().GetCode() < 300 || d.GetStatus().GetCode() > 499 {
				t.Fatalf("denied response %v", d)
			}
			opts = d.GetHeaders()
		default:
			t.Fatalf("status %v", resp.GetStatus())
		}
		for _, o := range opts {
			if o.GetAppend() == nil || o.GetAppend().GetValue() || len(o.GetHeader().GetRawValue()) > 0 {
				t.Fatalf("header option %v", o)
			}
		}
		if resp.GetDynamicMetadata().GetFields()[detect.FieldBotScore] == nil {
			t.Fatal("metadata without BotScore")
		}
		// The gRPC server's answer (metadata as wire bytes, vtprotobuf)
		// must be Check's.
		data, err := wire.Codec{}.Marshal(s.checkWire(context.Background(), req))
		if err != nil {
			t.Fatalf("gRPC answer does not marshal: %v", err)
		}
		var fast authv3.CheckResponse
		if err := proto.Unmarshal(data.Materialize(), &fast); err != nil {
			t.Fatalf("gRPC answer does not decode: %v", err)
		}
		data.Free()
		// A request without x-request-id gets a random RayID per answer;
		// with one, both answers must carry the same.
		if r.ID == "" {
			unRay(t, &fast)
			unRay(t, resp)
		}
		if !proto.Equal(&fast, resp) {
			t.Fatalf("gRPC answer differs from Check's:\n Check %v\n  gRPC %v", resp, &fast)
		}
	})
}

func FuzzClientIP(f *testing.F) {
	for _, seed := range []struct {
		xff  string
		hops int
	}{
		{"203.0.113.128, 203.0.113.10, 192.0.2.5", 1},
		{"[2001:db8::1]:443, ::ffff:192.0.2.1", 0},
		{"fe80::1%eth0,unknown,,", 2},
		{"1.2.3.4:99999", 0},
		{"\xff, 0.0.0.0", 0},
	} {
		f.Add(seed.xff, seed.hops)
	}
	f.Fuzz(func(t *testing.T, xff string, hops int) {
		hops %= maxTrustedHops + 2
		got, ok := XFFClient(xff, hops)
		// Reference: split on every comma, count from the right.
		parts := strings.Split(xff, ",")
		var want, wantOK = ParseIP("")
		if xff != "" && hops >= 0 && hops < len(parts) {
			want, wantOK = ParseIP(parts[len(parts)-1-hops])
		}
		if ok != wantOK || got != want {
			t.Fatalf("XFFClient(%q, %d) = %v %v, reference %v %v", xff, hops, got, ok, want, wantOK)
		}
		if !ok {
			return
		}
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() || got.IsUnspecified() {
			t.Fatalf("address %v not normalised", got)
		}
		if back, ok := ParseIP(got.String()); !ok || back != got {
			t.Fatalf("%v does not round-trip: %v %v", got, back, ok)
		}
	})
}

// sameFromWire checks that the gRPC server's path (wire bytes decoded by
// package wire) converts req to the same request as the in-process one.
// Requests protobuf-go cannot marshal (invalid UTF-8) never reach the wire
// from Envoy, which substitutes such bytes.
// unRay replaces resp's RayID (from its metadata) wherever the answer
// carries it (upstream header, page body, metadata) with a fixed one.
func unRay(t *testing.T, resp *authv3.CheckResponse) {
	t.Helper()
	f := resp.GetDynamicMetadata().GetFields()
	ray := f[detect.FieldRayID].GetStringValue()
	if !detect.ValidRayID(ray) {
		t.Fatalf("RayID %q in the metadata", ray)
	}
	const fixed = "0000000000000000"
	f[detect.FieldRayID] = structpb.NewStringValue(fixed)
	for _, o := range append(resp.GetOkResponse().GetHeaders(), resp.GetDeniedResponse().GetHeaders()...) {
		if o.GetHeader().GetValue() == ray {
			// Options may be shared between answers: replace, not edit.
			o.Header = &corev3.HeaderValue{Key: o.GetHeader().GetKey(), Value: fixed}
		}
	}
	if d := resp.GetDeniedResponse(); d != nil {
		d.Body = strings.ReplaceAll(d.Body, ray, fixed)
	}
}

func sameFromWire(t *testing.T, req *authv3.CheckRequest, want *detect.Request, cfg Config) {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		return
	}
	var w wire.Request
	if err := w.Unmarshal(b); err != nil {
		t.Fatalf("wire rejected what protobuf-go marshalled: %v", err)
	}
	got, _ := fromCheckRequest(&w.CheckRequest, cfg.ClientIP, cfg.limits())
	if len(got.Headers) != len(want.Headers) {
		t.Fatalf("wire path kept %d headers, in-process %d", len(got.Headers), len(want.Headers))
	}
	for k, v := range want.Headers {
		// Names differing only in case are joined in map order, which
		// protobuf-go does not keep: compare the joined parts as sets.
		if g := got.Headers[k]; g != v && !sameParts(g, v) {
			t.Fatalf("header %q: wire path %q, in-process %q", k, g, v)
		}
	}
	if got.Method != want.Method || got.Path != want.Path || got.Host != want.Host || got.Scheme != want.Scheme ||
		got.PeerIP != want.PeerIP || got.ClientIP != want.ClientIP || !slices.Equal(got.HeaderOrder, want.HeaderOrder) {
		t.Fatalf("wire path %+v, in-process %+v", got, want)
	}
}

func sameParts(a, b string) bool {
	pa, pb := strings.Split(a, ","), strings.Split(b, ",")
	slices.Sort(pa)
	slices.Sort(pb)
	return slices.Equal(pa, pb)
}
