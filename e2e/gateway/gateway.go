// Package gateway puts an Envoy in front of botwarden for end-to-end tests,
// in one of two forms behind one interface:
//
//   - the real thing: an Envoy binary (ENVOY_BIN) started from one of the
//     repository's configs (envoy/envoy-http.yaml by default) with its
//     addresses rewritten to loopback ports;
//   - InRepo, for machines without Envoy: a Go HTTP server that reads the
//     same Envoy config and reproduces the behaviour Envoy documents for
//     what that config uses (docs/envoy.md lists it, with links to Envoy's
//     documentation): the HTTP
//     connection manager's x-forwarded-for and x-request-id handling, the
//     header_mutation filter, routes with per-route ExtAuthzPerRoute, the
//     ext_authz CheckRequest and the application of OK, denied and error
//     responses (failure_mode_allow, status_on_error), the router, and the
//     gRPC access-log entry with the ext_authz dynamic metadata.
//
// InRepo refuses configs that use what it does not reproduce, rather than
// silently doing something else. It has two extension points Envoy fills
// with other machinery: Filter (a pre-authz HTTP filter, where Envoy runs
// the Wasm filter) and AccessLogger (where Envoy's gRPC access logger
// batches and streams entries).
package gateway

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/botwarden/botwarden/envoy"
)

// Gateway is an Envoy, real or reproduced, listening on loopback.
type Gateway interface {
	// URL is the base URL clients send requests to, e.g. http://127.0.0.1:40123.
	URL() string
	// Kind says which gateway this is ("in-repo" or "envoy"), for test logs.
	Kind() string
	// Close stops the gateway and waits for it.
	Close() error
}

// Options say which config to run and what to change in it. The changes
// are applied to the parsed Envoy config, so both gateways run exactly the
// same configuration.
type Options struct {
	// Config is the Envoy bootstrap file. Default: envoy/envoy-http.yaml
	// of this repository.
	Config string
	// Clusters maps every cluster the config routes to (or calls) to a
	// loopback "host:port": botwarden_authz, botwarden_als, botwarden_http,
	// origin for the shipped configs. In-repo, a gRPC cluster may list
	// several comma-separated addresses (replicas), balanced round robin.
	Clusters map[string]string

	// Overrides of the ext_authz filter (nil / zero: as in the file).
	FailureModeAllow *bool
	StatusOnError    int
	AuthzTimeout     time.Duration
	// XFFNumTrustedHops overrides the connection manager's setting, e.g. 1
	// to act as if a load balancer in front appended the client address.
	XFFNumTrustedHops *uint32

	// Tap sees every access-log entry the config's gRPC access logger
	// produces. In-repo: called directly. Envoy: an extra gRPC access logger
	// streams to a loopback receiver that calls it, so Envoy's own stream to
	// botwarden_als is untouched.
	Tap AccessLogger

	// In-repo only.

	// ALS builds, for each envoy.access_loggers.http_grpc entry of the
	// config, the logger that batches and streams entries to its cluster as
	// Envoy does. nil: the in-repo gateway streams nothing (Tap still sees
	// every entry).
	ALS func(ALSConfig) (AccessLogger, error)
	// Filters run in order just before ext_authz, where envoy-wasm.yaml
	// puts the Wasm filter.
	Filters []Filter
	// Wasm makes the Filter for an envoy.filters.http.wasm entry of the
	// config (the Proxy-Wasm host). A config with a Wasm filter needs it.
	Wasm func(*wasmv3.Wasm) (Filter, error)
	// Fingerprint returns the TLS fingerprints of the connection r came on,
	// for %TLS_JA4_FINGERPRINT% / %TLS_JA3_FINGERPRINT% in header mutations.
	// The in-repo gateway's TLS listener computes them from the real
	// ClientHello; this overrides that (and supplies them on plain HTTP,
	// where Envoy would have none).
	Fingerprint func(c ConnInfo) Fingerprints
}

// Fingerprints are the TLS client fingerprints of a connection.
type Fingerprints struct{ JA3, JA4 string }

// AccessLogger receives completed requests, one entry each, as Envoy's
// gRPC access logger is given them. Log must not block for long: it runs
// after the response has been sent, on the request's goroutine.
type AccessLogger interface {
	Log(*accesslogv3.HTTPAccessLogEntry)
}

// AccessLoggerFunc adapts a function to AccessLogger.
type AccessLoggerFunc func(*accesslogv3.HTTPAccessLogEntry)

// Log calls f.
func (f AccessLoggerFunc) Log(e *accesslogv3.HTTPAccessLogEntry) { f(e) }

// ALSConfig is one envoy.access_loggers.http_grpc entry, resolved: what an
// AccessLogger streaming like Envoy needs.
type ALSConfig struct {
	LogName string
	// Node is the bootstrap node: the stream identifier Envoy sends first.
	Node *corev3.Node
	// Cluster and Address are the gRPC service's cluster and its loopback address.
	Cluster, Address string
	// FlushInterval and BufferSizeBytes with Envoy's defaults (1 s, 16 KiB) applied.
	FlushInterval   time.Duration
	BufferSizeBytes int
}

// DefaultConfig is envoy/envoy-http.yaml, found from the working directory
// (any package of this repository).
func DefaultConfig() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "envoy", "envoy-http.yaml")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("envoy/envoy-http.yaml not found above the working directory")
		}
		dir = parent
	}
}

// loadConfig reads and validates the bootstrap, then applies the overrides.
func loadConfig(opts Options) (*bootstrapv3.Bootstrap, error) {
	path := opts.Config
	if path == "" {
		var err error
		if path, err = DefaultConfig(); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	b, err := envoy.ParseBootstrap(data)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", path, err)
	}
	if err := applyOverrides(b, opts); err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", path, err)
	}
	if err := envoy.ValidateDeep(b); err != nil {
		return nil, fmt.Errorf("gateway: %s with the overrides: %w", path, err)
	}
	return b, nil
}

// applyOverrides edits the ext_authz filters and connection managers in
// place (inside their Anys).
func applyOverrides(b *bootstrapv3.Bootstrap, opts Options) error {
	err := eachTyped(b, func(hcm *hcmv3.HttpConnectionManager) bool {
		if opts.XFFNumTrustedHops == nil {
			return false
		}
		hcm.XffNumTrustedHops = *opts.XFFNumTrustedHops
		return true
	})
	if err != nil {
		return err
	}
	return eachTyped(b, func(az *extauthzv3.ExtAuthz) bool {
		changed := false
		if opts.FailureModeAllow != nil {
			az.FailureModeAllow = *opts.FailureModeAllow
			changed = true
		}
		if opts.StatusOnError != 0 {
			az.StatusOnError = &typev3.HttpStatus{Code: typev3.StatusCode(opts.StatusOnError)}
			changed = true
		}
		if opts.AuthzTimeout != 0 && az.GetGrpcService() != nil {
			az.GetGrpcService().Timeout = durationpb.New(opts.AuthzTimeout)
			changed = true
		}
		return changed
	})
}
