package helm

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/envoy"
	"github.com/botwarden/botwarden/wasmfilter"
)

var update = flag.Bool("update", false, "rewrite the config part of botwarden/values.schema.json from the Go types")

const chartDir = "botwarden"

// helmBin is the helm that scripts/deps.sh builds from source at the version
// in HELM_VERSION. Absent, the test fails in CI (which runs deps.sh) and
// skips elsewhere with the command that builds it.
func helmBin(t *testing.T) string {
	t.Helper()
	v, err := os.ReadFile("HELM_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	ver := strings.TrimSpace(string(v))
	dir := os.Getenv("BOTWARDEN_TOOLS")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(cache, "botwarden")
	}
	bin := filepath.Join(dir, "helm-"+ver, "helm")
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("helm %s not built at %s (scripts/deps.sh builds it from helm.sh/helm/v4/cmd/helm)", ver, bin)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// helm runs the helm binary and returns stdout, or the error with stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	// No repository or plugin state from the machine running the test.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// render is `helm template botwarden ./botwarden -n botwarden` with values
// files and --set flags.
func render(t *testing.T, valueFiles []string, sets ...string) (string, error) {
	t.Helper()
	args := []string{"template", "botwarden", chartDir, "--namespace", "botwarden"}
	for _, f := range valueFiles {
		args = append(args, "-f", f)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return helm(t, args...)
}

// objects indexes parsed manifests by kind/name.
type objects map[string]envoy.Manifest

func parse(t *testing.T, yamlText string) objects {
	t.Helper()
	ms, err := envoy.ParseManifests([]byte(yamlText))
	if err != nil {
		t.Fatalf("rendered manifests do not validate against k8s.io/api and istio.io/api: %v", err)
	}
	out := objects{}
	for _, m := range ms {
		k := m.Kind + "/" + m.Name
		if _, dup := out[k]; dup {
			t.Fatalf("two %s", k)
		}
		out[k] = m
	}
	return out
}

func (o objects) get(t *testing.T, kind, name string) envoy.Manifest {
	t.Helper()
	m, ok := o[kind+"/"+name]
	if !ok {
		t.Fatalf("no %s %s rendered", kind, name)
	}
	return m
}

func TestHelmLint(t *testing.T) {
	for _, values := range [][]string{nil, {"testdata/everything-values.yaml"}, {"testdata/istio-values.yaml"}} {
		args := []string{"lint", "--strict", chartDir}
		for _, f := range values {
			args = append(args, "-f", f)
		}
		out, err := helm(t, args...)
		if err != nil {
			t.Fatalf("values %v: %v", values, err)
		}
		t.Logf("%v: %s", values, strings.TrimSpace(out))
	}
}

// TestChartRenders renders each set of values, validates every object
// strictly, and loads the rendered configuration with botwarden's own
// check-config in the environment the Deployment gives the container.
func TestChartRenders(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		want   []string // kind/name that must be rendered
		absent []string
		// beside is a manifest the operator applies beside the release
		// (a Secret named by secrets.existingSecret).
		beside string
	}{
		{"defaults", nil,
			[]string{"Deployment/botwarden", "Service/botwarden", "ConfigMap/botwarden", "ServiceAccount/botwarden",
				"PodDisruptionBudget/botwarden", "ConfigMap/botwarden-istio-mesh", "AuthorizationPolicy/botwarden", "Telemetry/botwarden-als"},
			[]string{"Secret/botwarden", "ConfigMap/botwarden-policy", "ServiceMonitor/botwarden", "EnvoyFilter/botwarden-ja4", "EnvoyFilter/botwarden-wasm"}, ""},
		{"everything", []string{"testdata/everything-values.yaml"},
			[]string{"Secret/botwarden", "ConfigMap/botwarden-policy", "ServiceMonitor/botwarden", "EnvoyFilter/botwarden-ja4",
				"EnvoyFilter/botwarden-wasm", "VirtualService/botwarden-challenge", "PodDisruptionBudget/botwarden"}, nil, ""},
		{"istio manifests", []string{"testdata/istio-values.yaml"}, []string{"EnvoyFilter/botwarden-wasm"}, nil, ""},
		{"existing secret", []string{"testdata/existing-secret-values.yaml"}, nil, []string{"Secret/botwarden"}, "testdata/existing-secret.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := render(t, c.values)
			if err != nil {
				t.Fatal(err)
			}
			objs := parse(t, out)
			if c.beside != "" {
				data, err := os.ReadFile(c.beside)
				if err != nil {
					t.Fatal(err)
				}
				for k, m := range parse(t, string(data)) {
					objs[k] = m
				}
			}
			for _, k := range c.want {
				if _, ok := objs[k]; !ok {
					t.Errorf("%s not rendered", k)
				}
			}
			for _, k := range c.absent {
				if _, ok := objs[k]; ok {
					t.Errorf("%s rendered but its option is off", k)
				}
			}
			cfg := checkConfig(t, objs)
			checkWorkload(t, objs, cfg)
			if _, ok := objs["EnvoyFilter/botwarden-wasm"]; ok {
				checkWasmMatchesSession(t, objs, cfg)
			}
			checkSelectors(t, objs)
		})
	}
}

// checkConfig writes the rendered ConfigMaps where the pod would see them,
// runs `botwarden check-config` with the container's environment (secret
// references resolved from the rendered Secret) and returns the config
// botwarden loads.
func checkConfig(t *testing.T, objs objects) config.Config {
	t.Helper()
	dir := t.TempDir()
	cm := objs.get(t, "ConfigMap", "botwarden").Object.(*corev1.ConfigMap)
	text := cm.Data["botwarden.yaml"]
	if pol, ok := objs["ConfigMap/botwarden-policy"]; ok {
		// The pod mounts the policy at /etc/botwarden/policy/; here it is
		// the temporary directory.
		const mounted = "/etc/botwarden/policy/policy.yaml"
		if !strings.Contains(text, mounted) {
			t.Fatalf("config does not point at the mounted policy:\n%s", text)
		}
		local := filepath.Join(dir, "policy.yaml")
		if err := os.WriteFile(local, []byte(pol.Object.(*corev1.ConfigMap).Data["policy.yaml"]), 0o600); err != nil {
			t.Fatal(err)
		}
		text = strings.ReplaceAll(text, mounted, local)
	}
	path := filepath.Join(dir, "botwarden.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := containerEnv(t, objs)
	cmd := exec.Command(botwardenBin(t), "check-config", path)
	cmd.Env = append(cleanEnv(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("botwarden check-config rejects the rendered config: %v\n%s\n--- botwarden.yaml:\n%s", err, out, text)
	}
	cfg, err := config.Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// cleanEnv is the test's environment without BOTWARDEN_ settings, so only
// what the Deployment sets reaches check-config.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			out = append(out, kv)
		}
	}
	return out
}

// containerEnv resolves the botwarden container's env against the rendered
// Secret, as the kubelet would.
func containerEnv(t *testing.T, objs objects) []string {
	t.Helper()
	dep := objs.get(t, "Deployment", "botwarden").Object.(*appsv1.Deployment)
	var env []string
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		v := e.Value
		if ref := e.ValueFrom; ref != nil {
			if ref.SecretKeyRef == nil {
				t.Fatalf("env %s: only secretKeyRef is expected", e.Name)
			}
			sec := objs.get(t, "Secret", ref.SecretKeyRef.Name).Object.(*corev1.Secret)
			var ok bool
			if v, ok = sec.StringData[ref.SecretKeyRef.Key]; !ok {
				t.Fatalf("env %s: Secret %s has no key %s", e.Name, sec.Name, ref.SecretKeyRef.Key)
			}
		}
		env = append(env, e.Name+"="+v)
	}
	return env
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// botwardenBin builds cmd/botwarden once for the test binary.
func botwardenBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "botwarden-helm-test")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "botwarden")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/botwarden/botwarden/cmd/botwarden").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// checkWorkload: the pod is what a platform team expects (probes, non-root,
// read-only root filesystem) and listens where the config says.
func checkWorkload(t *testing.T, objs objects, cfg config.Config) {
	t.Helper()
	dep := objs.get(t, "Deployment", "botwarden").Object.(*appsv1.Deployment)
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: %+v %+v", c.ReadinessProbe, c.LivenessProbe)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("pod does not run as non-root")
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem ||
		c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("container root filesystem is writable or privilege escalation allowed")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("a service account token is mounted; botwarden calls no Kubernetes API")
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, addr := range map[string]string{"grpc": cfg.Server.GRPCAddr, "http": cfg.Server.HTTPAddr} {
		if !strings.HasSuffix(addr, fmt.Sprintf(":%d", ports[name])) {
			t.Errorf("config listens on %s for %s, the container port is %d", addr, name, ports[name])
		}
	}
	if grace := int64(cfg.Server.ShutdownGrace.Seconds()); pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= grace {
		t.Errorf("terminationGracePeriodSeconds %v must exceed shutdown_grace %v", pod.TerminationGracePeriodSeconds, cfg.Server.ShutdownGrace)
	}
}

// checkSelectors: the Service, PDB and ServiceMonitor select the pods.
func checkSelectors(t *testing.T, objs objects) {
	t.Helper()
	labels := objs.get(t, "Deployment", "botwarden").Object.(*appsv1.Deployment).Spec.Template.Labels
	matches := func(what string, sel map[string]string) {
		if len(sel) == 0 {
			t.Errorf("%s has an empty selector", what)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s selects %s=%s; pods have %v", what, k, v, labels)
			}
		}
	}
	matches("Service", objs.get(t, "Service", "botwarden").Object.(*corev1.Service).Spec.Selector)
	if m, ok := objs["PodDisruptionBudget/botwarden"]; ok {
		matches("PodDisruptionBudget", m.Object.(*policyv1.PodDisruptionBudget).Spec.Selector.MatchLabels)
	}
	if m, ok := objs["ServiceMonitor/botwarden"]; ok {
		sm := m.Object.(*monitoringv1.ServiceMonitor)
		svc := objs.get(t, "Service", "botwarden").Object.(*corev1.Service)
		for k, v := range sm.Spec.Selector.MatchLabels {
			if svc.Labels[k] != v {
				t.Errorf("ServiceMonitor selects %s=%s; the Service has %v", k, v, svc.Labels)
			}
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
		}
	}
}

// wasmConfig returns the Wasm plugin configuration of the cookie filter.
func wasmConfig(t *testing.T, ef *networkingv1alpha3.EnvoyFilter) (*structpb.Struct, string) {
	t.Helper()
	for _, p := range ef.GetConfigPatches() {
		v := p.GetPatch().GetValue()
		if v.GetFields()["name"].GetStringValue() != "botwarden.cookie" {
			continue
		}
		cfg := v.GetFields()["typed_config"].GetStructValue().GetFields()["config"].GetStructValue().GetFields()["configuration"].GetStructValue()
		return cfg, cfg.GetFields()["value"].GetStringValue()
	}
	t.Fatal("no botwarden.cookie filter in the wasm EnvoyFilter")
	return nil, ""
}

// checkWasmMatchesSession: the filter opens cookies with botwarden's session
// settings, or it would vouch for nothing (or for the wrong clients).
func checkWasmMatchesSession(t *testing.T, objs objects, cfg config.Config) {
	t.Helper()
	_, js := wasmConfig(t, objs.get(t, "EnvoyFilter", "botwarden-wasm").Spec.(*networkingv1alpha3.EnvoyFilter))
	wc, err := wasmfilter.ParseConfig([]byte(js))
	if err != nil {
		t.Fatalf("wasm plugin configuration: %v\n%s", err, js)
	}
	s := cfg.Session
	if wc.CookieName != s.CookieName || wc.Revalidate.Duration != s.Revalidate || wc.IPv4Prefix != s.IPv4Prefix ||
		wc.IPv6Prefix != s.IPv6Prefix || wc.ActiveKey != s.ActiveKey || len(wc.Keys) != len(s.Keys) {
		t.Fatalf("wasm filter %+v disagrees with botwarden's session section %+v", wc, s)
	}
	for i, k := range wc.Keys {
		if k.ID != s.Keys[i].ID || k.Secret != s.Keys[i].Secret {
			t.Fatalf("wasm key %d differs from session key", i)
		}
	}
}

// TestChartMatchesIstioManifests keeps envoy/istio/ (the documented,
// kubectl-apply version) and the chart from drifting apart: rendered with
// testdata/istio-values.yaml, the chart must produce the same Istio objects
// (compared as istio.io/api messages), the same mesh providers, and the same
// workload settings.
func TestChartMatchesIstioManifests(t *testing.T) {
	out, err := render(t, []string{"testdata/istio-values.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	chart := parse(t, out)
	files, err := filepath.Glob("../../envoy/istio/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no envoy/istio manifests: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := envoy.ParseManifests(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range ms {
			t.Run(filepath.Base(f)+"/"+want.Kind+"/"+want.Name, func(t *testing.T) {
				compareManifest(t, chart, want)
			})
		}
	}
}

func compareManifest(t *testing.T, chart objects, want envoy.Manifest) {
	switch {
	case want.Kind == "Namespace":
		t.Skip("Helm charts do not create their namespace (helm install --create-namespace does)")
	case want.Mesh != nil:
		cm := chart.get(t, "ConfigMap", "botwarden-istio-mesh").Object.(*corev1.ConfigMap)
		var values struct {
			MeshConfig json.RawMessage `json:"meshConfig"`
		}
		if err := yaml.UnmarshalStrict([]byte(cm.Data["istiod-values.yaml"]), &values); err != nil {
			t.Fatal(err)
		}
		got, err := envoy.ParseMeshConfig(values.MeshConfig)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want.Mesh) {
			t.Fatalf("chart mesh providers\n%v\nenvoy/istio\n%v", got, want.Mesh)
		}
	case want.Spec != nil:
		got := chart.get(t, want.Kind, want.Name)
		if got.Namespace != want.Namespace {
			t.Errorf("namespace %s, envoy/istio has %s", got.Namespace, want.Namespace)
		}
		g, w := proto.Clone(got.Spec), proto.Clone(want.Spec)
		if gef, ok := g.(*networkingv1alpha3.EnvoyFilter); ok {
			canonicalWasmConfig(t, gef)
			canonicalWasmConfig(t, w.(*networkingv1alpha3.EnvoyFilter))
		}
		if !proto.Equal(g, w) {
			t.Fatalf("chart %s\n%v\nenvoy/istio\n%v", want.Kind, g, w)
		}
	case want.Kind == "ConfigMap":
		got := chart.get(t, "ConfigMap", want.Name).Object.(*corev1.ConfigMap)
		gc, err := config.Parse([]byte(got.Data["botwarden.yaml"]))
		if err != nil {
			t.Fatal(err)
		}
		wc, err := config.Parse([]byte(want.Object.(*corev1.ConfigMap).Data["botwarden.yaml"]))
		if err != nil {
			t.Fatal(err)
		}
		// The chart adds the session keys' active key; everything the
		// manifest's file says must be what the chart's says.
		gc.Session.ActiveKey = wc.Session.ActiveKey
		if !reflect.DeepEqual(gc, wc) {
			t.Fatalf("chart config %+v\nenvoy/istio config %+v", gc, wc)
		}
	case want.Kind == "Deployment":
		g := chart.get(t, "Deployment", want.Name).Object.(*appsv1.Deployment)
		w := want.Object.(*appsv1.Deployment)
		gp, wp := g.Spec.Template.Spec, w.Spec.Template.Spec
		gc, wc := gp.Containers[0], wp.Containers[0]
		same := func(what string, a, b any) {
			if !equality.Semantic.DeepEqual(a, b) {
				t.Errorf("%s: chart %+v, envoy/istio %+v", what, a, b)
			}
		}
		same("replicas", g.Spec.Replicas, w.Spec.Replicas)
		same("terminationGracePeriodSeconds", gp.TerminationGracePeriodSeconds, wp.TerminationGracePeriodSeconds)
		same("pod securityContext", gp.SecurityContext, wp.SecurityContext)
		same("image", gc.Image[:strings.LastIndex(gc.Image, ":")], wc.Image[:strings.LastIndex(wc.Image, ":")])
		same("args", gc.Args, wc.Args)
		same("ports", gc.Ports, wc.Ports)
		same("readinessProbe", gc.ReadinessProbe, wc.ReadinessProbe)
		same("livenessProbe", gc.LivenessProbe, wc.LivenessProbe)
		same("resources", gc.Resources, wc.Resources)
		same("container securityContext", gc.SecurityContext, wc.SecurityContext)
		same("volumeMounts", gc.VolumeMounts, wc.VolumeMounts)
	case want.Kind == "Service":
		g := chart.get(t, "Service", want.Name).Object.(*corev1.Service)
		w := want.Object.(*corev1.Service)
		if g.Namespace != w.Namespace || !equality.Semantic.DeepEqual(g.Spec.Ports, w.Spec.Ports) {
			t.Fatalf("chart service %s %+v, envoy/istio %s %+v", g.Namespace, g.Spec.Ports, w.Namespace, w.Spec.Ports)
		}
	default:
		t.Fatalf("envoy/istio has a %s the chart is not compared on; extend compareManifest", want.Kind)
	}
}

// canonicalWasmConfig rewrites the Wasm plugin's JSON configuration (a
// string, laid out differently by hand and by the template) as the
// configuration it parses to.
func canonicalWasmConfig(t *testing.T, ef *networkingv1alpha3.EnvoyFilter) {
	t.Helper()
	for _, p := range ef.GetConfigPatches() {
		if p.GetPatch().GetValue().GetFields()["name"].GetStringValue() != "botwarden.cookie" {
			continue
		}
		st, js := wasmConfig(t, ef)
		wc, err := wasmfilter.ParseConfig([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(wc)
		if err != nil {
			t.Fatal(err)
		}
		st.Fields["value"] = structpb.NewStringValue(string(b))
	}
}
