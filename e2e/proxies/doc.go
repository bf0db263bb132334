// Package proxies tests botwarden's HTTP authz endpoint behind real proxies
// other than Envoy (Caddy forward_auth here; nginx auth_request in
// extauthz), each with the configuration the README gives.
package proxies
