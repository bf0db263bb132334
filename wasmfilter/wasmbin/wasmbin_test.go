package wasmbin

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// module assembles a binary module from sections (id, payload).
func module(sections ...[]byte) []byte {
	b := append([]byte{}, header...)
	for _, s := range sections {
		b = append(b, s[0])
		b = appendU32(b, uint32(len(s)-1))
		b = append(b, s[1:]...)
	}
	return b
}

func sec(id byte, payload ...byte) []byte { return append([]byte{id}, payload...) }

func name(s string) []byte { return append(appendU32(nil, uint32(len(s))), s...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// sample has two types, four imports (two funcs, a memory, a global) and
// three exports, plus a custom section that must be skipped.
func sample() []byte {
	types := sec(sectionType, cat(
		[]byte{2},
		[]byte{0x60, 2, byte(I32), byte(I64), 1, byte(I32)},
		[]byte{0x60, 0, 0},
	)...)
	imports := sec(sectionImport, cat(
		[]byte{4},
		name("env"), name("proxy_increment_metric"), []byte{byte(KindFunc), 0},
		name("wasi_snapshot_preview1"), name("sched_yield"), []byte{byte(KindFunc), 1},
		name("env"), name("memory"), []byte{byte(KindMemory), 0x01, 1, 2},
		name("env"), name("g"), []byte{byte(KindGlobal), byte(I32), 0},
	)...)
	exports := sec(sectionExport, cat(
		[]byte{4},
		name("_initialize"), []byte{byte(KindFunc), 2},
		name("memory"), []byte{byte(KindMemory), 0},
		name("proxy_on_memory_allocate"), []byte{byte(KindFunc), 3},
		name("out_of_range"), []byte{byte(KindFunc), 0x80, 0x01},
	)...)
	funcs := sec(sectionFunction, 2, 1, 0) // functions 2 and 3 of the index space
	custom := sec(0, cat(name("name"), []byte{1, 2, 3})...)
	return module(types, custom, imports, funcs, exports)
}

func TestParse(t *testing.T) {
	m, err := Parse(sample())
	if err != nil {
		t.Fatal(err)
	}
	want := []Import{
		{Module: "env", Name: "proxy_increment_metric", Kind: KindFunc, Type: &FuncType{Params: []ValType{I32, I64}, Results: []ValType{I32}}},
		{Module: "wasi_snapshot_preview1", Name: "sched_yield", Kind: KindFunc, Type: &FuncType{Params: []ValType{}, Results: []ValType{}}},
		{Module: "env", Name: "memory", Kind: KindMemory},
		{Module: "env", Name: "g", Kind: KindGlobal},
	}
	if !reflect.DeepEqual(m.Imports, want) {
		t.Fatalf("imports\n%+v\nwant\n%+v", m.Imports, want)
	}
	if m.Imports[0].Type.String() != "(i32,i64)->(i32)" {
		t.Fatalf("signature %s", m.Imports[0].Type)
	}
	void, alloc := &FuncType{Params: []ValType{}, Results: []ValType{}}, &FuncType{Params: []ValType{I32, I64}, Results: []ValType{I32}}
	wantExp := []Export{{"_initialize", KindFunc, 2, void}, {"memory", KindMemory, 0, nil}, {"proxy_on_memory_allocate", KindFunc, 3, alloc}, {"out_of_range", KindFunc, 128, nil}}
	if !reflect.DeepEqual(m.Exports, wantExp) {
		t.Fatalf("exports %+v", m.Exports)
	}
	// An imported function can be re-exported: index 0 is the first import.
	reexp := module(sec(sectionType, 1, 0x60, 0, 1, byte(I32)),
		sec(sectionImport, cat([]byte{1}, name("env"), name("f"), []byte{byte(KindFunc), 0})...),
		sec(sectionExport, cat([]byte{1}, name("f"), []byte{byte(KindFunc), 0})...))
	m2, err := Parse(reexp)
	if err != nil || m2.Exports[0].Type.String() != "()->(i32)" {
		t.Fatalf("re-exported import: %+v %v", m2, err)
	}
}

func TestRenameExport(t *testing.T) {
	in := sample()
	out, err := RenameExport(in, "_initialize", "_start")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Exports[0].Name != "_start" || m.Exports[0].Index != 2 || len(m.Exports) != 4 {
		t.Fatalf("exports after rename: %+v", m.Exports)
	}
	orig, _ := Parse(in)
	if !reflect.DeepEqual(orig.Imports, m.Imports) || !reflect.DeepEqual(orig.Types, m.Types) {
		t.Fatal("rename changed other sections")
	}
	if _, err := RenameExport(in, "main", "_start"); err == nil {
		t.Fatal("renamed a missing export")
	}
	if _, err := RenameExport(in, "_initialize", "memory"); err == nil {
		t.Fatal("renamed onto an existing export")
	}
	if _, err := RenameExport(module(), "a", "b"); err == nil {
		t.Fatal("renamed in a module without exports")
	}
}

func TestParseRejects(t *testing.T) {
	good := sample()
	for name, b := range map[string][]byte{
		"empty":               nil,
		"bad magic":           []byte("\x00asn\x01\x00\x00\x00"),
		"version 2":           []byte("\x00asm\x02\x00\x00\x00"),
		"truncated section":   good[:len(good)-3],
		"section overruns":    module([]byte{sectionExport, 5}),
		"LEB too long":        append(append([]byte{}, header...), sectionExport, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
		"LEB overflows":       append(append([]byte{}, header...), sectionExport, 0xff, 0xff, 0xff, 0xff, 0x1f),
		"huge vector":         module(sec(sectionImport, 0xff, 0xff, 0xff, 0xff, 0x0f)),
		"bad type form":       module(sec(sectionType, 1, 0x61, 0, 0)),
		"bad import kind":     module(sec(sectionImport, cat([]byte{1}, name("a"), name("b"), []byte{9})...)),
		"bad limits":          module(sec(sectionImport, cat([]byte{1}, name("a"), name("b"), []byte{byte(KindMemory), 7, 1})...)),
		"trailing in section": module(sec(sectionExport, 0, 0)),
		"name overruns":       module(sec(sectionExport, 1, 10, 'a')),
		"function overruns":   module(sec(sectionFunction, 3, 0)),
	} {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: accepted % x", name, b)
		}
	}
	if _, err := Parse([]byte("not wasm")); !errors.Is(err, ErrNotWasm) {
		t.Errorf("err = %v, want ErrNotWasm", err)
	}
}

func TestStrings(t *testing.T) {
	if KindTable.String() != "table" || Kind(7).String() != "kind(7)" || F64.String() != "f64" || ValType(1).String() != "0x01" {
		t.Fatal("String methods")
	}
}

// FuzzParse: any bytes parse or fail cleanly; a module that parses can be
// renamed, and the renamed module parses to the same imports.
func FuzzParse(f *testing.F) {
	f.Add(sample())
	f.Add(module())
	f.Add(module(sec(sectionImport, 0xff, 0xff, 0xff, 0xff, 0x0f)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		for _, e := range m.Exports {
			out, err := RenameExport(b, e.Name, e.Name+"_renamed")
			if err != nil {
				continue // e.g. the new name is taken
			}
			m2, err := Parse(out)
			if err != nil {
				t.Fatalf("renamed module does not parse: %v", err)
			}
			if !reflect.DeepEqual(m.Imports, m2.Imports) {
				t.Fatal("rename changed the imports")
			}
			break
		}
	})
}
