package emulator

import (
	"fmt"

	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// PluginConfiguration returns the bytes Envoy hands a module as the plugin
// configuration of pc (what proxy_get_buffer_bytes(PLUGIN_CONFIGURATION)
// reads): a StringValue or BytesValue unwrapped, a Struct as JSON (how
// Istio's pluginConfig arrives), any other type as its serialised bytes, and
// nothing when the field is unset (docs/envoy.md, "Proxy-Wasm").
func PluginConfiguration(pc *wasmv3.PluginConfig) ([]byte, error) {
	a := pc.GetConfiguration()
	if a == nil {
		return nil, nil
	}
	msg, err := a.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("emulator: plugin configuration %s: %w", a.GetTypeUrl(), err)
	}
	switch v := msg.(type) {
	case *wrapperspb.StringValue:
		return []byte(v.GetValue()), nil
	case *wrapperspb.BytesValue:
		return v.GetValue(), nil
	case *structpb.Struct:
		return protojson.Marshal(v)
	}
	return a.GetValue(), nil
}
