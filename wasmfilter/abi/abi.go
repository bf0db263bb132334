// Package abi is botwarden's own small binding of the Proxy-Wasm ABI v0.2.1
// for the stock Go toolchain (GOOS=wasip1, //go:wasmexport, //go:wasmimport,
// Go 1.24+).
//
// The Go SDKs cannot be used here: the tetratelabs SDK needs TinyGo and is
// deprecated, and its maintained successor cannot be downloaded in this
// build environment. The filter needs a dozen host calls, so it binds them
// itself, following the Proxy-Wasm ABI v0.2.1 specification
// (https://github.com/proxy-wasm/spec/blob/main/abi-versions/v0.2.1/README.md)
// and what Envoy's host does with it (docs/envoy.md, "Proxy-Wasm").
//
// This file is portable (it compiles and is tested natively): the enums,
// the map encoding and property paths. The //go:wasmimport declarations and
// the //go:wasmexport entry points are in the *_wasip1.go files.
//
// ABI version. The module exports proxy_abi_version_0_2_1, the version the
// spec calls current and that Envoy ≥ 1.33 (proxy-wasm-cpp-host) detects by
// scanning export names. With 0_2_1 the host registers every 0.2.0 import
// plus proxy_get_log_level; this package imports none of the 0.2.1-only
// functions, so the module also loads where only 0.2.0 imports exist. The
// tetratelabs proxytest host (a wazero host used by the tests) does not look
// at the marker at all and does not provide proxy_get_log_level,
// proxy_get_buffer_status, proxy_get_header_map_size or
// proxy_get_current_time_nanoseconds: keeping to the intersection of what
// both hosts provide is what lets one .wasm run in Envoy and in the tests.
package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Status is proxy_status_t, the result of every host call.
type Status uint32

// Status values (envoy.md §4.3).
const (
	StatusOK                   Status = 0
	StatusNotFound             Status = 1
	StatusBadArgument          Status = 2
	StatusSerializationFailure Status = 3
	StatusParseFailure         Status = 4
	StatusInvalidMemoryAccess  Status = 6
	StatusEmpty                Status = 7
	StatusCASMismatch          Status = 8
	StatusInternalFailure      Status = 10
	StatusUnimplemented        Status = 12
)

var statusNames = map[Status]string{
	StatusOK: "ok", StatusNotFound: "not_found", StatusBadArgument: "bad_argument",
	StatusSerializationFailure: "serialization_failure", StatusParseFailure: "parse_failure",
	StatusInvalidMemoryAccess: "invalid_memory_access", StatusEmpty: "empty",
	StatusCASMismatch: "cas_mismatch", StatusInternalFailure: "internal_failure",
	StatusUnimplemented: "unimplemented",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status(%d)", uint32(s))
}

// Err returns nil for StatusOK, ErrNotFound for StatusNotFound, and an
// error naming the status otherwise.
func (s Status) Err() error {
	switch s {
	case StatusOK:
		return nil
	case StatusNotFound:
		return ErrNotFound
	}
	return &StatusError{Status: s}
}

// ErrNotFound is what a host call returns for an absent header or property.
var ErrNotFound = errors.New("proxy-wasm: not found")

// StatusError is a host call's non-OK status.
type StatusError struct{ Status Status }

func (e *StatusError) Error() string { return "proxy-wasm: host returned " + e.Status.String() }

// Action is proxy_action_t, what a stream callback tells the host to do.
type Action uint32

// Actions.
const (
	ActionContinue Action = 0
	// ActionPause stops filter iteration. After proxy_send_local_response
	// (which Envoy defers until the callback returns) the callback returns
	// ActionPause so that the request does not also continue upstream.
	ActionPause Action = 1
	// ActionBuffer, returned from a body callback, is the same value read
	// as StopIterationAndBuffer: the host keeps the data and calls again
	// with everything buffered so far.
	ActionBuffer Action = 1
)

func (a Action) String() string {
	switch a {
	case ActionContinue:
		return "continue"
	case ActionPause:
		return "pause"
	}
	return fmt.Sprintf("action(%d)", uint32(a))
}

// LogLevel is proxy_log_level_t.
type LogLevel uint32

// Log levels.
const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

var logLevelNames = [...]string{"trace", "debug", "info", "warn", "error", "critical"}

func (l LogLevel) String() string {
	if int(l) < len(logLevelNames) {
		return logLevelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint32(l))
}

// ParseLogLevel reads a level name ("trace" … "critical").
func ParseLogLevel(s string) (LogLevel, error) {
	for i, n := range logLevelNames {
		if strings.EqualFold(s, n) {
			return LogLevel(i), nil
		}
	}
	return 0, fmt.Errorf("unknown log level %q (want one of %s)", s, strings.Join(logLevelNames[:], ", "))
}

// BufferType is proxy_buffer_type_t.
type BufferType uint32

// Buffer types.
const (
	BufferHTTPRequestBody     BufferType = 0
	BufferHTTPResponseBody    BufferType = 1
	BufferDownstreamData      BufferType = 2
	BufferUpstreamData        BufferType = 3
	BufferHTTPCallResponse    BufferType = 4
	BufferGRPCCallMessage     BufferType = 5
	BufferVMConfiguration     BufferType = 6
	BufferPluginConfiguration BufferType = 7
)

// MapType is proxy_map_type_t.
type MapType uint32

// Map types.
const (
	MapHTTPRequestHeaders   MapType = 0
	MapHTTPRequestTrailers  MapType = 1
	MapHTTPResponseHeaders  MapType = 2
	MapHTTPResponseTrailers MapType = 3
)

// MetricType is proxy_metric_type_t.
type MetricType uint32

// Metric types.
const (
	MetricCounter   MetricType = 0
	MetricGauge     MetricType = 1
	MetricHistogram MetricType = 2
)

// NoGRPCStatus is the grpc_status argument of proxy_send_local_response
// meaning "not a gRPC reply".
const NoGRPCStatus = -1

// EncodeMap serialises header pairs the way the host reads them: u32 count,
// count × (u32 key length, u32 value length), then each key and value
// followed by a NUL byte. All integers are little-endian; lengths exclude
// the NUL.
func EncodeMap(pairs [][2]string) []byte {
	size := 4
	for _, p := range pairs {
		size += 8 + len(p[0]) + 1 + len(p[1]) + 1
	}
	b := make([]byte, size)
	binary.LittleEndian.PutUint32(b, uint32(len(pairs)))
	off := 4
	for _, p := range pairs {
		binary.LittleEndian.PutUint32(b[off:], uint32(len(p[0])))
		binary.LittleEndian.PutUint32(b[off+4:], uint32(len(p[1])))
		off += 8
	}
	for _, p := range pairs {
		off += copy(b[off:], p[0]) + 1 // NUL already zero
		off += copy(b[off:], p[1]) + 1
	}
	return b
}

// ErrBadMap is returned by DecodeMap for input that is not a valid map.
var ErrBadMap = errors.New("proxy-wasm: malformed serialized map")

// DecodeMap parses a serialized map (see EncodeMap). Empty input and a
// single NUL byte are the empty map. It never reads out of bounds: every
// length is checked against the input before use, so a host bug or a
// hostile buffer gives an error, not a panic.
func DecodeMap(b []byte) ([][2]string, error) {
	if len(b) == 0 || len(b) == 1 && b[0] == 0 {
		return nil, nil
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadMap, len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	// Each pair takes at least 8 length bytes and 2 NULs.
	if uint64(n)*10 > uint64(len(b)-4) {
		return nil, fmt.Errorf("%w: %d pairs in %d bytes", ErrBadMap, n, len(b))
	}
	pairs := make([][2]string, n)
	data := 4 + 8*int(n)
	for i := range pairs {
		var err error
		for j, what := range [2]string{"key", "value"} {
			l := int(binary.LittleEndian.Uint32(b[4+8*i+4*j:]))
			if pairs[i][j], data, err = field(b, data, l); err != nil {
				return nil, fmt.Errorf("%w: %s %d %s", ErrBadMap, what, i, err)
			}
		}
	}
	if data != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadMap, len(b)-data)
	}
	return pairs, nil
}

// field reads l bytes at off followed by a NUL and returns them and the
// offset after the NUL. Lengths are compared with what remains, so a huge
// length cannot overflow.
func field(b []byte, off, l int) (string, int, error) {
	if l < 0 || l >= len(b)-off {
		return "", off, errors.New("overruns")
	}
	v := string(b[off : off+l])
	if b[off+l] != 0 {
		return "", off, errors.New("not NUL-terminated")
	}
	return v, off + l + 1, nil
}

// PropertyPath joins the tokens of an attribute path with NUL bytes, the
// form proxy_get_property takes ("source\x00address", not "source.address").
func PropertyPath(tokens ...string) []byte {
	return []byte(strings.Join(tokens, "\x00"))
}
