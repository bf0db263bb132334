// Package emulator runs the compiled filter module outside Envoy: in the
// tetratelabs proxytest host emulator (proxy-wasm-go-sdk v0.24.0), which
// executes the .wasm in wazero and implements the env.proxy_* host calls.
// The module's tests, its benchmark and the e2e gateway use it as their
// Wasm host.
//
// Two facts about proxytest shape this package:
//   - it instantiates modules with wazero's default start function,
//     _start, while a Go -buildmode=c-shared module is a reactor whose entry
//     is _initialize. Load renames that export (wasmbin.RenameExport, the one edit wazero cannot make), which
//     makes wazero run the Go runtime's initialisation at instantiation,
//     the same step Envoy performs by calling _initialize.
//   - its host state is process-global (one emulator at a time, guarded by
//     a mutex inside the SDK). Start therefore refuses a second Host while
//     one is open instead of blocking forever.
package emulator

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/botwarden/botwarden/wasmfilter/wasmbin"
)

// Filter and Noop are the import paths of the filter module and of its
// do-nothing baseline.
const (
	Filter = "github.com/botwarden/botwarden/wasmfilter/cmd/filter"
	Noop   = "github.com/botwarden/botwarden/wasmfilter/cmd/noop"
)

// Build compiles the main package pkg into the Proxy-Wasm module out with
// the stock toolchain, exactly as `make wasm` does:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o out pkg
//
// It runs in the module's directory (found with `go env GOMOD` from the
// current directory), so tests may call it from any package.
func Build(ctx context.Context, pkg, out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("emulator: go toolchain not found: %w", err)
	}
	gomod, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("emulator: go env GOMOD: %w", err)
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("emulator: building %s: %w\n%s", pkg, err, stderr.String())
	}
	return nil
}

// VM is a compiled and instantiated module (one Wasm VM, like one Envoy
// worker's). Its root and stream contexts live as long as it does.
type VM struct {
	vm proxytest.WasmVMContext
}

// Load compiles and instantiates a module produced by Build.
func Load(module []byte) (*VM, error) {
	reactor, err := wasmbin.RenameExport(module, "_initialize", "_start")
	if err != nil {
		return nil, fmt.Errorf("emulator: preparing module: %w", err)
	}
	vm, err := proxytest.NewWasmVMContext(reactor)
	if err != nil {
		return nil, fmt.Errorf("emulator: loading module: %w", err)
	}
	return &VM{vm: vm}, nil
}

// Close releases the wazero runtime.
func (v *VM) Close() error { return v.vm.Close() }

// active is set while a Host is open (proxytest's state is global).
var active atomic.Bool

// ErrBusy is returned by Start while another Host is open in the process.
var ErrBusy = errors.New("emulator: another host is open in this process (proxytest state is global)")

// ConfigError is returned by Start when the module rejects its
// configuration (proxy_on_configure returned false); Logs holds what the
// module logged at error level and above, which says why.
type ConfigError struct{ Logs []string }

func (e *ConfigError) Error() string {
	return "emulator: plugin rejected its configuration: " + strings.Join(e.Logs, " | ")
}

// Host is a started plugin: a root context configured with one plugin
// configuration, ready for requests. Its methods are safe for concurrent
// use; requests are handled one at a time, as in one Envoy worker.
type Host struct {
	mu      sync.Mutex
	emu     proxytest.HostEmulator
	reset   func()
	once    sync.Once
	addrSet bool
	now     func() time.Time
	failed  error
}

// Start runs proxy_on_vm_start and proxy_on_configure with config (the
// JSON plugin configuration). Close the Host before starting another.
func (v *VM) Start(config []byte) (*Host, error) {
	if !active.CompareAndSwap(false, true) {
		return nil, ErrBusy
	}
	opt := proxytest.NewEmulatorOption().WithVMContext(v.vm).WithPluginConfiguration(config)
	emu, reset := proxytest.NewHostEmulator(opt)
	h := &Host{emu: emu, reset: reset, now: time.Now}
	if emu.StartVM() != types.OnVMStartStatusOK {
		h.Close()
		return nil, errors.New("emulator: proxy_on_vm_start returned false")
	}
	if emu.StartPlugin() != types.OnPluginStartStatusOK {
		logs := append(emu.GetErrorLogs(), emu.GetCriticalLogs()...)
		h.Close()
		return nil, &ConfigError{Logs: logs}
	}
	return h, nil
}

// Close releases the emulator so that another Host may start.
func (h *Host) Close() {
	h.once.Do(func() {
		h.reset()
		active.Store(false)
	})
}

// LocalResponse is a reply the module asked the proxy to send.
type LocalResponse struct {
	Status  uint32
	Details string
	Body    []byte
	Headers [][2]string
}

// Result is what the module did with one request's headers.
type Result struct {
	// Continue is true when the module let the request go on (Continue);
	// false when it paused it (a local reply follows).
	Continue bool
	// Headers are the request headers after the module's changes.
	Headers [][2]string
	// Local is the local reply the module sent, or nil.
	Local *LocalResponse
}

// Header returns the first value of name in the result's headers.
func (r *Result) Header(name string) (string, bool) {
	for _, kv := range r.Headers {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

// ErrVMFailed is returned for every request after the module trapped: like
// Envoy, the host does not call into a failed VM again (Envoy's
// failure_policy then decides between skipping the filter and 503).
var ErrVMFailed = errors.New("emulator: the Wasm VM has failed")

// Request runs one stream through the module: context creation,
// proxy_on_request_headers with headers (names are lower-cased, as Envoy
// stores them) and source.address set to sourceAddress ("ip:port", the
// downstream address), then proxy_on_log.
//
// An empty sourceAddress leaves source.address absent on a Host that never
// had one, and makes it "-" (not an address) afterwards: proxytest cannot
// delete a property, nor serve an empty one.
//
// A trap in the module (a Go panic that escaped, proc_exit, a memory
// fault) is returned as an error wrapping ErrVMFailed, and the Host fails
// every later request the same way.
func (h *Host) Request(headers [][2]string, sourceAddress string) (res Result, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != nil {
		return Result{}, h.failed
	}
	defer func() {
		// proxytest panics with the wazero error when the guest traps.
		if r := recover(); r != nil {
			h.failed = fmt.Errorf("%w: %v", ErrVMFailed, r)
			res, err = Result{}, h.failed
		}
	}()
	return h.request(headers, sourceAddress), nil
}

func (h *Host) request(headers [][2]string, sourceAddress string) Result {
	id := h.emu.InitializeHttpContext()
	res := h.requestHeaders(id, headers, sourceAddress)
	h.emu.CompleteHttpContext(id)
	return res
}

func (h *Host) requestHeaders(id uint32, headers [][2]string, sourceAddress string) Result {
	path := []string{"source", "address"}
	switch {
	case sourceAddress != "":
		_ = h.emu.SetProperty(path, []byte(sourceAddress)) // cannot fail in proxytest
		h.addrSet = true
	case h.addrSet:
		_ = h.emu.SetProperty(path, []byte("-"))
	}
	// request.time as Envoy serves it (int64 ns, little-endian): wazero's
	// WASI clock is a fake one unless the embedder asks for the real clock,
	// and proxytest does not.
	_ = h.emu.SetProperty([]string{"request", "time"}, binary.LittleEndian.AppendUint64(nil, uint64(h.now().UnixNano())))
	action := h.emu.CallOnRequestHeaders(id, headers, false)
	res := Result{
		Continue: action == types.ActionContinue,
		Headers:  h.emu.GetCurrentRequestHeaders(id),
	}
	if lr := h.emu.GetSentLocalResponse(id); lr != nil {
		res.Local = &LocalResponse{Status: lr.StatusCode, Details: lr.StatusCodeDetail, Body: lr.Data, Headers: lr.Headers}
	}
	return res
}

// Response is what the module made of one response.
type Response struct {
	Headers [][2]string
	Body    []byte
}

// Stream is one stream kept open across the request and the response, as
// a proxy keeps it while the upstream answers. Its methods take the
// Host's lock per call, so other streams may run between them.
type Stream struct {
	h      *Host
	id     uint32
	result Result
	done   bool
}

// Begin opens a stream and runs its request headers (as Request does);
// finish it with End.
func (h *Host) Begin(headers [][2]string, sourceAddress string) (st *Stream, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != nil {
		return nil, h.failed
	}
	defer h.trap(&err)
	id := h.emu.InitializeHttpContext()
	return &Stream{h: h, id: id, result: h.requestHeaders(id, headers, sourceAddress)}, nil
}

// trap turns a guest trap (proxytest panics with the wazero error) into
// ErrVMFailed for this and every later call.
func (h *Host) trap(err *error) {
	if r := recover(); r != nil {
		h.failed = fmt.Errorf("%w: %v", ErrVMFailed, r)
		*err = h.failed
	}
}

// Result is what the module did with the request headers.
func (st *Stream) Result() Result { return st.result }

// ResponseHeaders runs proxy_on_response_headers and returns the headers
// as the module left them.
func (st *Stream) ResponseHeaders(headers [][2]string, endOfStream bool) (out [][2]string, err error) {
	h := st.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != nil {
		return nil, h.failed
	}
	defer h.trap(&err)
	h.emu.CallOnResponseHeaders(st.id, headers, endOfStream)
	return h.emu.GetCurrentResponseHeaders(st.id), nil
}

// ResponseBody runs proxy_on_response_body with one chunk and returns
// what goes on to the client now: nothing while the module buffers, the
// buffered body (with its changes) when it lets it go.
func (st *Stream) ResponseBody(chunk []byte, endOfStream bool) (out []byte, err error) {
	h := st.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != nil {
		return nil, h.failed
	}
	defer h.trap(&err)
	if h.emu.CallOnResponseBody(st.id, chunk, endOfStream) == types.ActionPause {
		return nil, nil
	}
	return append([]byte(nil), h.emu.GetCurrentResponseBody(st.id)...), nil
}

// End runs proxy_on_log and forgets the stream; calling it again is a
// no-op.
func (st *Stream) End() (err error) {
	h := st.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if st.done || h.failed != nil {
		return h.failed
	}
	st.done = true
	defer h.trap(&err)
	h.emu.CompleteHttpContext(st.id)
	return nil
}

// Exchange runs one whole stream: the request headers, then, when the
// module let the request go on, the response headers and the body in
// chunks (the last with end_of_stream), buffering as the module asks, as
// Envoy does; then proxy_on_log.
func (h *Host) Exchange(headers [][2]string, sourceAddress string, respHeaders [][2]string, chunks ...[]byte) (Result, Response, error) {
	st, err := h.Begin(headers, sourceAddress)
	if err != nil {
		return Result{}, Response{}, err
	}
	defer st.End()
	res := st.Result()
	var resp Response
	if res.Local != nil || !res.Continue {
		return res, resp, st.End()
	}
	if resp.Headers, err = st.ResponseHeaders(respHeaders, len(chunks) == 0); err != nil {
		return res, resp, err
	}
	for i, c := range chunks {
		out, err := st.ResponseBody(c, i == len(chunks)-1)
		if err != nil {
			return res, resp, err
		}
		resp.Body = append(resp.Body, out...)
	}
	return res, resp, st.End()
}

// SetClock replaces the clock that request.time is taken from (time.Now by
// default), so tests can present a request from another moment.
func (h *Host) SetClock(now func() time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = now
}

// Counter returns the value of the counter metric name.
func (h *Host) Counter(name string) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.emu.GetCounterMetric(name)
}

// Logs returns what the module logged at level info and above.
func (h *Host) Logs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	out = append(out, h.emu.GetInfoLogs()...)
	out = append(out, h.emu.GetWarnLogs()...)
	out = append(out, h.emu.GetErrorLogs()...)
	return append(out, h.emu.GetCriticalLogs()...)
}
