//go:build wasip1

// Command filter is botwarden's Proxy-Wasm module. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/botwarden-filter.wasm ./wasmfilter/cmd/filter
//
// -buildmode=c-shared makes a WASI reactor: the host runs _initialize (the
// Go runtime and the init functions below), never main.
package main

import (
	"github.com/botwarden/botwarden/wasmfilter"
	"github.com/botwarden/botwarden/wasmfilter/abi"
)

func init() {
	// Registration only: during _initialize Envoy allows no proxy_* call
	// but proxy_log.
	abi.SetPluginFactory(func(uint32) abi.Plugin { return wasmfilter.NewPlugin(abi.Host{}) })
}

func main() {}
