// Package wasm is the end-to-end scenario of the Proxy-Wasm cookie fast
// path: the real botwarden server (server.New: ext_authz gRPC, session
// cookies, the default engines and policy) behind the gateway running
// envoy/envoy-wasm.yaml with the compiled filter module in its Wasm host,
// in front of an origin. It shows that a client holding a valid cookie no
// longer causes Check calls while a client without one still does, and
// measures the share of Check calls saved.
package wasm
