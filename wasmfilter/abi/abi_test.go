package abi

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestMapRoundTrip(t *testing.T) {
	for _, pairs := range [][][2]string{
		{{":method", "GET"}, {"cookie", "a=1; b=2"}, {"x-empty", ""}},
		{{"", ""}},
		{{"k", "v"}, {"k", "v2"}}, // repeated names survive
	} {
		got, err := DecodeMap(EncodeMap(pairs))
		if err != nil || !reflect.DeepEqual(got, pairs) {
			t.Fatalf("round trip %v -> %v, %v", pairs, got, err)
		}
	}
}

// TestEncodeMapLayout pins the byte layout of envoy.md §4.4 (the spec's
// example): u32 count, (u32 klen, u32 vlen)*, then key NUL value NUL.
func TestEncodeMapLayout(t *testing.T) {
	got := EncodeMap([][2]string{{"a", "1"}, {"bc", ""}})
	want := []byte{
		2, 0, 0, 0,
		1, 0, 0, 0, 1, 0, 0, 0,
		2, 0, 0, 0, 0, 0, 0, 0,
		'a', 0, '1', 0,
		'b', 'c', 0, 0,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeMap = % x\nwant       % x", got, want)
	}
}

func TestDecodeMapEmpty(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {0, 0, 0, 0}} {
		got, err := DecodeMap(b)
		if err != nil || len(got) != 0 {
			t.Errorf("DecodeMap(% x) = %v, %v; want empty", b, got, err)
		}
	}
}

func TestDecodeMapRejects(t *testing.T) {
	valid := EncodeMap([][2]string{{"ab", "cd"}})
	for name, b := range map[string][]byte{
		"short":              {1, 0},
		"count too large":    {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"key overruns":       append(append([]byte{}, valid[:4]...), append([]byte{0xff, 0xff, 0xff, 0x7f}, valid[8:]...)...),
		"value overruns":     append(append([]byte{}, valid[:8]...), append([]byte{50, 0, 0, 0}, valid[12:]...)...),
		"key not terminated": append(append([]byte{}, valid[:14]...), append([]byte{'x'}, valid[15:]...)...),
		"val not terminated": append(append([]byte{}, valid[:len(valid)-1]...), 'x'),
		"trailing bytes":     append(append([]byte{}, valid...), 0),
		"truncated":          valid[:len(valid)-1],
	} {
		if _, err := DecodeMap(b); !errors.Is(err, ErrBadMap) {
			t.Errorf("%s: DecodeMap(% x) err = %v, want ErrBadMap", name, b, err)
		}
	}
}

// FuzzDecodeMap: any bytes decode or fail cleanly, and what decodes
// re-encodes to a map that decodes to the same pairs.
func FuzzDecodeMap(f *testing.F) {
	f.Add(EncodeMap([][2]string{{":path", "/"}, {"user-agent", "curl/8"}}))
	f.Add(EncodeMap(nil))
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := DecodeMap(b)
		if err != nil {
			return
		}
		again, err := DecodeMap(EncodeMap(pairs))
		if err != nil || len(again) != len(pairs) || (len(pairs) > 0 && !reflect.DeepEqual(again, pairs)) {
			t.Fatalf("re-encode of %q: %q, %v", pairs, again, err)
		}
	})
}

func TestPropertyPath(t *testing.T) {
	if got := string(PropertyPath("source", "address")); got != "source\x00address" {
		t.Fatalf("PropertyPath = %q", got)
	}
	if got := PropertyPath(); len(got) != 0 {
		t.Fatalf("empty path = %q", got)
	}
}

func TestStatusErr(t *testing.T) {
	if StatusOK.Err() != nil {
		t.Fatal("OK is an error")
	}
	if !errors.Is(StatusNotFound.Err(), ErrNotFound) {
		t.Fatal("NOT_FOUND is not ErrNotFound")
	}
	var se *StatusError
	if err := StatusBadArgument.Err(); !errors.As(err, &se) || se.Status != StatusBadArgument || err.Error() != "proxy-wasm: host returned bad_argument" {
		t.Fatalf("BAD_ARGUMENT -> %v", err)
	}
	if Status(99).String() != "status(99)" || ActionPause.String() != "pause" || Action(5).String() != "action(5)" {
		t.Fatal("String of unknown values")
	}
}

func TestParseLogLevel(t *testing.T) {
	for name, want := range map[string]LogLevel{"trace": LogTrace, "DEBUG": LogDebug, "info": LogInfo, "warn": LogWarn, "error": LogError, "critical": LogCritical} {
		if got, err := ParseLogLevel(name); err != nil || got != want || got.String() != want.String() {
			t.Errorf("ParseLogLevel(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := ParseLogLevel("verbose"); err == nil {
		t.Error("accepted an unknown level")
	}
	if LogLevel(9).String() != "level(9)" {
		t.Error("String of an unknown level")
	}
}
