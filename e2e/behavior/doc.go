// Package behavior holds end-to-end tests of the behavioural loop: real
// clients through the e2e gateway (Envoy, or its in-repo reproduction,
// running envoy/envoy-http.yaml), botwarden's ext_authz and ALS receiver
// over gRPC on loopback, the analysis publishing verdicts to the
// reputation store, and the next Check enforcing them.
package behavior
