package gateway

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/botwarden/botwarden/envoy"
)

var clusters = map[string]string{
	"botwarden_authz": "127.0.0.1:9101", "botwarden_als": "127.0.0.1:9101",
	"botwarden_http": "127.0.0.1:9102", "origin": "127.0.0.1:9103",
}

// TestShippedConfigsCompile: every config in envoy/ runs in the in-repo
// gateway (envoy-wasm.yaml needs a Wasm host: e2e/wasm runs it with one).
func TestShippedConfigsCompile(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "envoy", "*.yaml"))
	if len(files) < 2 {
		t.Fatalf("configs: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := loadConfig(Options{Config: f})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := compile(b, Options{}); err != nil {
				// Only the Wasm config may need a host; any other asking
				// for one is a failure, not a skip.
				if filepath.Base(f) == "envoy-wasm.yaml" && strings.Contains(err.Error(), "Options.Wasm") {
					t.Skip("needs a Wasm host; e2e/wasm runs this config with one:", err)
				}
				t.Fatal(err)
			}
		})
	}
}

// TestRefusesWhatItDoesNotReproduce: a config using something the in-repo
// gateway would silently get wrong is an error at start.
func TestRefusesWhatItDoesNotReproduce(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("..", "..", "envoy", "envoy-http.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, old, new, want string }{
		{"request body buffering", "              validate_mutations: true", "              validate_mutations: true\n              with_request_body: {max_request_bytes: 1024}", "with_request_body"},
		{"http_service", "envoy_grpc: {cluster_name: botwarden_authz}", "envoy_grpc: {cluster_name: botwarden_authz}\n                initial_metadata: [{key: a, value: b}]", "initial_metadata"},
		{"route rewrite", "route: {cluster: origin, timeout: 15s}\n          http_filters", "route: {cluster: origin, timeout: 15s, prefix_rewrite: /x}\n          http_filters", "prefix_rewrite"},
		{"a filter it does not know", "          - name: envoy.filters.http.router\n", "          - name: e2e.not_a_filter\n            typed_config: {\"@type\": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog}\n          - name: envoy.filters.http.router\n", "not reproduced"},
		{"a formatter it does not know", "                request_mutations:\n", "                request_mutations:\n                - append: {header: {key: x-up, value: \"%UPSTREAM_HOST%\"}}\n", "UPSTREAM_HOST"},
		{"gRPC cluster without HTTP/2", "  - name: botwarden_authz\n    type: STATIC\n    connect_timeout: 0.25s\n    typed_extension_protocol_options:\n      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n        \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n        explicit_http_config: {http2_protocol_options: {}}\n", "  - name: botwarden_authz\n    type: STATIC\n    connect_timeout: 0.25s\n", "HTTP/2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(string(orig), c.old) {
				t.Fatalf("envoy-http.yaml no longer contains %q", c.old)
			}
			f := filepath.Join(t.TempDir(), "envoy.yaml")
			if err := os.WriteFile(f, []byte(strings.Replace(string(orig), c.old, c.new, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := StartInRepo(Options{Config: f, Clusters: clusters})
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
	if _, err := StartInRepo(Options{Clusters: map[string]string{"origin": "127.0.0.1:1"}}); err == nil || !strings.Contains(err.Error(), "Options.Clusters") {
		t.Errorf("missing cluster addresses: %v", err)
	}
}

// TestRenderForEnvoy: what the Envoy gateway hands to Envoy is still a
// valid bootstrap, on loopback, with the overrides and the tap applied.
func TestRenderForEnvoy(t *testing.T) {
	for _, file := range []string{"envoy-http.yaml", "envoy.yaml"} {
		t.Run(file, func(t *testing.T) {
			opts := Options{Config: filepath.Join("..", "..", "envoy", file), Clusters: withCluster(clusters, tapCluster, "127.0.0.1:9104"),
				FailureModeAllow: boolp(false), StatusOnError: 502, AuthzTimeout: 50 * time.Millisecond, XFFNumTrustedHops: u32p(2)}
			b, err := loadConfig(opts)
			if err != nil {
				t.Fatal(err)
			}
			// Counted before rendering, so a render that drops the TLS
			// contexts cannot pass the certificate check by having none.
			tlsContexts := len(envoy.FindAll[*tlsv3.DownstreamTlsContext](b))
			dir := t.TempDir()
			if err := renderForEnvoy(b, opts, dir); err != nil {
				t.Fatal(err)
			}
			js, err := protojson.MarshalOptions{Resolver: protoregistry.GlobalTypes}.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			b2, err := envoy.ParseBootstrap(js)
			if err != nil {
				t.Fatalf("rendered config does not validate: %v", err)
			}
			addrs := envoy.FindAll[*corev3.SocketAddress](b2)
			if len(addrs) == 0 {
				t.Fatal("no socket addresses in the rendered config")
			}
			for _, sa := range addrs {
				if sa.GetAddress() != "127.0.0.1" {
					t.Errorf("address %s left in the rendered config", sa.GetAddress())
				}
			}
			az := envoy.FindAll[*extauthzv3.ExtAuthz](b2)[0]
			if az.GetFailureModeAllow() || az.GetStatusOnError().GetCode() != 502 || az.GetGrpcService().GetTimeout().AsDuration() != 50*time.Millisecond {
				t.Errorf("overrides not applied: %v", az)
			}
			if envoy.FindAll[*hcmv3.HttpConnectionManager](b2)[0].GetXffNumTrustedHops() != 2 {
				t.Error("xff_num_trusted_hops override not applied")
			}
			als := envoy.FindAll[*alsv3.HttpGrpcAccessLogConfig](b2)
			if len(als) != 2 || als[1].GetCommonConfig().GetGrpcService().GetEnvoyGrpc().GetClusterName() != tapCluster {
				t.Errorf("want the config's ALS plus the tap, got %d", len(als))
			}
			tcs := envoy.FindAll[*tlsv3.DownstreamTlsContext](b2)
			if len(tcs) != tlsContexts {
				t.Errorf("%d TLS contexts rendered, the config has %d", len(tcs), tlsContexts)
			}
			for _, tc := range tcs {
				crt := tc.GetCommonTlsContext().GetTlsCertificates()[0].GetCertificateChain().GetFilename()
				if _, err := os.Stat(crt); err != nil {
					t.Errorf("certificate %s: %v", crt, err)
				}
			}
		})
	}
}

// TestRealEnvoy runs the shipped plain-HTTP config in a real Envoy when
// ENVOY_BIN names one. The scenarios in package e2e run against it too.
func TestRealEnvoy(t *testing.T) {
	bin := os.Getenv("ENVOY_BIN")
	if bin == "" {
		t.Skip("ENVOY_BIN not set: no Envoy binary here; the in-repo gateway covers these semantics")
	}
	d := &authzDouble{respond: allow}
	authzAddr := startAuthz(t, d)
	rec := &Recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gw, err := StartEnvoy(ctx, bin, Options{Tap: rec, Clusters: map[string]string{
		"botwarden_authz": authzAddr, "botwarden_als": authzAddr, "botwarden_http": startEcho(t, "botwarden_http"), "origin": startEcho(t, "origin"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	resp, body := send(t, gw.URL(), "GET", "/login", "X-Bot-Score", "99")
	if resp.StatusCode != 200 || origin(t, body).has("x-bot-score") {
		t.Fatalf("%d %s\n%s", resp.StatusCode, body, gw.Log())
	}
	ce := d.last(t).GetAttributes().GetContextExtensions()
	if ce["route"] != "login" {
		t.Errorf("context_extensions = %v", ce)
	}
}
