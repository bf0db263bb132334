package wasmbin

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/tetratelabs/wazero"
)

// module assembles a binary module from sections (id, payload...).
func module(sections ...[]byte) []byte {
	b := bytes.Clone(header)
	for _, s := range sections {
		b = append(b, s[0])
		b = appendU32(b, uint32(len(s)-1))
		b = append(b, s[1:]...)
	}
	return b
}

func sec(id byte, payload ...[]byte) []byte {
	return append([]byte{id}, bytes.Join(payload, nil)...)
}

func name(s string) []byte { return append(appendU32(nil, uint32(len(s))), s...) }

// sample is a valid reactor-shaped module: an imported function, two own
// functions, a memory, three exports, and a custom section that the
// rename must carry over.
func sample() []byte {
	const funcKind, memKind = 0, 2
	return module(
		sec(1, []byte{2, 0x60, 0, 0, 0x60, 1, 0x7f, 1, 0x7f}), // types: ()->(), (i32)->(i32)
		sec(0, name("note"), []byte{1, 2, 3}),
		sec(2, []byte{1}, name("env"), name("f"), []byte{funcKind, 1}), // import env.f: type 1
		sec(3, []byte{2, 0, 1}),                                        // functions 1 and 2: types 0 and 1
		sec(5, []byte{1, 0x00, 1}),                                     // one memory, min 1 page
		sec(7, []byte{3},
			name("_initialize"), []byte{funcKind, 1},
			name("memory"), []byte{memKind, 0},
			name("proxy_on_memory_allocate"), []byte{funcKind, 2}),
		sec(10, []byte{2, 2, 0, 0x0b, 4, 0, 0x20, 0, 0x0b}), // bodies: end; local.get 0 end
	)
}

// shape is what wazero reports of a module: exported function name to
// function index, exported memory names, and the custom sections.
type shape struct {
	funcs    map[string]uint32
	memories []string
	custom   map[string]string
}

func newRuntime(tb testing.TB) wazero.Runtime {
	cfg := wazero.NewRuntimeConfigInterpreter().WithCustomSections(true)
	r := wazero.NewRuntimeWithConfig(context.Background(), cfg)
	tb.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// decode compiles b with wazero (decoding and validating it; imports need
// not be provided until instantiation) and reads its shape.
func decode(r wazero.Runtime, b []byte) (shape, error) {
	ctx := context.Background()
	cm, err := r.CompileModule(ctx, b)
	if err != nil {
		return shape{}, err
	}
	defer cm.Close(ctx)
	s := shape{funcs: map[string]uint32{}, custom: map[string]string{}}
	for n, f := range cm.ExportedFunctions() {
		s.funcs[n] = f.Index()
	}
	for n := range cm.ExportedMemories() {
		s.memories = append(s.memories, n)
	}
	for _, c := range cm.CustomSections() {
		s.custom[c.Name()] = string(c.Data())
	}
	return s, nil
}

func TestRenameExport(t *testing.T) {
	r := newRuntime(t)
	in := sample()
	before, err := decode(r, in)
	if err != nil {
		t.Fatalf("sample is not a valid module: %v", err)
	}
	out, err := RenameExport(in, "_initialize", "_start")
	if err != nil {
		t.Fatal(err)
	}
	after, err := decode(r, out)
	if err != nil {
		t.Fatalf("renamed module does not compile: %v", err)
	}
	want := map[string]uint32{"_start": 1, "proxy_on_memory_allocate": 2}
	if !maps.Equal(after.funcs, want) || before.funcs["_initialize"] != 1 {
		t.Fatalf("exported functions %v, want %v (before %v)", after.funcs, want, before.funcs)
	}
	if len(after.memories) != 1 || after.memories[0] != "memory" || after.custom["note"] != "\x01\x02\x03" {
		t.Fatalf("rename lost a section: memories %v, custom %q", after.memories, after.custom)
	}
	// Every byte outside the export section is kept: the output is the
	// input with the 11-byte name replaced by the 6-byte one, and the
	// export section's size byte reduced by 5.
	if len(out) != len(in)-5 || bytes.Contains(out, []byte("_initialize")) {
		t.Fatalf("output is %d bytes for %d in", len(out), len(in))
	}
}

func TestRenameExportRejects(t *testing.T) {
	good := sample()
	exports := func(payload ...[]byte) []byte { return module(sec(7, payload...)) }
	for label, c := range map[string]struct {
		b        []byte
		from, to string
	}{
		"empty":               {nil, "a", "b"},
		"bad magic":           {[]byte("\x00asn\x01\x00\x00\x00"), "a", "b"},
		"version 2":           {[]byte("\x00asm\x02\x00\x00\x00"), "a", "b"},
		"no export section":   {module(), "a", "b"},
		"missing export":      {good, "main", "_start"},
		"name taken":          {good, "_initialize", "memory"},
		"truncated":           {good[:len(good)-3], "_initialize", "_start"},
		"section overruns":    {module([]byte{7, 5}), "a", "b"},
		"LEB too long":        {append(bytes.Clone(header), 7, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), "a", "b"},
		"LEB overflows":       {append(bytes.Clone(header), 7, 0xff, 0xff, 0xff, 0xff, 0x1f), "a", "b"},
		"huge vector":         {exports([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}), "a", "b"},
		"name overruns":       {exports([]byte{1, 10, 'a'}), "a", "b"},
		"entry truncated":     {exports([]byte{1}, name("a"), []byte{0}), "a", "b"},
		"trailing in section": {exports([]byte{1}, name("a"), []byte{0, 0, 9}), "a", "b"},
	} {
		if out, err := RenameExport(c.b, c.from, c.to); err == nil {
			t.Errorf("%s: renamed % x to % x", label, c.b, out)
		}
	}
	if _, err := RenameExport([]byte("not wasm"), "a", "b"); !errors.Is(err, ErrNotWasm) {
		t.Errorf("err = %v, want ErrNotWasm", err)
	}
}

// FuzzRenameExport: any bytes are renamed or refused without a panic, and
// a rename can be undone and redone to the same bytes. (It does not feed
// the bytes to wazero: wazero's decoder allocates whatever a section's
// entry count says, so hostile counts exhaust memory; TestRenameExport
// checks the output with wazero on a valid module.)
func FuzzRenameExport(f *testing.F) {
	f.Add(sample())
	f.Add(module())
	f.Add(module(sec(7, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := RenameExport(b, "_initialize", "_start")
		if err != nil {
			return
		}
		back, err := RenameExport(out, "_start", "_initialize")
		if err != nil {
			t.Fatalf("cannot undo the rename: %v", err)
		}
		again, err := RenameExport(back, "_initialize", "_start")
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("redoing the rename gave % x, %v; want % x", again, err, out)
		}
	})
}
