// Package envoy holds botwarden's Envoy bootstrap configs and Istio manifests
// (the YAML files in this directory and istio/) and the code that validates
// them against the real API types: go-control-plane for Envoy, istio.io/api
// for Istio, k8s.io/api for the Kubernetes objects. A typo in a config is a
// test failure here rather than a NACK or a crash-looping proxy in production.
package envoy

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	// Every extension a config in this directory names by @type must be
	// linked in, or its Any cannot be resolved. Add the package here when a
	// config starts using a new extension.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_to_metadata/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
)

// ParseBootstrap decodes an Envoy bootstrap (YAML or JSON) the way Envoy
// does, but stricter than `envoy --mode validate` needs to be: unknown fields
// are errors, every Any must name a linked-in type, and every message,
// including those inside typed_config, must pass its PGV rules.
func ParseBootstrap(data []byte) (*bootstrapv3.Bootstrap, error) {
	b := &bootstrapv3.Bootstrap{}
	if err := UnmarshalYAML(data, b); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if err := ValidateDeep(b); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return b, nil
}

// UnmarshalYAML decodes YAML (or JSON) into m with unknown fields rejected
// and every "@type" checked first, so an unknown type is reported with its
// location rather than as protojson's bare "unable to resolve".
func UnmarshalYAML(data []byte, m proto.Message) error {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("yaml: %w", err)
	}
	if err := CheckTypeURLs(js); err != nil {
		return err
	}
	opts := protojson.UnmarshalOptions{DiscardUnknown: false, Resolver: protoregistry.GlobalTypes}
	if err := opts.Unmarshal(js, m); err != nil {
		return fmt.Errorf("%s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// CheckTypeURLs walks a JSON document and resolves every "@type" against the
// linked-in protobuf registry. All failures are reported, each with its path.
func CheckTypeURLs(js []byte) error {
	var doc any
	if err := json.Unmarshal(js, &doc); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	var errs []error
	walkTypeURLs(doc, "", func(path, url string) {
		if _, err := protoregistry.GlobalTypes.FindMessageByURL(url); err != nil {
			errs = append(errs, fmt.Errorf("%s: @type %q does not resolve: %w", path, url, err))
		}
	})
	return errors.Join(errs...)
}

func walkTypeURLs(v any, path string, visit func(path, url string)) {
	switch v := v.(type) {
	case map[string]any:
		if t, ok := v["@type"]; ok {
			s, _ := t.(string)
			visit(path, s)
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys) // deterministic error order
		for _, k := range keys {
			walkTypeURLs(v[k], path+"."+k, visit)
		}
	case []any:
		for i, e := range v {
			walkTypeURLs(e, fmt.Sprintf("%s[%d]", path, i), visit)
		}
	}
}

// validator is what protoc-gen-validate generates on every Envoy message.
type validator interface{ ValidateAll() error }

// ValidateDeep runs the PGV rules of m and of every message packed in an Any
// anywhere below it. PGV's generated Validate stops at Any fields (it only
// checks the type URL), which is exactly where an Envoy config keeps its
// filters, so the Anys are unpacked and validated here.
func ValidateDeep(m proto.Message) error {
	var errs []error
	visit := func(path string, msg proto.Message, root bool) {
		if !root {
			return // PGV recursion covers it from the nearest root
		}
		if v, ok := msg.(validator); ok {
			if err := v.ValidateAll(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	walk(m.ProtoReflect(), string(m.ProtoReflect().Descriptor().Name()), true, visit, &errs)
	return errors.Join(errs...)
}

// FindAll returns every message of type T in m, including those packed in
// Anys, in document order. Tests use it to assert on specific filters.
func FindAll[T proto.Message](m proto.Message) []T {
	var out []T
	var errs []error // already reported by ParseBootstrap; ignored here
	walk(m.ProtoReflect(), "", true, func(_ string, msg proto.Message, _ bool) {
		if t, ok := msg.(T); ok {
			out = append(out, t)
		}
	}, &errs)
	return out
}

// walk visits every message below m in document order. root is true for m
// itself and for each message unpacked from an Any: the points where PGV's
// own recursion starts again.
func walk(m protoreflect.Message, path string, root bool, visit func(path string, msg proto.Message, root bool), errs *[]error) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: unpack %s: %w", path, a.GetTypeUrl(), err))
			return
		}
		walk(inner.ProtoReflect(), path+"("+string(inner.ProtoReflect().Descriptor().Name())+")", true, visit, errs)
		return
	}
	visit(path, m.Interface(), root)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := path + "." + string(fd.Name())
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(mv.Message(), name+"["+k.String()+"]", false, visit, errs)
					return true
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i := 0; i < v.List().Len(); i++ {
					walk(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", name, i), false, visit, errs)
				}
			}
		case fd.Message() != nil:
			walk(v.Message(), name, false, visit, errs)
		}
		return true
	})
}
