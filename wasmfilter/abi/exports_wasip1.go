//go:build wasip1

package abi

import "fmt"

// Plugin is one root context: a configured instance of the filter. Envoy
// creates one per plugin per VM (one VM per worker thread), configures it,
// then routes every HTTP stream of that plugin to it.
type Plugin interface {
	// OnConfigure receives the plugin configuration. Returning false fails
	// the plugin load (an xDS NACK or a startup failure in Envoy).
	OnConfigure(config []byte) bool
	// OnRequestHeaders handles the request headers of one stream.
	OnRequestHeaders(numHeaders int, endOfStream bool) Action
}

// ResponsePlugin is a Plugin that also handles responses; Host.Stream
// says which stream a callback is for.
type ResponsePlugin interface {
	OnResponseHeaders(numHeaders int, endOfStream bool) Action
	OnResponseBody(bodySize int, endOfStream bool) Action
	// OnStreamDone is told the stream is over (proxy_on_log).
	OnStreamDone()
}

var (
	newPlugin func(rootID uint32) Plugin
	roots     = map[uint32]Plugin{}
	streams   = map[uint32]uint32{} // stream context id -> root context id
)

// SetPluginFactory registers the constructor of root contexts. Call it from
// init() and do nothing else there: while the module starts (_initialize)
// Envoy allows only logging, clock, random and environment calls.
func SetPluginFactory(f func(rootID uint32) Plugin) { newPlugin = f }

// guard turns a panic in a callback into a critical log line, so that a
// bug fails one callback instead of killing the VM (a Go panic that reaches
// the host is a trap, and every plugin on a trapped VM fails).
func guard(where string) {
	if r := recover(); r != nil {
		Host{}.Log(LogCritical, fmt.Sprintf("botwarden: panic in %s: %v", where, r))
	}
}

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion() {}

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(rootID, vmConfigSize uint32) bool {
	// The filter has no VM-wide configuration: everything is per plugin.
	return true
}

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(id, parentID uint32) {
	defer guard("proxy_on_context_create")
	release()
	if parentID != 0 {
		streams[id] = parentID
		return
	}
	if newPlugin != nil {
		roots[id] = newPlugin(id)
	}
}

//go:wasmexport proxy_on_configure
func proxyOnConfigure(rootID, configSize uint32) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			Host{}.Log(LogCritical, fmt.Sprintf("botwarden: panic in proxy_on_configure: %v", r))
			ok = false
		}
	}()
	release()
	p := roots[rootID]
	if p == nil {
		if newPlugin == nil {
			Host{}.Log(LogCritical, "botwarden: no plugin registered in this module")
			return false
		}
		p = newPlugin(rootID)
		roots[rootID] = p
	}
	cfg, err := Host{}.PluginConfiguration(configSize)
	if err != nil {
		Host{}.Log(LogError, "botwarden: reading plugin configuration: "+err.Error())
		return false
	}
	return p.OnConfigure(cfg)
}

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(id, numHeaders uint32, endOfStream bool) (action Action) {
	// A panic that escapes the plugin's own handling continues the request
	// (fail open): the request still meets ext_authz.
	action = ActionContinue
	defer guard("proxy_on_request_headers")
	release()
	current = id
	if p := roots[streams[id]]; p != nil {
		action = p.OnRequestHeaders(int(numHeaders), endOfStream)
	}
	return action
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(id, numHeaders uint32, endOfStream bool) (action Action) {
	action = ActionContinue
	defer guard("proxy_on_response_headers")
	release()
	current = id
	if p, ok := roots[streams[id]].(ResponsePlugin); ok {
		action = p.OnResponseHeaders(int(numHeaders), endOfStream)
	}
	return action
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(id, bodySize uint32, endOfStream bool) (action Action) {
	action = ActionContinue
	defer guard("proxy_on_response_body")
	release()
	current = id
	if p, ok := roots[streams[id]].(ResponsePlugin); ok {
		action = p.OnResponseBody(int(bodySize), endOfStream)
	}
	return action
}

// proxyOnLog is the last callback of a stream in every host (the proxytest
// host never calls proxy_on_delete for streams), so the stream is forgotten
// here.
//
//go:wasmexport proxy_on_log
func proxyOnLog(id uint32) {
	defer guard("proxy_on_log")
	current = id
	if p, ok := roots[streams[id]].(ResponsePlugin); ok {
		p.OnStreamDone()
	}
	delete(streams, id)
}

//go:wasmexport proxy_on_done
func proxyOnDone(id uint32) bool { return true }

//go:wasmexport proxy_on_delete
func proxyOnDelete(id uint32) {
	delete(streams, id)
	delete(roots, id)
}
