package wire

import (
	"math"
	"net/netip"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
)

// StructWriter writes a google.protobuf.Struct straight to wire bytes, for
// CheckResponse.dynamic_metadata. A Struct is a Go map of boxed Values:
// building one per answer, then sorting and walking it to marshal, would
// cost more than everything else in the answer. Envoy decodes these bytes
// like any dynamic_metadata; FuzzStructWriter checks that they decode to
// the Struct structpb builds from the same values.
//
// Strings must be valid UTF-8 (Envoy's parser rejects the whole answer
// otherwise); the caller makes them so. Get one with NewStructWriter, add
// the fields, then Field returns the encoded field and recycles the writer.
type StructWriter struct{ b []byte }

// Field numbers of google.protobuf.{Struct,Value,ListValue}.
const (
	structFields  protowire.Number = 1 // map<string, Value>
	mapEntryKeyN  protowire.Number = 1
	mapEntryValN  protowire.Number = 2
	valueNumber   protowire.Number = 2 // double
	valueString   protowire.Number = 3
	valueBool     protowire.Number = 4
	valueList     protowire.Number = 6 // ListValue
	listValues    protowire.Number = 1 // repeated Value
	numberValLen                   = 1 + 8
	boolValLen                     = 1 + 1
	maxPooledSize                  = 16 << 10
)

// structWriters holds scratch space for the Struct, whose length has to be
// known before it is written after its tag: only the final copy is
// allocated per answer.
var structWriters = sync.Pool{New: func() any { return &StructWriter{b: make([]byte, 0, 512)} }}

// NewStructWriter returns an empty writer.
func NewStructWriter() *StructWriter {
	w := structWriters.Get().(*StructWriter)
	w.b = w.b[:0]
	return w
}

// Field returns CheckResponse field dynamic_metadata holding the Struct
// written so far, for Response.Metadata, and gives the writer back: it
// must not be used afterwards.
func (w *StructWriter) Field() []byte {
	out := make([]byte, 0, 1+protowire.SizeBytes(len(w.b)))
	out = protowire.AppendTag(out, responseDynamicMetadata, protowire.BytesType)
	out = protowire.AppendBytes(out, w.b)
	if cap(w.b) <= maxPooledSize { // a huge one (long tags) goes to the GC
		structWriters.Put(w)
	}
	return out
}

// entry appends the map entry key → Value whose encoding, valueLen bytes
// long, value appends.
func (w *StructWriter) entry(key string, valueLen int, value func()) {
	entryLen := 1 + protowire.SizeBytes(len(key)) + 1 + protowire.SizeBytes(valueLen)
	w.b = protowire.AppendTag(w.b, structFields, protowire.BytesType)
	w.b = protowire.AppendVarint(w.b, uint64(entryLen))
	w.b = protowire.AppendTag(w.b, mapEntryKeyN, protowire.BytesType)
	w.b = protowire.AppendString(w.b, key)
	w.b = protowire.AppendTag(w.b, mapEntryValN, protowire.BytesType)
	w.b = protowire.AppendVarint(w.b, uint64(valueLen))
	value()
}

func stringValueLen(v string) int { return 1 + protowire.SizeBytes(len(v)) }

// String adds key: a string Value.
func (w *StructWriter) String(key, val string) {
	w.entry(key, stringValueLen(val), func() { w.appendString(val) })
}

// Addr adds key: the address as a string Value ("" when invalid), without
// the allocation of netip.Addr.String.
func (w *StructWriter) Addr(key string, a netip.Addr) {
	var buf [64]byte // an IPv6 address with a zone fits
	b := buf[:0]
	if a.IsValid() {
		b = a.AppendTo(b)
	}
	w.entry(key, 1+protowire.SizeBytes(len(b)), func() {
		w.b = protowire.AppendTag(w.b, valueString, protowire.BytesType)
		w.b = protowire.AppendBytes(w.b, b)
	})
}

// Number adds key: a number Value.
func (w *StructWriter) Number(key string, n float64) {
	w.entry(key, numberValLen, func() { w.appendNumber(n) })
}

// Bool adds key: a bool Value.
func (w *StructWriter) Bool(key string, b bool) {
	w.entry(key, boolValLen, func() {
		w.b = protowire.AppendTag(w.b, valueBool, protowire.VarintType)
		w.b = protowire.AppendVarint(w.b, protowire.EncodeBool(b))
	})
}

// Strings adds key: a list of string Values; like Numbers, the list is
// written even when empty, as structpb writes an empty ListValue.
func (w *StructWriter) Strings(key string, items []string) {
	inner := 0
	for _, it := range items {
		inner += 1 + protowire.SizeBytes(stringValueLen(it))
	}
	w.list(key, inner, func() {
		for _, it := range items {
			w.b = protowire.AppendTag(w.b, listValues, protowire.BytesType)
			w.b = protowire.AppendVarint(w.b, uint64(stringValueLen(it)))
			w.appendString(it)
		}
	})
}

// Numbers adds key: a list of number Values.
func (w *StructWriter) Numbers(key string, items []int) {
	inner := len(items) * (1 + protowire.SizeBytes(numberValLen))
	w.list(key, inner, func() {
		for _, it := range items {
			w.b = protowire.AppendTag(w.b, listValues, protowire.BytesType)
			w.b = protowire.AppendVarint(w.b, numberValLen)
			w.appendNumber(float64(it))
		}
	})
}

// list appends a ListValue whose repeated values, inner bytes long, values
// appends.
func (w *StructWriter) list(key string, inner int, values func()) {
	w.entry(key, 1+protowire.SizeBytes(inner), func() {
		w.b = protowire.AppendTag(w.b, valueList, protowire.BytesType)
		w.b = protowire.AppendVarint(w.b, uint64(inner))
		values()
	})
}

func (w *StructWriter) appendString(v string) {
	w.b = protowire.AppendTag(w.b, valueString, protowire.BytesType)
	w.b = protowire.AppendString(w.b, v)
}

func (w *StructWriter) appendNumber(n float64) {
	w.b = protowire.AppendTag(w.b, valueNumber, protowire.Fixed64Type)
	w.b = protowire.AppendFixed64(w.b, math.Float64bits(n))
}
