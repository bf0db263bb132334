// Package browser holds end-to-end tests of the session cookie and the
// managed challenge with real Chromium (Debian's chromium, headless and
// headful under Xvfb) and plain HTTP clients.
//
// The stack is the shared e2e one: botwarden's real server (server.New
// from the default config, e2e.StartBotwarden) on loopback, behind the e2e
// gateway running envoy/envoy-http.yaml (the real Envoy when ENVOY_BIN is
// set, the in-repo reproduction always), which routes
// /.well-known/botwarden/ to botwarden's HTTP port unchecked. What
// botwarden decided is read back only from what the system exposes: the
// gateway's access log with the ext_authz dynamic metadata, what the origin
// received, the session cookie opened with the configured key, and the
// /metrics counters.
package browser
