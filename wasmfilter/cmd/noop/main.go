//go:build wasip1

// Command noop is the do-nothing baseline of the filter's benchmark: the
// same ABI binding and build mode as the filter, and a request callback that
// returns Continue at once. The difference between the two is what the
// filter costs per request (its host calls included).
package main

import "github.com/botwarden/botwarden/wasmfilter/abi"

type plugin struct{}

func (plugin) OnConfigure([]byte) bool { return true }

func (plugin) OnRequestHeaders(int, bool) abi.Action { return abi.ActionContinue }

func init() { abi.SetPluginFactory(func(uint32) abi.Plugin { return plugin{} }) }

func main() {}
