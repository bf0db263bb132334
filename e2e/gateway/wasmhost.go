package gateway

// The in-repo gateway's Proxy-Wasm host: what Envoy's envoy.filters.http.wasm
// does with botwarden's filter module, reproduced with the proxytest host
// emulator (wazero) through wasmfilter/emulator. Plus header_to_metadata's
// request rules, which envoy-wasm.yaml uses to turn the Wasm filter's marker
// into the dynamic metadata ext_authz's filter_enabled_metadata reads.

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	headertometadatav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_to_metadata/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	wasmcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botwarden/botwarden/wasmfilter/emulator"
)

// WasmHost runs one compiled Proxy-Wasm module for the gateway. Its Filter
// method is an Options.Wasm: every envoy.filters.http.wasm entry of the
// config gets the module (the entry's vm_config.code names a deployment
// path such as /etc/envoy/botwarden-filter.wasm; tests build the module
// instead) configured with the entry's plugin configuration.
//
// Like one Envoy worker, a plugin handles one request at a time. proxytest
// keeps its host state per process, so only one plugin may be open in a
// test binary at a time: Close the WasmHost before starting another.
type WasmHost struct {
	module []byte

	mu      sync.Mutex
	vms     []*emulator.VM
	plugins []*wasmPlugin
}

// NewWasmHost returns a host for module (the bytes `make wasm` produces).
func NewWasmHost(module []byte) *WasmHost { return &WasmHost{module: module} }

// Filter loads the module and configures it from cfg, as Envoy does when
// it loads the filter: proxy_on_vm_start, then proxy_on_configure with the
// plugin configuration; a refused configuration fails the gateway's start
// as it fails Envoy's.
func (w *WasmHost) Filter(cfg *wasmv3.Wasm) (Filter, error) {
	pc := cfg.GetConfig()
	if pc.GetCapabilityRestrictionConfig() != nil {
		return nil, errors.New("capability_restriction_config is not reproduced")
	}
	failOpen := false
	switch pc.GetFailurePolicy() {
	case wasmcommonv3.FailurePolicy_FAIL_OPEN:
		failOpen = true
	case wasmcommonv3.FailurePolicy_UNSPECIFIED:
		failOpen = pc.GetFailOpen() //nolint:staticcheck // the deprecated field still decides when the policy is unset
	case wasmcommonv3.FailurePolicy_FAIL_CLOSED:
	default:
		return nil, fmt.Errorf("failure_policy %s is not reproduced", pc.GetFailurePolicy())
	}
	config, err := emulator.PluginConfiguration(pc)
	if err != nil {
		return nil, err
	}
	vm, err := emulator.Load(w.module)
	if err != nil {
		return nil, err
	}
	h, err := vm.Start(config)
	if err != nil {
		vm.Close()
		return nil, fmt.Errorf("plugin %s: %w", pc.GetName(), err)
	}
	p := &wasmPlugin{host: h, failOpen: failOpen}
	w.mu.Lock()
	w.vms = append(w.vms, vm)
	w.plugins = append(w.plugins, p)
	w.mu.Unlock()
	return p, nil
}

// Counter returns a counter the module defined (e.g.
// "botwarden.fastpath.hit"; Envoy shows it as wasmcustom.botwarden...),
// summed over the plugins started from this host.
func (w *WasmHost) Counter(name string) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var sum uint64
	for _, p := range w.plugins {
		v, err := p.host.Counter(name)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// Close releases the plugins and their VMs.
func (w *WasmHost) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for _, p := range w.plugins {
		p.host.Close()
	}
	for _, vm := range w.vms {
		errs = append(errs, vm.Close())
	}
	w.plugins, w.vms = nil, nil
	return errors.Join(errs...)
}

// wasmPlugin is one configured Wasm filter of the chain. A stream stays
// open in the module from the request headers to the access log, so the
// module sees its response headers and body, as in Envoy.
type wasmPlugin struct {
	host     *emulator.Host
	failOpen bool
	streams  sync.Map // *Stream -> *emulator.Stream
}

// DecodeHeaders is proxy_on_request_headers with the stream's headers and
// source.address = the connection manager's client address. A trap fails
// the VM for good; the failure policy then skips the filter (FAIL_OPEN) or
// answers 503 (FAIL_CLOSED), as Envoy does.
func (p *wasmPlugin) DecodeHeaders(s *Stream) *LocalReply {
	pairs := make([][2]string, 0, s.Headers.Len())
	for _, h := range s.Headers.All() {
		pairs = append(pairs, [2]string{h.Key, h.Value})
	}
	src := ""
	if s.Client.IsValid() {
		src = s.Client.String()
	}
	st, err := p.host.Begin(pairs, src)
	var res emulator.Result
	if err == nil {
		p.streams.Store(s, st)
		res = st.Result()
	}
	if err != nil {
		if p.failOpen {
			return nil
		}
		return &LocalReply{Status: 503, Body: "wasm failure", Details: "wasm_fail_stream"}
	}
	headers := make([]Header, len(res.Headers))
	for i, kv := range res.Headers {
		headers[i] = Header{Key: kv[0], Value: kv[1]}
	}
	*s.Headers = *NewHeaderMap(headers...)
	if res.Local != nil {
		lr := &LocalReply{Status: int(res.Local.Status), Body: string(res.Local.Body), Details: res.Local.Details}
		for _, kv := range res.Local.Headers {
			lr.Headers = append(lr.Headers, Header{Key: kv[0], Value: kv[1]})
		}
		return lr
	}
	if !res.Continue {
		// A pause without a local reply waits for proxy_continue_stream,
		// which botwarden's module never calls; Envoy would hold the
		// request until its timeout.
		return &LocalReply{Status: 504, Details: "wasm_paused"}
	}
	return nil
}

// EncodeHeaders is proxy_on_response_headers.
func (p *wasmPlugin) EncodeHeaders(s *Stream, resp *HeaderMap) {
	v, ok := p.streams.Load(s)
	if !ok {
		return
	}
	pairs := make([][2]string, 0, resp.Len())
	for _, h := range resp.All() {
		pairs = append(pairs, [2]string{h.Key, h.Value})
	}
	out, err := v.(*emulator.Stream).ResponseHeaders(pairs, false)
	if err != nil {
		return // a failed VM: the response goes on as it came (fail open)
	}
	headers := make([]Header, len(out))
	for i, kv := range out {
		headers[i] = Header{Key: kv[0], Value: kv[1]}
	}
	*resp = *NewHeaderMap(headers...)
}

// EncodeBody is proxy_on_response_body with the whole body and
// end_of_stream.
func (p *wasmPlugin) EncodeBody(s *Stream, body []byte) []byte {
	v, ok := p.streams.Load(s)
	if !ok {
		return body
	}
	out, err := v.(*emulator.Stream).ResponseBody(body, true)
	if err != nil {
		return body
	}
	return out
}

// OnLog is proxy_on_log: the stream ends in the module.
func (p *wasmPlugin) OnLog(s *Stream) {
	if v, ok := p.streams.LoadAndDelete(s); ok {
		_ = v.(*emulator.Stream).End()
	}
}

// HeaderToMetadata reproduces the request side of Envoy's
// envoy.filters.http.header_to_metadata (header rules, STRING values,
// on_header_present / on_header_missing, remove) as a Filter.
func HeaderToMetadata(c *headertometadatav3.Config) (Filter, error) {
	if len(c.GetResponseRules()) > 0 {
		return nil, errors.New("header_to_metadata: response_rules are not reproduced")
	}
	for i, r := range c.GetRequestRules() {
		if r.GetHeader() == "" || r.GetCookie() != "" {
			return nil, fmt.Errorf("header_to_metadata: request_rules[%d]: only header rules are reproduced", i)
		}
		for _, kv := range []*headertometadatav3.Config_KeyValuePair{r.GetOnHeaderPresent(), r.GetOnHeaderMissing()} {
			if kv != nil && (kv.GetType() != headertometadatav3.Config_STRING || kv.GetEncode() != headertometadatav3.Config_NONE || kv.GetRegexValueRewrite() != nil) {
				return nil, fmt.Errorf("header_to_metadata: request_rules[%d]: only plain STRING values are reproduced", i)
			}
		}
	}
	rules := proto.Clone(c).(*headertometadatav3.Config).GetRequestRules()
	return FilterFunc(func(s *Stream) *LocalReply {
		for _, r := range rules {
			v, ok := s.Headers.Get(r.GetHeader())
			kv := r.GetOnHeaderMissing()
			if ok {
				kv = r.GetOnHeaderPresent()
			}
			if kv != nil {
				val := kv.GetValue()
				if val == "" {
					val = v // the header's own value
				}
				// Envoy skips empty values (nothing to put in metadata).
				if val != "" {
					ns := kv.GetMetadataNamespace()
					if ns == "" {
						ns = "envoy.filters.http.header_to_metadata"
					}
					s.SetMetadata(ns, &structpb.Struct{Fields: map[string]*structpb.Value{kv.GetKey(): structpb.NewStringValue(val)}})
				}
			}
			if ok && r.GetRemove() {
				s.Headers.Remove(strings.ToLower(r.GetHeader()))
			}
		}
		return nil
	}), nil
}
