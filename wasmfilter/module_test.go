package wasmfilter_test

// Tests of the compiled module: built here with the stock toolchain
// (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, as `make wasm`),
// inspected with wazero's decoder, and run in the tetratelabs proxytest host (wazero)
// through package emulator.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/wasmfilter"
	"github.com/botwarden/botwarden/wasmfilter/emulator"
	"github.com/botwarden/botwarden/wasmfilter/internal/cookietest"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// built holds the two modules, built once per test binary, and one loaded
// VM of the filter that the tests share (as Envoy reuses a worker's VM
// across plugin reconfigurations; wazero compiles a 4 MB module in about a
// second, so loading it once keeps the tests quick).
var built struct {
	once         sync.Once
	dir          string
	filter, noop []byte
	err          error

	vmOnce sync.Once
	vm     *emulator.VM
	vmErr  error
}

func TestMain(m *testing.M) {
	// proxytest prints every proxy_log call with the standard logger; the
	// tests read the module's logs from the host instead.
	log.SetOutput(io.Discard)
	code := m.Run()
	if built.vm != nil {
		built.vm.Close()
	}
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// filterVM returns the shared VM of the filter module.
func filterVM(tb testing.TB) *emulator.VM {
	tb.Helper()
	filter, _ := modules(tb)
	built.vmOnce.Do(func() { built.vm, built.vmErr = emulator.Load(filter) })
	if built.vmErr != nil {
		tb.Fatal(built.vmErr)
	}
	return built.vm
}

// modules builds the filter and the do-nothing baseline (once).
func modules(tb testing.TB) (filter, noop []byte) {
	tb.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "botwarden-wasm-"); built.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for _, m := range []struct {
			pkg string
			out *[]byte
		}{{emulator.Filter, &built.filter}, {emulator.Noop, &built.noop}} {
			path := filepath.Join(built.dir, filepath.Base(m.pkg)+".wasm")
			if built.err = emulator.Build(ctx, m.pkg, path); built.err != nil {
				return
			}
			if *m.out, built.err = os.ReadFile(path); built.err != nil {
				return
			}
		}
	})
	if built.err != nil {
		tb.Fatal(built.err)
	}
	return built.filter, built.noop
}

// The WASI functions Envoy provides up to 1.37 (proxy-wasm-cpp-host
// c8868da; docs/envoy.md, "Proxy-Wasm"). Importing anything else fails the
// module load with "missing import".
var envoyWASI = []string{
	"fd_write", "fd_read", "fd_seek", "fd_close", "fd_fdstat_get", "fd_fdstat_set_flags",
	"environ_get", "environ_sizes_get", "args_get", "args_sizes_get", "clock_time_get",
	"random_get", "sched_yield", "poll_oneoff", "proc_exit", "path_open", "fd_prestat_get",
	"fd_prestat_dir_name",
}

// The env.proxy_* functions proxy-wasm-cpp-host registers
// (FOR_ALL_HOST_FUNCTIONS), and those it adds per ABI version.
var (
	proxyHost = []string{
		"log", "get_status", "set_property", "get_property", "send_local_response",
		"get_shared_data", "set_shared_data", "register_shared_queue", "resolve_shared_queue",
		"dequeue_shared_queue", "enqueue_shared_queue", "get_header_map_value",
		"add_header_map_value", "replace_header_map_value", "remove_header_map_value",
		"get_header_map_pairs", "set_header_map_pairs", "get_header_map_size",
		"get_buffer_status", "get_buffer_bytes", "set_buffer_bytes", "http_call", "grpc_call",
		"grpc_stream", "grpc_close", "grpc_cancel", "grpc_send", "set_tick_period_milliseconds",
		"get_current_time_nanoseconds", "define_metric", "increment_metric", "record_metric",
		"get_metric", "set_effective_context", "done", "call_foreign_function",
	}
	proxyPerABI = map[string][]string{
		"proxy_abi_version_0_2_0": {"continue_stream", "close_stream"},
		"proxy_abi_version_0_2_1": {"continue_stream", "close_stream", "get_log_level"},
	}
	// Signatures (Proxy-Wasm ABI v0.2.1) of every proxy_* function the
	// module may import: a new import must be added here, with the spec's
	// signature, before the test accepts it.
	proxySignatures = map[string]string{
		"proxy_log":                      "(i32,i32,i32)->(i32)",
		"proxy_get_buffer_bytes":         "(i32,i32,i32,i32,i32)->(i32)",
		"proxy_get_header_map_pairs":     "(i32,i32,i32)->(i32)",
		"proxy_replace_header_map_value": "(i32,i32,i32,i32,i32)->(i32)",
		"proxy_remove_header_map_value":  "(i32,i32,i32)->(i32)",
		"proxy_get_property":             "(i32,i32,i32,i32)->(i32)",
		"proxy_send_local_response":      "(i32,i32,i32,i32,i32,i32,i32,i32)->(i32)",
		"proxy_define_metric":            "(i32,i32,i32,i32)->(i32)",
		"proxy_increment_metric":         "(i32,i64)->(i32)",
		"proxy_set_buffer_bytes":         "(i32,i32,i32,i32,i32)->(i32)",
	}
	// Signatures of the callbacks the host calls (spec + cpp-host).
	exportSignatures = map[string]string{
		"_initialize":               "()->()",
		"proxy_on_memory_allocate":  "(i32)->(i32)",
		"proxy_on_vm_start":         "(i32,i32)->(i32)",
		"proxy_on_configure":        "(i32,i32)->(i32)",
		"proxy_on_context_create":   "(i32,i32)->()",
		"proxy_on_request_headers":  "(i32,i32,i32)->(i32)",
		"proxy_on_response_headers": "(i32,i32,i32)->(i32)",
		"proxy_on_response_body":    "(i32,i32,i32)->(i32)",
		"proxy_on_log":              "(i32)->()",
		"proxy_on_done":             "(i32)->(i32)",
		"proxy_on_delete":           "(i32)->()",
	}
)

// TestModuleImportsWhatEnvoyProvides reads the import section of both
// modules and fails on any import Envoy would not satisfy.
func TestModuleImportsWhatEnvoyProvides(t *testing.T) {
	filter, noop := modules(t)
	for name, b := range map[string][]byte{"filter": filter, "noop": noop} {
		t.Run(name, func(t *testing.T) {
			// CompileModule decodes and validates without instantiating,
			// so the imports need not be provided.
			ctx := context.Background()
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
			defer rt.Close(ctx)
			m, err := rt.CompileModule(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			var abiVersion string
			exports := m.ExportedFunctions()
			for name := range exports {
				if strings.HasPrefix(name, "proxy_abi_version_") {
					if abiVersion != "" {
						t.Errorf("two ABI markers: %s and %s", abiVersion, name)
					}
					abiVersion = name
				}
			}
			if abiVersion != "proxy_abi_version_0_2_1" {
				t.Fatalf("ABI marker %q, want proxy_abi_version_0_2_1", abiVersion)
			}
			allowed := map[string]bool{}
			for _, f := range envoyWASI {
				allowed["wasi_snapshot_preview1."+f] = true
				allowed["wasi_unstable."+f] = true
			}
			for _, f := range append(slices.Clone(proxyHost), proxyPerABI[abiVersion]...) {
				allowed["env.proxy_"+f] = true
			}
			// wazero lists imported functions and memories; an imported
			// table or global would also fail Load (proxytest provides
			// functions only), which the request tests would report.
			for _, mem := range m.ImportedMemories() {
				mod, name, _ := mem.Import()
				t.Errorf("imports a memory (%s.%s); Envoy provides functions only", mod, name)
			}
			for _, im := range m.ImportedFunctions() {
				mod, name, _ := im.Import()
				full := mod + "." + name
				if !allowed[full] {
					t.Errorf("imports %s %s, which Envoy ≤ 1.37 does not provide: the module would fail to load", full, signature(im))
					continue
				}
				if mod == "env" {
					want, ok := proxySignatures[name]
					if !ok {
						t.Errorf("imports %s: add its ABI signature to proxySignatures", full)
					} else if got := signature(im); got != want {
						t.Errorf("%s has signature %s, the ABI says %s", full, got, want)
					}
				}
			}
			for name, want := range exportSignatures {
				e, ok := exports[name]
				if !ok {
					t.Errorf("does not export %s", name)
					continue
				}
				if got := signature(e); got != want {
					t.Errorf("export %s has signature %s, want %s", name, got, want)
				}
			}
			if _, ok := m.ExportedMemories()["memory"]; !ok {
				t.Error("does not export its memory")
			}
			// A reactor: Envoy runs _initialize, and would also call an
			// exported main/__main_void; _start would make it a command.
			for _, bad := range []string{"_start", "main", "__main_void", "malloc"} {
				if _, ok := exports[bad]; ok {
					t.Errorf("exports %s", bad)
				}
			}
		})
	}
}

// signature renders a function's type as "(i32,i64)->(i32)", the form of
// proxySignatures and exportSignatures.
func signature(f api.FunctionDefinition) string {
	join := func(ts []api.ValueType) string {
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = api.ValueTypeName(t)
		}
		return strings.Join(names, ",")
	}
	return "(" + join(f.ParamTypes()) + ")->(" + join(f.ResultTypes()) + ")"
}

// fixture mints cookies for the module tests: score 91, issued 5 s ago,
// bound to client and ua.
type fixture struct{ cookietest.Fixture }

const (
	ua     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15"
	client = "192.0.2.44:50312"
)

func newFixture(tb testing.TB) fixture { return fixture{cookietest.New(tb, 3)} }

func (f fixture) config(tb testing.TB, extra map[string]any) []byte { return f.Config(tb, extra) }

func (f fixture) cookie(tb testing.TB, mut func(*token.Claims)) string {
	return f.Cookie(tb, time.Now().Add(-5*time.Second), netip.MustParseAddrPort(client).Addr().String(), ua, 91, mut)
}

func headers(cookie string, extra ...[2]string) [][2]string {
	h := [][2]string{{":method", "GET"}, {":path", "/cart"}, {":authority", "shop.example"}, {"user-agent", ua}, {"accept", "text/html"}}
	if cookie != "" {
		h = append(h, [2]string{"cookie", "consent=1; __bw=" + cookie})
	}
	return append(h, extra...)
}

// mustRequest runs one request and fails the test if the module trapped.
func mustRequest(t *testing.T, h *emulator.Host, hs [][2]string, source string) emulator.Result {
	t.Helper()
	res, err := h.Request(hs, source)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// start starts the shared filter VM with config.
func start(t *testing.T, config []byte) *emulator.Host {
	t.Helper()
	h, err := filterVM(t).Start(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func TestModuleRequests(t *testing.T) {
	f := newFixture(t)
	h := start(t, f.config(t, nil))
	if logs := h.Logs(); !slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, "cookie fast path configured") }) {
		t.Errorf("no configuration log line: %v", logs)
	}
	valid := f.cookie(t, nil)
	tampered := cookietest.Tamper(valid)
	expiredAt := time.Now().Add(-time.Minute).Unix()

	for _, tc := range []struct {
		name    string
		headers [][2]string
		source  string
		counter string
		fast    bool
		block   bool
	}{
		{"valid cookie", headers(valid), client, "fastpath.hit", true, false},
		{"tampered cookie", headers(tampered), client, "cookie.invalid.tampered", false, false},
		{"other client", headers(valid), "198.51.100.20:4242", "cookie.invalid.unbound", false, false},
		{"other user agent", append(headers("")[:3], [2]string{"user-agent", "python-requests/2.32"}, [2]string{"cookie", "__bw=" + valid}), client, "cookie.invalid.unbound", false, false},
		{"expired", headers(f.cookie(t, func(c *token.Claims) { c.IssuedAt, c.Expiry = expiredAt-3600, expiredAt })), client, "cookie.invalid.expired", false, false},
		{"blocked", headers(f.cookie(t, func(c *token.Claims) { c.Flags = token.Blocked; c.Score = 1 })), client, "block.local", false, true},
		{"low score", headers(f.cookie(t, func(c *token.Claims) { c.Score = 9 })), client, "fastpath.below_threshold", false, false},
		{"no cookie", headers(""), client, "cookie.absent", false, false},
		{"garbage cookie", headers("\x00\xff;;=="), client, "cookie.invalid.malformed", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := h.Counter(wasmfilter.MetricPrefix + tc.counter)
			res := mustRequest(t, h, tc.headers, tc.source)
			after, err := h.Counter(wasmfilter.MetricPrefix + tc.counter)
			if err != nil || after != before+1 {
				t.Errorf("counter %s: %d -> %d (%v)", tc.counter, before, after, err)
			}
			marker, _ := res.Header("x-botwarden-skip-authz")
			score, _ := res.Header("x-bot-score")
			if tc.fast != (marker == "1") || tc.fast != (score == "91") {
				t.Errorf("fast path %v: marker %q score %q; headers %v", tc.fast, marker, score, res.Headers)
			}
			if tc.block {
				if res.Continue || res.Local == nil || res.Local.Status != 403 || !strings.Contains(string(res.Local.Body), "denied") {
					t.Errorf("want a paused request with a local 403, got %+v", res)
				}
			} else if !res.Continue || res.Local != nil {
				t.Errorf("want the request to continue untouched, got %+v", res)
			}
		})
	}
}

func TestModuleStripsSpoofedHeaders(t *testing.T) {
	f := newFixture(t)
	h := start(t, f.config(t, nil))
	spoof := [][2]string{
		{"x-bot-score", "99"}, {"x-bot-score", "98"}, {"x-bot-verified", "true"},
		{"x-botwarden-skip-authz", "1"}, {"x-botwarden-anything", "x"},
		{"x-botwarden-ja4", "t13d1516h2_8daaf6152771_e5627efa2ab1"},
	}
	for _, ck := range []string{"", f.cookie(t, func(c *token.Claims) { c.Score = 5 })} {
		res := mustRequest(t, h, headers(ck, spoof...), client)
		for _, kv := range res.Headers {
			if strings.HasPrefix(kv[0], "x-bot") && kv[0] != "x-botwarden-ja4" {
				t.Errorf("cookie %v: client header %s survived: %v", ck != "", kv[0], res.Headers)
			}
		}
		if v, _ := res.Header("x-botwarden-ja4"); v == "" {
			t.Error("the JA4 header (set by Envoy) was removed")
		}
	}
	if n, _ := h.Counter(wasmfilter.MetricPrefix + "spoofed_headers.removed"); n != 2 {
		t.Errorf("spoofed_headers.removed = %d, want 2", n)
	}
}

func TestModuleRejectsBadConfiguration(t *testing.T) {
	f := newFixture(t)
	vm := filterVM(t)
	for _, tc := range []struct {
		name   string
		config []byte
		want   string
	}{
		{"empty", nil, "configuration is empty"},
		{"not JSON", []byte("cookie: __bw"), "not valid JSON"},
		{"typo", f.config(t, map[string]any{"score_treshold": 40}), `unknown field "score_treshold"`},
		{"bad key", []byte(`{"keys":[{"id":1,"secret":"c2hvcnQ="}],"active_key":1}`), "keys"},
		{"bad threshold", f.config(t, map[string]any{"score_threshold": 0}), "score_threshold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := vm.Start(tc.config)
			if err == nil {
				h.Close()
				t.Fatal("module accepted the configuration")
			}
			var ce *emulator.ConfigError
			if !errors.As(err, &ce) || len(ce.Logs) == 0 || !strings.Contains(ce.Logs[0], "invalid plugin configuration") || !strings.Contains(ce.Logs[0], tc.want) {
				t.Fatalf("error %v: want a ConfigError whose log names %q", err, tc.want)
			}
		})
	}
	// The VM is still usable after refusals.
	h, err := vm.Start(f.config(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if res := mustRequest(t, h, headers(f.cookie(t, nil)), client); !res.Continue {
		t.Fatal("request after refused configurations")
	}
}

// TestModuleSurvivesHostileInput pushes malformed and oversized input
// through the compiled module: a trap would panic out of proxytest and fail
// the test; the module must answer every request.
func TestModuleSurvivesHostileInput(t *testing.T) {
	f := newFixture(t)
	h := start(t, f.config(t, nil))
	valid := f.cookie(t, nil)
	long := strings.Repeat("A", 64<<10)
	inputs := [][][2]string{
		{{"cookie", "__bw=" + long}},
		{{"cookie", "__bw=" + valid + valid}},
		{{"cookie", strings.Repeat("__bw=;", 5000)}},
		{{"cookie", "__bw=\"" + valid}},
		{{"user-agent", long}, {"cookie", "__bw=" + valid}},
		{{"x-bot-" + long, "1"}},
		{{"", ""}, {"cookie", ""}},
	}
	for i := 0; i < 300; i++ {
		inputs = append(inputs, [][2]string{{"cookie", fmt.Sprintf("__bw=%s", valid[:i%len(valid)])}, {"user-agent", ua}})
	}
	for i, in := range inputs {
		for _, src := range []string{client, "", "[2001:db8::1]:443", "not-an-address"} {
			if res := mustRequest(t, h, in, src); !res.Continue {
				t.Fatalf("input %d from %q: paused: %+v", i, src, res.Local)
			}
		}
	}
	if n, _ := h.Counter(wasmfilter.MetricPrefix + "filter.error"); n != 0 {
		t.Errorf("filter.error = %d", n)
	}
}
