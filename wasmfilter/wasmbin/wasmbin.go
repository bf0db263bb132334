// Package wasmbin renames one export of a WebAssembly binary module. That is
// the only edit the filter needs, and the one thing wazero (which decodes,
// validates and lists a module's imports and exports for the tests) cannot
// do: write a module back out.
//
// The edit exists because the tetratelabs proxytest host instantiates a
// module with wazero's default start function, _start, while a Go
// -buildmode=c-shared module is a reactor whose entry is _initialize.
// Renaming that export lets proxytest run the Go runtime's initialisation,
// as Envoy does by calling _initialize.
//
// It follows the WebAssembly core specification, binary format (§5): a
// module is the magic "\0asm", version 1, then sections of (id byte,
// u32 LEB128 size, payload). Only the export section (id 7: a vector of
// name, kind byte, u32 index) is decoded; every other section is copied by
// size, byte for byte. Malformed input is an error, never a panic.
package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
)

const sectionExport = 7 // core spec §5.5.2

// ErrNotWasm is returned for input without the WebAssembly header.
var ErrNotWasm = errors.New("wasmbin: not a WebAssembly binary module (bad magic or version)")

// errTaken is wrapped in the error for a new name that is already exported.
var errTaken = errors.New("name is already exported")

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

type export struct {
	name  string
	kind  byte
	index uint32
}

// RenameExport returns a copy of the module b in which the export named
// from is called to. It fails if from is not exported or to already is.
// Only the export section is rewritten; every other byte is kept.
func RenameExport(b []byte, from, to string) ([]byte, error) {
	if !bytes.HasPrefix(b, header) {
		return nil, ErrNotWasm
	}
	// Walk every section, so that a module whose framing is broken after
	// the export section is refused too.
	var out []byte
	r := &reader{b: b, off: len(header)}
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
		start, end := r.off, r.off+int(size)
		r.off = end
		if id != sectionExport || out != nil {
			continue
		}
		payload, err := renamed(&reader{b: b[:end], off: start}, from, to)
		if err != nil {
			return nil, fmt.Errorf("wasmbin: export section: %w", err)
		}
		out = make([]byte, 0, len(b)+len(to))
		out = append(out, b[:at]...)
		out = append(out, sectionExport)
		out = appendU32(out, uint32(len(payload)))
		out = append(out, payload...)
		out = append(out, b[end:]...)
	}
	if out == nil {
		return nil, errors.New("wasmbin: module has no export section")
	}
	return out, nil
}

// renamed decodes the export section payload in r and re-encodes it with
// the export from called to.
func renamed(r *reader, from, to string) ([]byte, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	// Every entry takes at least three bytes, so a count above the bytes
	// left is surely short input: refuse it before allocating for it.
	if uint64(n) > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("%d entries in %d bytes", n, len(r.b)-r.off)
	}
	exps := make([]export, n)
	found := false
	for i := range exps {
		e := &exps[i]
		if e.name, err = r.name(); err != nil {
			return nil, err
		}
		if e.kind, err = r.byte(); err != nil {
			return nil, err
		}
		if e.index, err = r.u32(); err != nil {
			return nil, err
		}
		switch e.name {
		case to:
			return nil, fmt.Errorf("%q: %w", to, errTaken)
		case from:
			e.name, found = to, true
		}
	}
	if r.off != len(r.b) {
		return nil, fmt.Errorf("%d trailing bytes", len(r.b)-r.off)
	}
	if !found {
		return nil, fmt.Errorf("no export named %q", from)
	}
	out := appendU32(nil, n)
	for _, e := range exps {
		out = appendU32(out, uint32(len(e.name)))
		out = append(out, e.name...)
		out = append(out, e.kind)
		out = appendU32(out, e.index)
	}
	return out, nil
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
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
	for i := range 5 {
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
