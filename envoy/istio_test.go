package envoy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	telemetryv1alpha1 "istio.io/api/telemetry/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/botwarden/botwarden/config"
)

// istioManifests parses every file in istio/ and indexes the objects by kind.
func istioManifests(t *testing.T) map[string][]Manifest {
	t.Helper()
	files, err := filepath.Glob("istio/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in istio/: %v", err)
	}
	byKind := map[string][]Manifest{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := ParseManifests(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, m := range ms {
			byKind[m.Kind] = append(byKind[m.Kind], m)
		}
	}
	return byKind
}

func one(t *testing.T, byKind map[string][]Manifest, kind string) Manifest {
	t.Helper()
	if len(byKind[kind]) != 1 {
		t.Fatalf("want one %s, got %d", kind, len(byKind[kind]))
	}
	return byKind[kind][0]
}

// named returns the object of kind called name (other features add their
// own objects of the same kind).
func named(t *testing.T, byKind map[string][]Manifest, kind, name string) Manifest {
	t.Helper()
	for _, m := range byKind[kind] {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no %s named %s", kind, name)
	return Manifest{}
}

func TestIstioExtensionProviders(t *testing.T) {
	mesh := one(t, istioManifests(t), "IstioOperator").Mesh
	var authz, als bool
	for _, p := range mesh.GetExtensionProviders() {
		if g := p.GetEnvoyExtAuthzGrpc(); g != nil && p.GetName() == "botwarden" {
			authz = true
			// Istio's default is 600 s: it must be set, and short.
			if d := g.GetTimeout(); d == nil || d.AsDuration() <= 0 || d.AsDuration() > 200*time.Millisecond {
				t.Errorf("envoyExtAuthzGrpc.timeout = %v, want explicit and ≤ 200ms", d)
			}
			if !g.GetFailOpen() || g.GetStatusOnError() == "" || g.GetPort() != 9001 {
				t.Errorf("envoyExtAuthzGrpc: failOpen=%v statusOnError=%q port=%d", g.GetFailOpen(), g.GetStatusOnError(), g.GetPort())
			}
		}
		if a := p.GetEnvoyHttpAls(); a != nil && p.GetName() == "botwarden-als" {
			als = true
			for _, h := range []string{"cookie", "x-botwarden-ja4", "sec-ch-ua", "accept-language"} {
				if index(a.GetAdditionalRequestHeadersToLog(), h) < 0 {
					t.Errorf("envoyHttpAls does not log %s", h)
				}
			}
			if a.GetPort() != 9001 || a.GetLogName() != "botwarden" {
				t.Errorf("envoyHttpAls port=%d logName=%q", a.GetPort(), a.GetLogName())
			}
		}
	}
	if !authz || !als {
		t.Fatalf("providers: authz=%v als=%v", authz, als)
	}
}

func TestIstioAuthorizationPolicyChecksEverything(t *testing.T) {
	ap := one(t, istioManifests(t), "AuthorizationPolicy").Spec.(*securityv1beta1.AuthorizationPolicy)
	if ap.GetAction() != securityv1beta1.AuthorizationPolicy_CUSTOM || ap.GetProvider().GetName() != "botwarden" {
		t.Fatalf("action=%s provider=%q", ap.GetAction(), ap.GetProvider().GetName())
	}
	// Only requests matching a rule reach ext_authz.
	var all bool
	for _, r := range ap.GetRules() {
		for _, to := range r.GetTo() {
			op := to.GetOperation()
			if index(op.GetPaths(), "/*") >= 0 && index(op.GetNotPaths(), "/.well-known/botwarden/*") >= 0 {
				all = true
			}
		}
	}
	if !all {
		t.Error(`want a rule matching paths ["/*"] except the challenge endpoint`)
	}
}

func TestIstioTelemetryUsesALSProvider(t *testing.T) {
	tm := one(t, istioManifests(t), "Telemetry").Spec.(*telemetryv1alpha1.Telemetry)
	if len(tm.GetAccessLogging()) != 1 || tm.GetAccessLogging()[0].GetProviders()[0].GetName() != "botwarden-als" {
		t.Fatalf("accessLogging = %v", tm.GetAccessLogging())
	}
}

func TestIstioEnvoyFilter(t *testing.T) {
	ef := named(t, istioManifests(t), "EnvoyFilter", "botwarden-ja4").Spec.(*networkingv1alpha3.EnvoyFilter)
	var ja4, beforeAuthz, stripsMarker bool
	for _, p := range ef.GetConfigPatches() {
		switch p.GetApplyTo() {
		case networkingv1alpha3.EnvoyFilter_LISTENER_FILTER:
			js, err := p.GetPatch().GetValue().MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var lf listenerv3.ListenerFilter
			if err := UnmarshalYAML(js, &lf); err != nil {
				t.Fatal(err)
			}
			ti := FindAll[*tlsinspectorv3.TlsInspector](&lf)
			ja4 = p.GetMatch().GetListener().GetListenerFilter() == "envoy.filters.listener.tls_inspector" &&
				len(ti) == 1 && ti[0].GetEnableJa4Fingerprinting().GetValue()
		case networkingv1alpha3.EnvoyFilter_HTTP_FILTER:
			// Before the shadow RBAC filter that precedes Istio's CUSTOM
			// ext_authz, so the Wasm fast path sits between the two.
			beforeAuthz = p.GetPatch().GetOperation() == networkingv1alpha3.EnvoyFilter_Patch_INSERT_BEFORE &&
				p.GetMatch().GetListener().GetFilterChain().GetFilter().GetSubFilter().GetName() == "envoy.filters.http.rbac"
			js, err := p.GetPatch().GetValue().MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			stripsMarker = strings.Contains(string(js), `"remove":"x-botwarden-skip-authz"`)
		}
	}
	if !ja4 || !beforeAuthz || !stripsMarker {
		t.Fatalf("want JA4 on the gateway tls_inspector (%v), header_mutation inserted before the shadow rbac (%v), stripping the skip marker (%v)", ja4, beforeAuthz, stripsMarker)
	}
	// The CUSTOM policy skips marked requests; that is only safe because
	// the filter above strips client copies.
	ap := named(t, istioManifests(t), "AuthorizationPolicy", "botwarden").Spec.(*securityv1beta1.AuthorizationPolicy)
	skips := false
	for _, r := range ap.GetRules() {
		for _, c := range r.GetWhen() {
			skips = skips || c.GetKey() == "request.headers[x-botwarden-skip-authz]" && slices.Contains(c.GetNotValues(), "1")
		}
	}
	if !skips {
		t.Fatal("authorization policy does not skip requests marked by the Wasm fast path")
	}
}

func TestIstioBotwardenWorkload(t *testing.T) {
	byKind := istioManifests(t)
	dep := one(t, byKind, "Deployment").Object.(*appsv1.Deployment)
	svc := one(t, byKind, "Service").Object.(*corev1.Service)
	cm := one(t, byKind, "ConfigMap").Object.(*corev1.ConfigMap)

	c := dep.Spec.Template.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["grpc"] != 9001 || ports["http"] != 8080 {
		t.Errorf("container ports = %v", ports)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: readiness %s liveness %s", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Error("resource requests must be set")
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "grpc" && (p.Port != 9001 || p.AppProtocol == nil || *p.AppProtocol != "grpc") {
			t.Errorf("service grpc port = %d appProtocol %v", p.Port, p.AppProtocol)
		}
	}
	if svc.Name != "botwarden" || svc.Namespace != "botwarden" {
		t.Errorf("service %s/%s does not match the providers' botwarden.botwarden.svc", svc.Namespace, svc.Name)
	}
	// The file in the ConfigMap must load with botwarden's own loader.
	data, ok := cm.Data["botwarden.yaml"]
	if !ok {
		t.Fatal("ConfigMap has no botwarden.yaml")
	}
	if _, err := config.Parse([]byte(data)); err != nil {
		t.Fatalf("ConfigMap botwarden.yaml: %v", err)
	}
	if !strings.Contains(strings.Join(c.Args, " "), "/etc/botwarden/botwarden.yaml") {
		t.Errorf("args %v do not load the mounted config", c.Args)
	}
}

// TestIstioRejects proves each kind of mistake is caught.
func TestIstioRejects(t *testing.T) {
	read := func(f string) string {
		b, err := os.ReadFile(filepath.Join("istio", f))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cases := []struct {
		name, file, old, new, wantErr string
	}{
		{"typo in a mesh provider field", "meshconfig.yaml", "failOpen: true", "failopen: true", "failopen"},
		{"unknown IstioOperator field", "meshconfig.yaml", "  meshConfig:", "  meshconfig:", "meshconfig"},
		{"unknown metadata field", "telemetry.yaml", "  namespace: istio-system", "  namespaces: istio-system", "namespaces"},
		{"typo in AuthorizationPolicy", "authorizationpolicy.yaml", "notPaths:", "notPath:", "notPath"},
		{"unknown action", "authorizationpolicy.yaml", "action: CUSTOM", "action: EXTERNAL", "EXTERNAL"},
		{"CUSTOM without provider", "authorizationpolicy.yaml", "  provider:\n    name: botwarden\n", "", "provider"},
		{"typo in Telemetry", "telemetry.yaml", "accessLogging:", "accesLogging:", "accesLogging"},
		{"typo in an EnvoyFilter match", "envoyfilter-ja4.yaml", "listenerFilter:", "listener_filtre:", "listener_filtre"},
		{"typo inside a MERGE patch value", "envoyfilter-ja4.yaml", "enable_ja4_fingerprinting: true", "enable_ja4_fingerprint: true", "enable_ja4_fingerprint"},
		{"typo inside an INSERT patch value", "envoyfilter-ja4.yaml", "append_action: OVERWRITE_IF_EXISTS_OR_ADD", "appendAktion: OVERWRITE_IF_EXISTS_OR_ADD", "appendAktion"},
		{"unknown @type in a patch", "envoyfilter-ja4.yaml", "header_mutation.v3.HeaderMutation", "header_mutation.v3.HeaderMutations", "does not resolve"},
		{"PGV rule in an INSERT patch (empty filter name)", "envoyfilter-ja4.yaml", "name: botwarden.header_mutation", `name: ""`, "Name"},
		{"wrong API version", "envoyfilter-ja4.yaml", "networking.istio.io/v1alpha3", "networking.istio.io/v1", "not v1"},
		{"typo in a Deployment", "botwarden.yaml", "readinessProbe:", "readynessProbe:", "readynessProbe"},
		{"case-variant field name in a Deployment", "botwarden.yaml", "readinessProbe:", "readinessprobe:", "readinessprobe"},
		{"case-variant field name in IstioOperator", "meshconfig.yaml", "  meshConfig:", "  MeshConfig:", "MeshConfig"},
		{"bad quantity in a Deployment", "botwarden.yaml", "cpu: 250m", "cpu: lots", "quantit"},
		{"typo in a Service", "botwarden.yaml", "appProtocol: grpc", "appProtokol: grpc", "appProtokol"},
		{"missing name", "telemetry.yaml", "  name: botwarden-als\n", "", "metadata.name"},
		{"unknown kind", "telemetry.yaml", "kind: Telemetry", "kind: Telemetri", "unknown kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := read(c.file)
			if !strings.Contains(orig, c.old) {
				t.Fatalf("%s no longer contains %q; update the case", c.file, c.old)
			}
			_, err := ParseManifests([]byte(strings.Replace(orig, c.old, c.new, 1)))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %q does not mention %q", err, c.wantErr)
			}
			t.Log(err)
		})
	}
}
