//go:build tools

// Package deps pins the modules the packages under construction will import,
// so parallel work shares one go.mod. Removed once every import is real.
package deps

import (
	_ "cel.dev/cel-go/cel"
	_ "github.com/allegro/bigcache/v3"
	_ "github.com/chromedp/chromedp"
	_ "github.com/compose-spec/compose-go/v2/loader"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/gaissmai/bart"
	_ "github.com/maxmind/mmdbwriter"
	_ "github.com/nats-io/nats.go"
	_ "github.com/oschwald/maxminddb-golang/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/rs/zerolog"
	_ "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	_ "github.com/tetratelabs/wazero"
	_ "golang.org/x/net/http2/h2c"
	_ "google.golang.org/grpc"
	_ "google.golang.org/grpc/health"
	_ "istio.io/api/mesh/v1alpha1"
	_ "istio.io/api/networking/v1alpha3"
	_ "istio.io/api/security/v1"
	_ "sigs.k8s.io/yaml"
)
