// Package wasmbin reads the few parts of a WebAssembly binary module that the
// filter's build checks need: the type, import and export sections. It can
// also rename an export, which is how a Go reactor module (its entry point is
// `_initialize`) is loaded into a host that only runs `_start`.
//
// It follows the WebAssembly core specification, binary format (§5): a
// module is the magic "\0asm", version 1, then sections of (id byte,
// u32 LEB128 size, payload). Everything it does not need it skips by size,
// so it accepts any valid module and rejects truncated or malformed input
// with an error instead of panicking.
package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Section ids (core spec §5.5.2).
const (
	sectionType     = 1
	sectionImport   = 2
	sectionFunction = 3
	sectionExport   = 7
)

// Kind is the kind of an import or export.
type Kind byte

// Import and export kinds (core spec §5.5.5, §5.5.10).
const (
	KindFunc   Kind = 0
	KindTable  Kind = 1
	KindMemory Kind = 2
	KindGlobal Kind = 3
)

func (k Kind) String() string {
	switch k {
	case KindFunc:
		return "func"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// ValType is a value type byte.
type ValType byte

// Value types (core spec §5.3.1).
const (
	I32 ValType = 0x7f
	I64 ValType = 0x7e
	F32 ValType = 0x7d
	F64 ValType = 0x7c
)

func (v ValType) String() string {
	switch v {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case F32:
		return "f32"
	case F64:
		return "f64"
	}
	return fmt.Sprintf("0x%02x", byte(v))
}

// FuncType is a function signature.
type FuncType struct {
	Params, Results []ValType
}

// String renders the signature as "(i32,i64)->(i32)".
func (f FuncType) String() string {
	join := func(vs []ValType) string {
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = v.String()
		}
		return strings.Join(s, ",")
	}
	return "(" + join(f.Params) + ")->(" + join(f.Results) + ")"
}

// Import is one entry of the import section.
type Import struct {
	Module, Name string
	Kind         Kind
	// Type is the signature of an imported function (nil for other kinds or
	// when the type index is out of range).
	Type *FuncType
}

// Export is one entry of the export section.
type Export struct {
	Name  string
	Kind  Kind
	Index uint32
	// Type is the signature of an exported function (nil for other kinds
	// or an index out of range).
	Type *FuncType
}

// Module is what Parse extracts.
type Module struct {
	Types   []FuncType
	Imports []Import
	Exports []Export
}

// ErrNotWasm is returned for input without the WebAssembly header.
var ErrNotWasm = errors.New("wasmbin: not a WebAssembly binary module (bad magic or version)")

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// checkCount bounds vector lengths so that a hostile count cannot make Parse
// allocate gigabytes before discovering the input is short: every entry
// takes at least one byte, so a count larger than the remaining input is an
// error anyway.
func checkCount(n uint32, r *reader) error {
	if uint64(n) > uint64(len(r.b)-r.off) {
		return fmt.Errorf("wasmbin: vector of %d entries in %d remaining bytes", n, len(r.b)-r.off)
	}
	return nil
}

// section is one raw section: its id and payload bounds within the module.
type section struct {
	id         byte
	start, end int // payload
	headerAt   int // offset of the id byte
}

func sections(b []byte) ([]section, error) {
	if len(b) < len(header) || !bytes.Equal(b[:len(header)], header) {
		return nil, ErrNotWasm
	}
	r := &reader{b: b, off: len(header)}
	var out []section
	for r.off < len(b) {
		at := r.off
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("wasmbin: section %d size: %w", id, err)
		}
		if uint64(size) > uint64(len(b)-r.off) {
			return nil, fmt.Errorf("wasmbin: section %d of %d bytes overruns the module (%d left)", id, size, len(b)-r.off)
		}
		out = append(out, section{id: id, start: r.off, end: r.off + int(size), headerAt: at})
		r.off += int(size)
	}
	return out, nil
}

// Parse reads the type, import, function and export sections of a module.
func Parse(b []byte) (*Module, error) {
	secs, err := sections(b)
	if err != nil {
		return nil, err
	}
	m := &Module{}
	var funcTypeIdx, defTypeIdx []uint32
	for _, s := range secs {
		r := &reader{b: b[:s.end], off: s.start}
		switch s.id {
		case sectionType:
			if m.Types, err = readTypes(r); err != nil {
				return nil, fmt.Errorf("wasmbin: type section: %w", err)
			}
		case sectionImport:
			if m.Imports, funcTypeIdx, err = readImports(r); err != nil {
				return nil, fmt.Errorf("wasmbin: import section: %w", err)
			}
		case sectionFunction:
			if defTypeIdx, err = readIndices(r); err != nil {
				return nil, fmt.Errorf("wasmbin: function section: %w", err)
			}
		case sectionExport:
			if m.Exports, err = readExports(r); err != nil {
				return nil, fmt.Errorf("wasmbin: export section: %w", err)
			}
		default:
			continue
		}
		if r.off != s.end {
			return nil, fmt.Errorf("wasmbin: section %d has %d trailing bytes", s.id, s.end-r.off)
		}
	}
	// Resolve signatures after the loop, so section order does not matter.
	// The function index space is the imported functions, then the
	// module's own (core spec §2.5.1).
	typeOf := func(typeIdx uint32) *FuncType {
		if int(typeIdx) < len(m.Types) {
			t := m.Types[typeIdx]
			return &t
		}
		return nil
	}
	fi := 0
	for i := range m.Imports {
		if m.Imports[i].Kind == KindFunc {
			m.Imports[i].Type = typeOf(funcTypeIdx[fi])
			fi++
		}
	}
	for i := range m.Exports {
		e := &m.Exports[i]
		if e.Kind != KindFunc {
			continue
		}
		switch idx := int(e.Index); {
		case idx < len(funcTypeIdx):
			e.Type = typeOf(funcTypeIdx[idx])
		case idx-len(funcTypeIdx) < len(defTypeIdx):
			e.Type = typeOf(defTypeIdx[idx-len(funcTypeIdx)])
		}
	}
	return m, nil
}

func readIndices(r *reader) ([]uint32, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if err := checkCount(n, r); err != nil {
		return nil, err
	}
	idx := make([]uint32, n)
	for i := range idx {
		if idx[i], err = r.u32(); err != nil {
			return nil, err
		}
	}
	return idx, nil
}

func readTypes(r *reader) ([]FuncType, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if err := checkCount(n, r); err != nil {
		return nil, err
	}
	types := make([]FuncType, 0, n)
	for range n {
		form, err := r.byte()
		if err != nil {
			return nil, err
		}
		if form != 0x60 {
			return nil, fmt.Errorf("type form 0x%02x, want 0x60", form)
		}
		var ft FuncType
		if ft.Params, err = readValTypes(r); err != nil {
			return nil, err
		}
		if ft.Results, err = readValTypes(r); err != nil {
			return nil, err
		}
		types = append(types, ft)
	}
	return types, nil
}

func readValTypes(r *reader) ([]ValType, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if err := checkCount(n, r); err != nil {
		return nil, err
	}
	vs := make([]ValType, n)
	for i := range vs {
		b, err := r.byte()
		if err != nil {
			return nil, err
		}
		vs[i] = ValType(b)
	}
	return vs, nil
}

func readImports(r *reader) ([]Import, []uint32, error) {
	n, err := r.u32()
	if err != nil {
		return nil, nil, err
	}
	if err := checkCount(n, r); err != nil {
		return nil, nil, err
	}
	imps := make([]Import, 0, n)
	var funcTypes []uint32
	for range n {
		var im Import
		if im.Module, err = r.name(); err != nil {
			return nil, nil, err
		}
		if im.Name, err = r.name(); err != nil {
			return nil, nil, err
		}
		k, err := r.byte()
		if err != nil {
			return nil, nil, err
		}
		im.Kind = Kind(k)
		switch im.Kind {
		case KindFunc:
			idx, err := r.u32()
			if err != nil {
				return nil, nil, err
			}
			funcTypes = append(funcTypes, idx)
		case KindTable:
			if _, err := r.byte(); err != nil { // reftype
				return nil, nil, err
			}
			if err := r.limits(); err != nil {
				return nil, nil, err
			}
		case KindMemory:
			if err := r.limits(); err != nil {
				return nil, nil, err
			}
		case KindGlobal:
			if _, err := r.byte(); err != nil { // valtype
				return nil, nil, err
			}
			if _, err := r.byte(); err != nil { // mutability
				return nil, nil, err
			}
		default:
			return nil, nil, fmt.Errorf("import %s.%s: unknown kind %d", im.Module, im.Name, k)
		}
		imps = append(imps, im)
	}
	return imps, funcTypes, nil
}

func readExports(r *reader) ([]Export, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if err := checkCount(n, r); err != nil {
		return nil, err
	}
	exps := make([]Export, 0, n)
	for range n {
		var e Export
		if e.Name, err = r.name(); err != nil {
			return nil, err
		}
		k, err := r.byte()
		if err != nil {
			return nil, err
		}
		e.Kind = Kind(k)
		if e.Index, err = r.u32(); err != nil {
			return nil, err
		}
		exps = append(exps, e)
	}
	return exps, nil
}

// RenameExport returns a copy of the module b in which the export named
// from is called to. It fails if from is not exported or to already is.
// Only the export section is rewritten; every other byte is kept.
func RenameExport(b []byte, from, to string) ([]byte, error) {
	secs, err := sections(b)
	if err != nil {
		return nil, err
	}
	for _, s := range secs {
		if s.id != sectionExport {
			continue
		}
		exps, err := readExports(&reader{b: b[:s.end], off: s.start})
		if err != nil {
			return nil, fmt.Errorf("wasmbin: export section: %w", err)
		}
		found := false
		for i := range exps {
			switch exps[i].Name {
			case to:
				return nil, fmt.Errorf("wasmbin: %q is already exported", to)
			case from:
				exps[i].Name = to
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("wasmbin: no export named %q", from)
		}
		var payload []byte
		payload = appendU32(payload, uint32(len(exps)))
		for _, e := range exps {
			payload = appendU32(payload, uint32(len(e.Name)))
			payload = append(payload, e.Name...)
			payload = append(payload, byte(e.Kind))
			payload = appendU32(payload, e.Index)
		}
		out := make([]byte, 0, len(b)+len(to))
		out = append(out, b[:s.headerAt]...)
		out = append(out, sectionExport)
		out = appendU32(out, uint32(len(payload)))
		out = append(out, payload...)
		out = append(out, b[s.end:]...)
		return out, nil
	}
	return nil, fmt.Errorf("wasmbin: module has no export section")
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// reader decodes the primitive encodings over a byte slice.
type reader struct {
	b   []byte
	off int
}

var errShort = errors.New("unexpected end of input")

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// u32 reads an unsigned LEB128 of at most 5 bytes whose value fits 32 bits.
func (r *reader) u32() (uint32, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if i == 4 && c&0xf0 != 0 {
			return 0, errors.New("u32 LEB128 overflows 32 bits")
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("u32 LEB128 longer than 5 bytes")
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		return "", fmt.Errorf("name of %d bytes: %w", n, errShort)
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

func (r *reader) limits() error {
	flag, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.u32(); err != nil { // min
		return err
	}
	switch flag {
	case 0x00:
		return nil
	case 0x01:
		_, err := r.u32() // max
		return err
	}
	return fmt.Errorf("limits flag 0x%02x", flag)
}
