// Package e2e holds end-to-end scenarios: botwarden's real server (gRPC
// ext_authz and ALS, HTTP challenge endpoint) on loopback, behind a gateway
// from e2e/gateway running the repository's Envoy config — the real Envoy
// when ENVOY_BIN names a binary, the in-repo reproduction otherwise — in
// front of a recording origin, driven by real clients (curl, wget, Python
// requests) and Go's HTTP client. Each test logs which gateway it used.
//
// Subpackages hold the scenarios of other features (browser: the challenge
// with real Chromium; behavior: the access-log analysis loop).
package e2e
