// Package extauthz is botwarden's decision transport: it turns a proxy's
// question "may this request through?" into a detect.Request, runs the
// detection pipeline, and turns the verdict back into the proxy's answer.
// Envoy's ext_authz over gRPC (request.go: CheckRequest to detect.Request;
// response.go: verdict to CheckResponse, with Append=false headers, deny as
// a decision and never as a gRPC error, and the dynamic metadata), and the
// same mapping over HTTP for Envoy's http_service, nginx auth_request and
// Traefik forwardAuth (http.go). The gRPC server's wire-speed machinery
// lives behind the mapping in extauthz/wire. docs/envoy.md says which Envoy
// behaviours the mapping relies on.
package extauthz
