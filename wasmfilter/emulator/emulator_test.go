package emulator

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// trapModule is a hand-assembled Proxy-Wasm module whose
// proxy_on_request_headers executes `unreachable`: the smallest module that
// traps, to test what the host does with a failed VM.
func trapModule() []byte {
	leb := func(v int) []byte { // unsigned LEB128
		var b []byte
		for {
			c := byte(v & 0x7f)
			if v >>= 7; v == 0 {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	section := func(id byte, payload ...byte) []byte {
		return append(append([]byte{id}, leb(len(payload))...), payload...)
	}
	name := func(s string) []byte { return append(leb(len(s)), s...) }
	const i32 = 0x7f
	types := section(1,
		6,
		0x60, 0, 0, // t0 ()->()
		0x60, 2, i32, i32, 0, // t1 (i32,i32)->()
		0x60, 2, i32, i32, 1, i32, // t2 (i32,i32)->(i32)
		0x60, 3, i32, i32, i32, 1, i32, // t3 (i32,i32,i32)->(i32)
		0x60, 1, i32, 1, i32, // t4 (i32)->(i32)
		0x60, 1, i32, 0, // t5 (i32)->()
	)
	funcs := section(3, 8, 0, 1, 2, 2, 3, 4, 5, 4)
	memory := section(5, 1, 0x00, 1)
	exports := []byte{9}
	for i, n := range []string{"_initialize", "proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure",
		"proxy_on_request_headers", "proxy_on_memory_allocate", "proxy_on_log", "proxy_on_done"} {
		exports = append(exports, name(n)...)
		exports = append(exports, 0, byte(i))
	}
	exports = append(exports, name("memory")...)
	exports = append(exports, 2, 0)
	ret1 := []byte{4, 0, 0x41, 1, 0x0b}     // i32.const 1
	void := []byte{2, 0, 0x0b}              // nothing
	trap := []byte{3, 0, 0x00, 0x0b}        // unreachable
	alloc := []byte{4, 0, 0x41, 0x08, 0x0b} // i32.const 8
	code := bytes.Join([][]byte{{8}, void, void, ret1, ret1, trap, alloc, void, ret1}, nil)
	mod := append([]byte{0, 'a', 's', 'm', 1, 0, 0, 0}, types...)
	mod = append(mod, funcs...)
	mod = append(mod, memory...)
	mod = append(mod, section(7, exports...)...)
	return append(mod, section(10, code...)...)
}

func TestTrapFailsTheVM(t *testing.T) {
	vm, err := Load(trapModule())
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	h, err := vm.Start([]byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	if _, err := vm.Start(nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Start while one is open: %v, want ErrBusy", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := h.Request([][2]string{{":path", "/"}}, "127.0.0.1:1"); !errors.Is(err, ErrVMFailed) {
			t.Fatalf("request %d: err = %v, want ErrVMFailed", i, err)
		}
	}
}

func TestLoadRejectsNonReactors(t *testing.T) {
	if _, err := Load([]byte("not wasm")); err == nil {
		t.Fatal("loaded garbage")
	}
	// A module without _initialize is not a Go reactor.
	m := trapModule()
	i := bytes.Index(m, []byte("_initialize"))
	copy(m[i:], "_initializX")
	if _, err := Load(m); err == nil {
		t.Fatal("loaded a module without _initialize")
	}
}

func TestPluginConfiguration(t *testing.T) {
	str, _ := anypb.New(wrapperspb.String(`{"a":1}`))
	byt, _ := anypb.New(wrapperspb.Bytes([]byte("raw")))
	st, _ := structpb.NewStruct(map[string]any{"cookie_name": "__bw"})
	sta, _ := anypb.New(st)
	dur, _ := anypb.New(durationpb.New(time.Second))
	for _, tc := range []struct {
		cfg  *anypb.Any
		want string
	}{
		{nil, ""},
		{str, `{"a":1}`},
		{byt, "raw"},
		{sta, `{"cookie_name":"__bw"}`},
		{dur, string(dur.GetValue())},
	} {
		got, err := PluginConfiguration(&wasmv3.PluginConfig{Configuration: tc.cfg})
		if err != nil || strings.ReplaceAll(string(got), " ", "") != tc.want {
			t.Errorf("%v: %q, %v; want %q", tc.cfg.GetTypeUrl(), got, err, tc.want)
		}
	}
	if _, err := PluginConfiguration(&wasmv3.PluginConfig{Configuration: &anypb.Any{TypeUrl: "type.googleapis.com/no.Such"}}); err == nil {
		t.Error("unresolvable type accepted")
	}
}
