package envoy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/botwarden/botwarden/detect"
)

// bootstrapFiles is every Envoy config shipped in this directory: a config
// added later (envoy-wasm.yaml) is validated without touching this test.
func bootstrapFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("expected envoy.yaml and envoy-http.yaml, found %v", files)
	}
	return files
}

func mustParse(t *testing.T, file string) *bootstrapv3.Bootstrap {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBootstrap(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return b
}

func TestBootstrapsValidate(t *testing.T) {
	for _, f := range bootstrapFiles(t) {
		t.Run(f, func(t *testing.T) { mustParse(t, f) })
	}
}

// TestBootstrapsBotwardenChain checks the properties the design depends on,
// in every shipped config: filter order, the explicit timeout, fail-open,
// HTTP/2 to botwarden, the unchecked challenge route, the ALS fields.
func TestBootstrapsBotwardenChain(t *testing.T) {
	for _, f := range bootstrapFiles(t) {
		t.Run(f, func(t *testing.T) {
			b := mustParse(t, f)
			hcms := FindAll[*hcmv3.HttpConnectionManager](b)
			if len(hcms) != 1 {
				t.Fatalf("want 1 http_connection_manager, got %d", len(hcms))
			}
			hcm := hcms[0]
			if !hcm.GetUseRemoteAddress().GetValue() {
				t.Error("use_remote_address must be set explicitly at the edge")
			}
			if !hcm.GetNormalizePath().GetValue() || !hcm.GetMergeSlashes() {
				t.Error("normalize_path and merge_slashes must be on: the unchecked route matches by prefix")
			}
			if got := hcm.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction().String(); got != "DROP_HEADER" {
				t.Errorf("headers_with_underscores_action = %s, want DROP_HEADER", got)
			}

			var names []string
			for _, hf := range hcm.GetHttpFilters() {
				names = append(names, hf.GetName())
			}
			mutation, authz, router := index(names, "envoy.filters.http.header_mutation"), index(names, "envoy.filters.http.ext_authz"), index(names, "envoy.filters.http.router")
			if mutation < 0 || authz < 0 || router != len(names)-1 || mutation > authz {
				t.Fatalf("filter order %v: want header_mutation before ext_authz, router last", names)
			}
			// A config with a TLS inspector has a ClientHello to fingerprint,
			// so it sets the JA4 header; one without only strips it.
			tlsEdge := len(FindAll[*tlsinspectorv3.TlsInspector](b)) > 0
			checkStripList(t, FindAll[*headermutationv3.HeaderMutation](b), tlsEdge)

			az := FindAll[*extauthzv3.ExtAuthz](b)
			if len(az) != 1 {
				t.Fatalf("want 1 ext_authz, got %d", len(az))
			}
			checkExtAuthz(t, az[0])
			checkRoutes(t, hcm.GetRouteConfig())
			checkALS(t, FindAll[*alsv3.HttpGrpcAccessLogConfig](b))

			clusters := map[string]bool{}
			for _, c := range b.GetStaticResources().GetClusters() {
				opts := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
				h2 := false
				if opts != nil {
					var po httpv3.HttpProtocolOptions
					if err := opts.UnmarshalTo(&po); err != nil {
						t.Fatal(err)
					}
					h2 = po.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
				}
				clusters[c.GetName()] = h2
			}
			for _, grpc := range []string{"botwarden_authz", "botwarden_als"} {
				if h2, ok := clusters[grpc]; !ok || !h2 {
					t.Errorf("cluster %s: present=%v http2=%v; Envoy-gRPC needs explicit HTTP/2", grpc, ok, h2)
				}
			}
			for _, c := range []string{"botwarden_http", "origin"} {
				if _, ok := clusters[c]; !ok {
					t.Errorf("cluster %s missing", c)
				}
			}
		})
	}
}

func checkExtAuthz(t *testing.T, az *extauthzv3.ExtAuthz) {
	t.Helper()
	if az.GetGrpcService().GetEnvoyGrpc().GetClusterName() != "botwarden_authz" {
		t.Errorf("ext_authz cluster = %q", az.GetGrpcService().GetEnvoyGrpc().GetClusterName())
	}
	// Explicit, and below Envoy's 200 ms default (botwarden answers in 20 ms).
	if d := az.GetGrpcService().GetTimeout(); d == nil || d.AsDuration() <= 0 || d.AsDuration() > 200*time.Millisecond {
		t.Errorf("ext_authz timeout = %v, want explicit and ≤ 200ms", d)
	}
	if az.GetTransportApiVersion().String() != "V3" {
		t.Errorf("transport_api_version = %s", az.GetTransportApiVersion())
	}
	if !az.GetFailureModeAllow() || !az.GetFailureModeAllowHeaderAdd() {
		t.Error("failure_mode_allow and failure_mode_allow_header_add must be on")
	}
	if az.GetStatusOnError().GetCode() == 0 {
		t.Error("status_on_error must be explicit")
	}
	for _, p := range az.GetDisallowedHeaders().GetPatterns() {
		if p.GetExact() == "cookie" {
			t.Error("cookie must reach botwarden: the session cookie lives there")
		}
	}
}

// checkStripList: every verdict header botwarden sets upstream is removed
// from client requests by Envoy itself (fail-open would otherwise pass a
// spoofed copy), and, at a TLS edge (setsJA4), the JA4 header is removed
// before it is set.
func checkStripList(t *testing.T, hms []*headermutationv3.HeaderMutation, setsJA4 bool) {
	t.Helper()
	if len(hms) != 1 {
		t.Fatalf("want 1 header_mutation, got %d", len(hms))
	}
	removed := map[string]int{}
	setJA4 := -1
	for i, m := range hms[0].GetMutations().GetRequestMutations() {
		if r := m.GetRemove(); r != "" {
			removed[r] = i
		}
		if a := m.GetAppend(); a != nil && a.GetHeader().GetKey() == detect.HeaderJA4 {
			setJA4 = i
			if a.GetHeader().GetValue() != "%TLS_JA4_FINGERPRINT%" || a.GetAppendAction().String() != "OVERWRITE_IF_EXISTS_OR_ADD" {
				t.Errorf("JA4 header: %v", a)
			}
		}
	}
	for _, h := range []string{detect.HeaderScore, detect.HeaderScoreSrc, detect.HeaderCategory, detect.HeaderTags, detect.HeaderVerified,
		detect.HeaderVerifiedCat, detect.HeaderDetectionIDs, detect.HeaderAction, detect.HeaderRule, detect.HeaderJSDetection, detect.HeaderJA4} {
		if _, ok := removed[h]; !ok {
			t.Errorf("header_mutation does not remove client-sent %s", h)
		}
	}
	switch {
	case setsJA4 && setJA4 < 0:
		t.Errorf("a TLS edge must set %s from %%TLS_JA4_FINGERPRINT%%", detect.HeaderJA4)
	case setsJA4 && removed[detect.HeaderJA4] > setJA4:
		t.Error("the JA4 header must be removed before it is set")
	}
}

func checkRoutes(t *testing.T, rc *routev3.RouteConfiguration) {
	t.Helper()
	var challenge, login, catchAll bool
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			per := r.GetTypedPerFilterConfig()["envoy.filters.http.ext_authz"]
			var pr extauthzv3.ExtAuthzPerRoute
			if per != nil {
				if err := per.UnmarshalTo(&pr); err != nil {
					t.Fatal(err)
				}
			}
			switch r.GetMatch().GetPrefix() {
			case "/.well-known/botwarden/":
				challenge = pr.GetDisabled() && r.GetRoute().GetCluster() == "botwarden_http"
			case "/login":
				ce := pr.GetCheckSettings().GetContextExtensions()
				login = ce["botwarden_mode"] == "mitigate" && ce["route"] == "login"
			case "/":
				catchAll = per == nil
			}
		}
	}
	if !challenge {
		t.Error("want /.well-known/botwarden/ routed to botwarden_http with ext_authz disabled")
	}
	if !login {
		t.Error("want /login with context_extensions botwarden_mode=mitigate, route=login")
	}
	if !catchAll {
		t.Error("want a checked catch-all route: requests matching no route skip ext_authz")
	}
}

func checkALS(t *testing.T, als []*alsv3.HttpGrpcAccessLogConfig) {
	t.Helper()
	if len(als) != 1 {
		t.Fatalf("want 1 gRPC access log, got %d", len(als))
	}
	c := als[0].GetCommonConfig()
	if c.GetLogName() != "botwarden" || c.GetGrpcService().GetEnvoyGrpc().GetClusterName() != "botwarden_als" {
		t.Errorf("ALS log_name/cluster = %q/%q", c.GetLogName(), c.GetGrpcService().GetEnvoyGrpc().GetClusterName())
	}
	if c.GetBufferFlushInterval().AsDuration() != time.Second {
		t.Errorf("buffer_flush_interval = %v", c.GetBufferFlushInterval())
	}
	want := []string{"accept", "accept-language", "accept-encoding", "sec-ch-ua", "sec-ch-ua-platform", "sec-fetch-site", "sec-fetch-mode", "cookie", detect.HeaderJA4, "referer"}
	for _, h := range want {
		if index(als[0].GetAdditionalRequestHeadersToLog(), h) < 0 {
			t.Errorf("ALS does not log request header %s", h)
		}
	}
	for _, h := range []string{"content-type", "set-cookie"} {
		if index(als[0].GetAdditionalResponseHeadersToLog(), h) < 0 {
			t.Errorf("ALS does not log response header %s", h)
		}
	}
}

func TestEdgeFingerprints(t *testing.T) {
	b := mustParse(t, "envoy.yaml")
	ti := FindAll[*tlsinspectorv3.TlsInspector](b)
	if len(ti) != 1 || !ti[0].GetEnableJa4Fingerprinting().GetValue() || !ti[0].GetEnableJa3Fingerprinting().GetValue() {
		t.Fatalf("envoy.yaml: want tls_inspector with JA3 and JA4 on, got %v", ti)
	}
	if !FindAll[*extauthzv3.ExtAuthz](b)[0].GetIncludeTlsSession() {
		t.Error("include_tls_session must be on at the TLS edge")
	}
}

// TestBootstrapRejects proves the validation can fail: each case breaks the
// shipped config in one way that Envoy would reject (or silently ignore).
func TestBootstrapRejects(t *testing.T) {
	orig, err := os.ReadFile("envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, old, new, wantErr string
	}{
		{"typo in an ext_authz field", "failure_mode_allow: true", "failure_mode_alow: true", "failure_mode_alow"},
		{"typo in a bootstrap field", "static_resources:", "static_resource:", "static_resource"},
		{"unknown @type", "extensions.filters.http.router.v3.Router", "extensions.filters.http.router.v3.Ruoter", "Ruoter"},
		{"unknown enum", "append_action: OVERWRITE_IF_EXISTS_OR_ADD", "append_action: OVERWRITE", "OVERWRITE"},
		{"PGV rule inside an Any (empty ALS log_name)", "log_name: botwarden", `log_name: ""`, "LogName"},
		{"PGV rule inside an Any (zero flush interval)", "buffer_flush_interval: 1s", "buffer_flush_interval: 0s", "BufferFlushInterval"},
		{"PGV enum rule inside an Any", "status_on_error: {code: ServiceUnavailable}", "status_on_error: {code: 999}", "Code"},
		{"PGV rule outside Anys (port out of range)", "port_value: 8443", "port_value: 70000", "PortValue"},
		{"broken YAML", "  listeners:", "  listeners: [", "yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(string(orig), c.old) {
				t.Fatalf("envoy.yaml no longer contains %q; update the case", c.old)
			}
			bad := strings.Replace(string(orig), c.old, c.new, 1)
			_, err := ParseBootstrap([]byte(bad))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %q does not mention %q", err, c.wantErr)
			}
		})
	}
}

func TestCheckTypeURLsReportsEveryPath(t *testing.T) {
	js := []byte(`{"a":{"@type":"type.googleapis.com/nope.One"},"b":[{"@type":"type.googleapis.com/google.protobuf.StringValue"},{"@type":"x/nope.Two"}]}`)
	err := CheckTypeURLs(js)
	if err == nil {
		t.Fatal("accepted unknown types")
	}
	for _, want := range []string{".a: @type", "nope.One", ".b[1]: @type", "nope.Two"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "StringValue") {
		t.Errorf("a known type was reported: %v", err)
	}
}

func index(list []string, s string) int {
	for i, e := range list {
		if e == s {
			return i
		}
	}
	return -1
}
