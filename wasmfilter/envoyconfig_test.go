package wasmfilter_test

// The Envoy and Istio configurations that deploy the filter: parsed with
// the envoy package's strict validation (go-control-plane types, PGV), then
// checked for what the fast path's safety depends on, and their plugin
// configuration parsed by the filter's own ParseConfig.

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	headertometadatav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_to_metadata/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	envoycfg "github.com/botwarden/botwarden/envoy"
	"github.com/botwarden/botwarden/wasmfilter"
)

// envoyDir is the repository's envoy/ directory.
var envoyDir = filepath.Join("..", "envoy")

// pluginConfig checks the parts of a Wasm PluginConfig the design needs
// and returns the filter configuration it carries.
func pluginConfig(t *testing.T, pc *wasmv3.PluginConfig) wasmfilter.Config {
	t.Helper()
	if pc.GetFailurePolicy() != wasmv3.FailurePolicy_FAIL_OPEN {
		t.Errorf("failure_policy = %s, want FAIL_OPEN (the default fails every request with 503 when the VM dies)", pc.GetFailurePolicy())
	}
	vm := pc.GetVmConfig()
	if vm.GetRuntime() != "envoy.wasm.runtime.v8" || vm.GetCode().GetLocal().GetFilename() == "" {
		t.Errorf("vm_config: runtime %q, code %v", vm.GetRuntime(), vm.GetCode())
	}
	var sv wrapperspb.StringValue
	if err := pc.GetConfiguration().UnmarshalTo(&sv); err != nil {
		t.Fatalf("configuration is not a StringValue: %v", err)
	}
	cfg, err := wasmfilter.ParseConfig([]byte(sv.GetValue()))
	if err != nil {
		t.Fatalf("the filter refuses the shipped configuration: %v", err)
	}
	return cfg
}

func TestEnvoyWasmConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(envoyDir, "envoy-wasm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := envoycfg.ParseBootstrap(data)
	if err != nil {
		t.Fatal(err)
	}
	hcms := envoycfg.FindAll[*hcmv3.HttpConnectionManager](b)
	if len(hcms) != 1 {
		t.Fatalf("%d http_connection_managers", len(hcms))
	}
	var names []string
	for _, f := range hcms[0].GetHttpFilters() {
		names = append(names, f.GetName())
	}
	want := []string{"envoy.filters.http.header_mutation", "envoy.filters.http.wasm", "envoy.filters.http.header_to_metadata", "envoy.filters.http.ext_authz", "envoy.filters.http.router"}
	if !slices.Equal(names, want) {
		t.Fatalf("filter chain %v, want %v", names, want)
	}

	wasms := envoycfg.FindAll[*wasmfilterv3.Wasm](b)
	if len(wasms) != 1 {
		t.Fatalf("%d wasm filters", len(wasms))
	}
	cfg := pluginConfig(t, wasms[0].GetConfig())

	// 1. The marker is stripped before the Wasm filter runs, so a client
	//    copy cannot survive a failed VM.
	stripped := false
	for _, m := range envoycfg.FindAll[*headermutationv3.HeaderMutation](b)[0].GetMutations().GetRequestMutations() {
		stripped = stripped || m.GetRemove() == cfg.SkipHeader
	}
	if !stripped {
		t.Errorf("header_mutation does not remove client copies of %s", cfg.SkipHeader)
	}
	// 2. The marker becomes metadata and is removed.
	h2m := envoycfg.FindAll[*headertometadatav3.Config](b)
	if len(h2m) != 1 || len(h2m[0].GetRequestRules()) != 1 {
		t.Fatalf("header_to_metadata: %v", h2m)
	}
	rule := h2m[0].GetRequestRules()[0]
	kv := rule.GetOnHeaderPresent()
	if rule.GetHeader() != cfg.SkipHeader || !rule.GetRemove() || kv.GetValue() != "" || kv.GetType() != headertometadatav3.Config_STRING {
		t.Fatalf("header_to_metadata rule %v: want %s -> metadata (its own value, STRING), header removed", rule, cfg.SkipHeader)
	}
	// 3. ext_authz skips exactly the requests carrying that metadata = "1".
	az := envoycfg.FindAll[*extauthzv3.ExtAuthz](b)
	if len(az) != 1 {
		t.Fatalf("%d ext_authz filters", len(az))
	}
	m := az[0].GetFilterEnabledMetadata()
	if m.GetFilter() != kv.GetMetadataNamespace() || len(m.GetPath()) != 1 || m.GetPath()[0].GetKey() != kv.GetKey() ||
		m.GetValue().GetStringMatch().GetExact() != "1" || !m.GetInvert() {
		t.Fatalf("filter_enabled_metadata %v does not skip on %s.%s == \"1\" (inverted)", m, kv.GetMetadataNamespace(), kv.GetKey())
	}
	if az[0].GetDenyAtDisable() != nil {
		t.Error("deny_at_disable would deny every fast-path request")
	}
	if az[0].GetFilterEnabled() != nil {
		t.Error("filter_enabled (sampling) would skip requests without a cookie")
	}
}

func TestIstioWasmEnvoyFilter(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(envoyDir, "istio", "envoyfilter-wasm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := envoycfg.ParseManifests(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Kind != "EnvoyFilter" {
		t.Fatalf("want one EnvoyFilter, got %v", ms)
	}
	ef := ms[0].Spec.(*networkingv1alpha3.EnvoyFilter)
	if ef.GetPriority() <= 0 {
		t.Error("priority must place these patches after botwarden-ja4's (priority 0)")
	}
	type step struct{ op, anchor, name string }
	var steps []step
	var cfg wasmfilter.Config
	for _, p := range ef.GetConfigPatches() {
		if p.GetApplyTo() != networkingv1alpha3.EnvoyFilter_HTTP_FILTER || p.GetMatch().GetContext() != networkingv1alpha3.EnvoyFilter_GATEWAY {
			t.Fatalf("unexpected patch %v", p)
		}
		js, err := p.GetPatch().GetValue().MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var hf hcmv3.HttpFilter
		if err := envoycfg.UnmarshalYAML(js, &hf); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, step{p.GetPatch().GetOperation().String(), p.GetMatch().GetListener().GetFilterChain().GetFilter().GetSubFilter().GetName(), hf.GetName()})
		if w := envoycfg.FindAll[*wasmfilterv3.Wasm](&hf); len(w) == 1 {
			cfg = pluginConfig(t, w[0].GetConfig())
		}
		for _, hm := range envoycfg.FindAll[*headermutationv3.HeaderMutation](&hf) {
			rm := hm.GetMutations().GetRequestMutations()
			if len(rm) != 1 || rm[0].GetRemove() != "x-botwarden-skip-authz" {
				t.Errorf("%s: want it to remove the marker only: %v", hf.GetName(), rm)
			}
		}
	}
	// Patches apply in order: two INSERT_BEFORE rbac give strip, cookie, rbac.
	want := []step{
		{"INSERT_BEFORE", "envoy.filters.http.rbac", "botwarden.fastpath_strip"},
		{"INSERT_BEFORE", "envoy.filters.http.rbac", "botwarden.cookie"},
		{"INSERT_AFTER", "envoy.filters.http.ext_authz", "botwarden.fastpath_drop"},
	}
	if !slices.Equal(steps, want) {
		t.Fatalf("patches %v, want %v", steps, want)
	}
	if cfg.SkipHeader != "x-botwarden-skip-authz" {
		t.Errorf("plugin skip_header %q differs from the header the patches strip", cfg.SkipHeader)
	}
}
