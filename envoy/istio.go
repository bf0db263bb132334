package envoy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	yamlv3 "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	telemetryv1alpha1 "istio.io/api/telemetry/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Manifest is one object of a multi-document Kubernetes YAML file, decoded
// into its API type.
type Manifest struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	// Spec is the istio.io/api message of an Istio resource.
	Spec proto.Message
	// Mesh is spec.meshConfig of an IstioOperator.
	Mesh *meshv1alpha1.MeshConfig
	// Object is the k8s.io/api object of a Kubernetes resource
	// (*corev1.Namespace, *corev1.ConfigMap, *corev1.Service, *appsv1.Deployment,
	// ... see kubeKinds).
	Object any
}

// istioKind says which istio.io/api message holds a kind's spec and under
// which API versions Istio serves it.
type istioKind struct {
	versions []string
	spec     func() proto.Message
}

var istioKinds = map[string]istioKind{
	"security.istio.io/AuthorizationPolicy": {[]string{"v1", "v1beta1"}, func() proto.Message { return &securityv1beta1.AuthorizationPolicy{} }},
	"networking.istio.io/EnvoyFilter":       {[]string{"v1alpha3"}, func() proto.Message { return &networkingv1alpha3.EnvoyFilter{} }},
	"networking.istio.io/VirtualService":    {[]string{"v1", "v1beta1", "v1alpha3"}, func() proto.Message { return &networkingv1alpha3.VirtualService{} }},
	"networking.istio.io/Gateway":           {[]string{"v1", "v1beta1", "v1alpha3"}, func() proto.Message { return &networkingv1alpha3.Gateway{} }},
	"telemetry.istio.io/Telemetry":          {[]string{"v1", "v1alpha1"}, func() proto.Message { return &telemetryv1alpha1.Telemetry{} }},
}

// kubeKinds are the plain Kubernetes kinds the manifests use, keyed by
// apiVersion/kind.
var kubeKinds = map[string]func() any{
	"v1/Namespace":       func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":       func() any { return &corev1.ConfigMap{} },
	"v1/Secret":          func() any { return &corev1.Secret{} },
	"v1/Service":         func() any { return &corev1.Service{} },
	"v1/ServiceAccount":  func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment": func() any { return &appsv1.Deployment{} },
	// The Helm chart's optional objects (deploy/helm).
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
}

// ParseManifests splits a multi-document YAML file and decodes every object
// strictly: unknown fields anywhere (metadata, spec, EnvoyFilter patch
// values) are errors, as are kinds this package does not know. EnvoyFilter
// patch values are decoded into the Envoy type they patch.
func ParseManifests(data []byte) ([]Manifest, error) {
	docs, err := splitYAML(data)
	if err != nil {
		return nil, err
	}
	var out []Manifest
	var errs []error
	for i, doc := range docs {
		m, err := parseManifest(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d (%s %s): %w", i+1, m.Kind, m.Name, err))
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

// splitYAML returns each non-empty document re-encoded on its own.
func splitYAML(data []byte) ([][]byte, error) {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	var docs [][]byte
	for {
		var n yamlv3.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("yaml document %d: %w", len(docs)+1, err)
		}
		if len(n.Content) == 0 || n.Content[0].Kind == yamlv3.ScalarNode && n.Content[0].Tag == "!!null" {
			continue // an empty document, e.g. a leading '---'
		}
		b, err := yamlv3.Marshal(&n)
		if err != nil {
			return nil, fmt.Errorf("yaml document %d: %w", len(docs)+1, err)
		}
		docs = append(docs, b)
	}
}

// envelope is the outer shape of an Istio resource.
type envelope struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       json.RawMessage   `json:"spec"`
}

func parseManifest(doc []byte) (Manifest, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return Manifest{}, err
	}
	// The head decides the type; the strict decode of the whole object
	// follows once the type is known.
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return Manifest{}, err
	}
	m := Manifest{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name, Namespace: head.Metadata.Namespace}
	if m.Name == "" {
		return m, errors.New("metadata.name is required")
	}
	if newObj := kubeKinds[m.APIVersion+"/"+m.Kind]; newObj != nil {
		obj := newObj()
		if err := strictJSON(js, obj); err != nil {
			return m, err
		}
		m.Object = obj
		return m, nil
	}
	var env envelope
	if err := strictJSON(js, &env); err != nil {
		return m, err
	}
	group, version := splitAPIVersion(m.APIVersion)
	if group == "install.istio.io" && m.Kind == "IstioOperator" {
		m.Mesh, err = parseIstioOperator(env.Spec)
		return m, err
	}
	k, ok := istioKinds[group+"/"+m.Kind]
	if !ok {
		return m, fmt.Errorf("unknown kind %s %s", m.APIVersion, m.Kind)
	}
	if !slices.Contains(k.versions, version) {
		return m, fmt.Errorf("%s is served as %s/%v, not %s", m.Kind, group, k.versions, version)
	}
	if len(env.Spec) == 0 {
		return m, errors.New("spec is required")
	}
	m.Spec = k.spec()
	if err := strictProto(env.Spec, m.Spec); err != nil {
		return m, fmt.Errorf("spec: %w", err)
	}
	return m, checkSpec(m.Spec)
}

// ParseMeshConfig strictly decodes a YAML MeshConfig (the meshConfig value
// of istiod's Helm values or of an IstioOperator).
func ParseMeshConfig(data []byte) (*meshv1alpha1.MeshConfig, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	mc := &meshv1alpha1.MeshConfig{}
	if err := strictProto(js, mc); err != nil {
		return nil, fmt.Errorf("meshConfig: %w", err)
	}
	return mc, nil
}

// parseIstioOperator accepts only the parts of an IstioOperator this
// repository ships (the operator's own types are not in istio.io/api).
func parseIstioOperator(spec json.RawMessage) (*meshv1alpha1.MeshConfig, error) {
	var s struct {
		Profile    string          `json:"profile"`
		MeshConfig json.RawMessage `json:"meshConfig"`
	}
	if err := strictJSON(spec, &s); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	if len(s.MeshConfig) == 0 {
		return nil, errors.New("spec.meshConfig is required")
	}
	mc := &meshv1alpha1.MeshConfig{}
	if err := strictProto(s.MeshConfig, mc); err != nil {
		return nil, fmt.Errorf("spec.meshConfig: %w", err)
	}
	return mc, nil
}

// checkSpec applies the rules Istio enforces at admission that the types do
// not express, plus Envoy-type validation of EnvoyFilter patches.
func checkSpec(spec proto.Message) error {
	switch s := spec.(type) {
	case *securityv1beta1.AuthorizationPolicy:
		custom := s.GetAction() == securityv1beta1.AuthorizationPolicy_CUSTOM
		if custom && s.GetProvider().GetName() == "" {
			return errors.New("spec.provider.name is required with action CUSTOM")
		}
		if !custom && s.GetProvider() != nil {
			return errors.New("spec.provider is only allowed with action CUSTOM")
		}
	case *networkingv1alpha3.EnvoyFilter:
		var errs []error
		for i, p := range s.GetConfigPatches() {
			if err := checkPatch(p); err != nil {
				errs = append(errs, fmt.Errorf("spec.configPatches[%d] (%s %s): %w", i, p.GetApplyTo(), p.GetPatch().GetOperation(), err))
			}
		}
		return errors.Join(errs...)
	}
	return nil
}

// patchTypes maps an EnvoyFilter applyTo to the Envoy message its patch
// value is.
var patchTypes = map[networkingv1alpha3.EnvoyFilter_ApplyTo]func() proto.Message{
	networkingv1alpha3.EnvoyFilter_LISTENER:            func() proto.Message { return &listenerv3.Listener{} },
	networkingv1alpha3.EnvoyFilter_FILTER_CHAIN:        func() proto.Message { return &listenerv3.FilterChain{} },
	networkingv1alpha3.EnvoyFilter_NETWORK_FILTER:      func() proto.Message { return &listenerv3.Filter{} },
	networkingv1alpha3.EnvoyFilter_HTTP_FILTER:         func() proto.Message { return &hcmv3.HttpFilter{} },
	networkingv1alpha3.EnvoyFilter_ROUTE_CONFIGURATION: func() proto.Message { return &routev3.RouteConfiguration{} },
	networkingv1alpha3.EnvoyFilter_VIRTUAL_HOST:        func() proto.Message { return &routev3.VirtualHost{} },
	networkingv1alpha3.EnvoyFilter_HTTP_ROUTE:          func() proto.Message { return &routev3.Route{} },
	networkingv1alpha3.EnvoyFilter_CLUSTER:             func() proto.Message { return &clusterv3.Cluster{} },
	networkingv1alpha3.EnvoyFilter_EXTENSION_CONFIG:    func() proto.Message { return &corev3.TypedExtensionConfig{} },
	networkingv1alpha3.EnvoyFilter_BOOTSTRAP:           func() proto.Message { return &bootstrapv3.Bootstrap{} },
	networkingv1alpha3.EnvoyFilter_LISTENER_FILTER:     func() proto.Message { return &listenerv3.ListenerFilter{} },
}

// checkPatch decodes a patch value into its Envoy type with unknown fields
// and unknown @types rejected. Values that become whole objects (ADD,
// INSERT_*, REPLACE) must also pass the PGV rules; a MERGE value is a
// fragment, so required fields may legitimately be missing.
func checkPatch(p *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch) error {
	op := p.GetPatch().GetOperation()
	if op == networkingv1alpha3.EnvoyFilter_Patch_INVALID {
		return errors.New("patch.operation is required")
	}
	if op == networkingv1alpha3.EnvoyFilter_Patch_REMOVE {
		return nil
	}
	newMsg, ok := patchTypes[p.GetApplyTo()]
	if !ok {
		return fmt.Errorf("applyTo %s is not supported", p.GetApplyTo())
	}
	if p.GetPatch().GetValue() == nil {
		return errors.New("patch.value is required")
	}
	js, err := protojson.Marshal(p.GetPatch().GetValue())
	if err != nil {
		return fmt.Errorf("patch.value: %w", err)
	}
	if err := CheckTypeURLs(js); err != nil {
		return fmt.Errorf("patch.value: %w", err)
	}
	msg := newMsg()
	if err := strictProto(js, msg); err != nil {
		return fmt.Errorf("patch.value: %w", err)
	}
	if op == networkingv1alpha3.EnvoyFilter_Patch_MERGE {
		return nil
	}
	if err := ValidateDeep(msg); err != nil {
		return fmt.Errorf("patch.value: %w", err)
	}
	return nil
}

func strictProto(js []byte, m proto.Message) error {
	opts := protojson.UnmarshalOptions{DiscardUnknown: false, Resolver: protoregistry.GlobalTypes}
	return opts.Unmarshal(js, m)
}

// strictJSON decodes the way the Kubernetes API server does: field names are
// case-sensitive (encoding/json would take "meshconfig" for meshConfig),
// unknown and duplicate fields are errors.
func strictJSON(js []byte, v any) error {
	strict, err := kjson.UnmarshalStrict(js, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func splitAPIVersion(v string) (group, version string) {
	if g, ver, ok := strings.Cut(v, "/"); ok {
		return g, ver
	}
	return "", v
}
