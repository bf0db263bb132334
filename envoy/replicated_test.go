package envoy

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/botwarden/botwarden/config"
)

// The replicated variants (envoy/istio/replicated/, docker-compose.replicated.yml)
// are validated like the single-process ones, plus what replication needs:
// three replicas, a disruption budget, Redis and NATS reachable at the
// addresses the config names, and a config that botwarden's loader
// accepts with the keys supplied the way the manifests supply them.

// fakeKeys stand for the Secret / environment the user creates.
var fakeKeys = map[string]string{
	"BOTWARDEN_SESSION_KEYS":      `[{"id":1,"secret":"` + strings.Repeat("Q", 43) + `="}]`,
	"BOTWARDEN_CHALLENGE_SECRETS": strings.Repeat("R", 43) + "=",
}

func TestReplicatedIstio(t *testing.T) {
	data, err := os.ReadFile("istio/replicated/botwarden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ParseManifests(data)
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string]*appsv1.Deployment{}
	svcs := map[string]*corev1.Service{}
	var pdb *policyv1.PodDisruptionBudget
	var cm *corev1.ConfigMap
	for _, m := range ms {
		switch o := m.Object.(type) {
		case *appsv1.Deployment:
			deps[o.Name] = o
		case *corev1.Service:
			svcs[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			pdb = o
		case *corev1.ConfigMap:
			cm = o
		}
	}
	bw := deps["botwarden"]
	if bw == nil || cm == nil || pdb == nil {
		t.Fatalf("want the botwarden Deployment, ConfigMap and PodDisruptionBudget; got deployments %v", deps)
	}
	if bw.Spec.Replicas == nil || *bw.Spec.Replicas != 3 {
		t.Errorf("botwarden replicas %v, want 3", bw.Spec.Replicas)
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(bw.Spec.Template.Labels)) {
		t.Errorf("PodDisruptionBudget selector %v does not select the botwarden pods (%v)", pdb.Spec.Selector, err)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || pdb.Spec.MinAvailable.IntValue() >= 3 {
		t.Errorf("PodDisruptionBudget minAvailable %v: want 1 or 2 of 3 (a drain must be able to proceed)", pdb.Spec.MinAvailable)
	}

	// The config file with the Deployment's environment, secrets filled in.
	dir := t.TempDir()
	path := filepath.Join(dir, "botwarden.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["botwarden.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, e := range bw.Spec.Template.Spec.Containers[0].Env {
		v := e.Value
		if e.ValueFrom != nil {
			if v = fakeKeys[e.Name]; v == "" {
				t.Errorf("env %s comes from %v, which the test does not know", e.Name, e.ValueFrom)
			}
		}
		env = append(env, e.Name+"="+v)
	}
	cfg, err := config.Load(path, env)
	if err != nil {
		t.Fatalf("the replicated config does not load: %v", err)
	}
	// Redis and NATS: the addresses name Services of this file on the
	// ports their pods listen on.
	for addr, name := range map[string]string{cfg.Cluster.RedisAddr: "redis", strings.TrimPrefix(cfg.Cluster.NATSURL, "nats://"): "nats"} {
		host, port, _ := strings.Cut(addr, ":")
		svc := svcs[name]
		if svc == nil || deps[name] == nil {
			t.Errorf("no %s Deployment and Service", name)
			continue
		}
		if host != name+"."+svc.Namespace+".svc" {
			t.Errorf("%s address %q does not name Service %s/%s", name, addr, svc.Namespace, svc.Name)
		}
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return port == strconv.Itoa(int(p.Port)) }) {
			t.Errorf("%s address %q: Service ports %v", name, addr, svc.Spec.Ports)
		}
	}
	if strings.Contains(cfg.Cluster.NATSURL, ",") || !strings.HasPrefix(deps["nats"].Spec.Template.Spec.Containers[0].Image, "nats:2.1") {
		t.Errorf("nats image %q: want 2.11 or later", deps["nats"].Spec.Template.Spec.Containers[0].Image)
	}
}

func TestReplicatedCompose(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.replicated.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// Without the keys compose refuses to start (required variables).
	if _, err := loadComposeFile(t, "docker-compose.replicated.yml", data, types.Mapping{}); err == nil {
		t.Error("loaded without BOTWARDEN_SESSION_KEYS: the keys must be required")
	}
	p, err := loadComposeFile(t, "docker-compose.replicated.yml", data, types.Mapping(fakeKeys))
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range composeProblems(t, p) {
		t.Error(problem)
	}
	bw, _ := p.GetService("botwarden")
	if bw.Deploy == nil || bw.Deploy.Replicas == nil || *bw.Deploy.Replicas != 3 {
		t.Errorf("botwarden deploy.replicas %v, want 3", bw.Deploy)
	}
	var env []string
	for k, v := range bw.Environment {
		if v != nil {
			env = append(env, k+"="+*v)
		}
	}
	cfg, err := config.Load("", env)
	if err != nil {
		t.Fatalf("botwarden's environment does not load: %v", err)
	}
	for addr, name := range map[string]string{cfg.Cluster.RedisAddr: "redis", strings.TrimPrefix(cfg.Cluster.NATSURL, "nats://"): "nats"} {
		host, port, _ := strings.Cut(addr, ":")
		svc, err := p.GetService(host)
		if err != nil || host != name || !slices.Contains(svc.Expose, port) {
			t.Errorf("%s address %q: no service %s exposing %s (%v)", name, addr, host, port, err)
		}
	}
}
