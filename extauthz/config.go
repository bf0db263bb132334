package extauthz

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Config is the extauthz section of the configuration file: how the client
// address is derived and how the HTTP authz endpoint is mounted.
type Config struct {
	// ClientIP applies to gRPC Check requests, whose source.address is the
	// L4 peer of Envoy (often a load balancer), not the client.
	ClientIP ClientIPConfig `yaml:"client_ip"`
	// HTTP configures the HTTP authz endpoint (Envoy http_service, nginx
	// auth_request, Traefik forwardAuth).
	HTTP HTTPConfig `yaml:"http"`
	// MaxHeaderValueBytes caps each header value (and the path and host)
	// kept for detection. Longer values are truncated, never rejected:
	// Envoy's own limit is 60 KiB for all headers by default, so anything
	// beyond this cap is abnormal and the first bytes are enough to judge.
	MaxHeaderValueBytes int `yaml:"max_header_value_bytes"`
	// MaxHeaders caps the number of distinct header names kept; the rest
	// are dropped (Envoy's default is 100 headers per request).
	MaxHeaders int `yaml:"max_headers"`
	// RayIDHeader names the request header that carries the request
	// reference (RayID) upstream on allowed requests, the one the block,
	// challenge and rate-limit pages quote and the store keys records by,
	// so the origin's logs can be joined with botwarden's. A client's copy
	// is always removed. "" sends none.
	RayIDHeader string `yaml:"ray_id_header"`
}

// HTTPConfig configures the HTTP authz endpoint.
type HTTPConfig struct {
	// Prefix is where the endpoint is mounted. The flavours live under it:
	// Prefix+"/envoy" (Envoy http_service path_prefix), Prefix+"/nginx"
	// (auth_request), Prefix+"/nginx/denied" (nginx error_page target) and
	// Prefix+"/traefik" (forwardAuth).
	Prefix string `yaml:"prefix"`
	// ClientIP for HTTP authz requests. Their L4 peer is always the proxy
	// asking, so by default the client is the last x-forwarded-for entry,
	// which that proxy appended (nginx $proxy_add_x_forwarded_for, Traefik
	// forwardAuth, Envoy's HCM with use_remote_address).
	ClientIP ClientIPConfig `yaml:"client_ip"`
}

// ClientIPConfig says which request attributes are trusted to name the
// client. Nothing is trusted unless configured: by default the client is the
// L4 peer, which is right when Envoy is the edge.
type ClientIPConfig struct {
	// UseXFF derives the client from x-forwarded-for with
	// XFFNumTrustedHops, the way Envoy's HTTP connection manager does.
	UseXFF bool `yaml:"use_xff"`
	// XFFNumTrustedHops is the HCM's xff_num_trusted_hops: the number of
	// trusted proxies in front of Envoy. See clientip.go for the rule.
	XFFNumTrustedHops int `yaml:"xff_num_trusted_hops"`
	// UseExternalAddress takes x-envoy-external-address first. Envoy sets
	// it to its trusted client address on external requests, so with it no
	// XFF arithmetic is needed here.
	UseExternalAddress bool `yaml:"use_external_address"`
	// PeerFallback uses the L4 peer when the configured headers are absent
	// or malformed (Envoy's own fallback). When false the client address
	// stays unknown instead, so a load balancer's address is never
	// mistaken for a client.
	PeerFallback bool `yaml:"peer_fallback"`
}

// Defaults for Config.
const (
	DefaultHTTPPrefix          = "/authz"
	DefaultMaxHeaderValueBytes = 32 << 10
	DefaultMaxHeaders          = 256
	// DefaultRayIDHeader is under x-bot-, so the shipped proxy
	// configurations (Envoy http_service's allowed_upstream_headers prefix,
	// Traefik's authResponseHeadersRegex) pass it without a change.
	DefaultRayIDHeader = "x-bot-ray-id"
	maxTrustedHops     = 64
)

// DefaultConfig trusts no forwarding header on gRPC (Envoy is the edge) and
// the calling proxy's last x-forwarded-for entry on HTTP.
func DefaultConfig() Config {
	return Config{
		ClientIP: ClientIPConfig{PeerFallback: true},
		HTTP: HTTPConfig{
			Prefix:   DefaultHTTPPrefix,
			ClientIP: ClientIPConfig{UseXFF: true, PeerFallback: true},
		},
		MaxHeaderValueBytes: DefaultMaxHeaderValueBytes,
		MaxHeaders:          DefaultMaxHeaders,
		RayIDHeader:         DefaultRayIDHeader,
	}
}

// Validate returns every problem, each naming its field (relative to the
// section, e.g. "http.prefix").
func (c Config) Validate() error {
	var errs []error
	errs = append(errs, c.ClientIP.validate("client_ip")...)
	errs = append(errs, c.HTTP.ClientIP.validate("http.client_ip")...)
	p := c.HTTP.Prefix
	switch {
	case p == "" || p[0] != '/':
		errs = append(errs, fmt.Errorf("http.prefix: %q must start with /", p))
	case len(p) > 1 && strings.HasSuffix(p, "/"):
		errs = append(errs, fmt.Errorf("http.prefix: %q must not end with /", p))
	case strings.ContainsAny(p, "?# \t"):
		errs = append(errs, fmt.Errorf("http.prefix: %q must be a plain path", p))
	}
	if c.MaxHeaderValueBytes < 1024 || c.MaxHeaderValueBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("max_header_value_bytes: %d must be between 1024 and 1048576", c.MaxHeaderValueBytes))
	}
	if c.MaxHeaders < 16 || c.MaxHeaders > 4096 {
		errs = append(errs, fmt.Errorf("max_headers: %d must be between 16 and 4096", c.MaxHeaders))
	}
	if h := c.RayIDHeader; h != "" {
		switch {
		case !httpguts.ValidHeaderFieldName(h):
			errs = append(errs, fmt.Errorf("ray_id_header: %q is not a header name", h))
		case h != strings.ToLower(h):
			errs = append(errs, fmt.Errorf("ray_id_header: %q must be lower-case (Envoy's header names are)", h))
		case h == "host" || isVerdictHeader(h):
			errs = append(errs, fmt.Errorf("ray_id_header: %q is taken", h))
		}
	}
	return errors.Join(errs...)
}

func (c ClientIPConfig) validate(name string) []error {
	var errs []error
	if c.XFFNumTrustedHops < 0 || c.XFFNumTrustedHops > maxTrustedHops {
		errs = append(errs, fmt.Errorf("%s.xff_num_trusted_hops: %d must be between 0 and %d", name, c.XFFNumTrustedHops, maxTrustedHops))
	}
	if c.XFFNumTrustedHops > 0 && !c.UseXFF {
		errs = append(errs, fmt.Errorf("%s.xff_num_trusted_hops: set to %d but use_xff is false", name, c.XFFNumTrustedHops))
	}
	return errs
}
