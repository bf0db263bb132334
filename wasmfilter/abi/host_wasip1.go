//go:build wasip1

package abi

import "unsafe"

// Host calls the proxy through the imported functions. Its methods act on
// the context the host is currently calling into (the stream whose callback
// is running), as the ABI defines. The zero value is ready to use.
type Host struct{}

// Log writes msg to the proxy's log at level.
func (Host) Log(level LogLevel, msg string) {
	proxyLog(level, unsafe.StringData(msg), uint32(len(msg)))
}

// PluginConfiguration returns the plugin configuration of the root context
// being configured (size is proxy_on_configure's argument).
func (Host) PluginConfiguration(size uint32) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	var ptr *byte
	var n uint32
	if err := proxyGetBufferBytes(BufferPluginConfiguration, 0, size, unsafe.Pointer(&ptr), &n).Err(); err != nil {
		return nil, err
	}
	return received(ptr, n), nil
}

// RequestHeaders returns the request headers in order, names lower-case,
// repeated names repeated (one host call for all of them).
func (Host) RequestHeaders() ([][2]string, error) {
	var ptr *byte
	var n uint32
	if err := proxyGetHeaderMapPairs(MapHTTPRequestHeaders, unsafe.Pointer(&ptr), &n).Err(); err != nil {
		return nil, err
	}
	return DecodeMap(received(ptr, n))
}

// ReplaceRequestHeader sets name to value, adding it if absent.
func (Host) ReplaceRequestHeader(name, value string) error {
	return proxyReplaceHeaderMapValue(MapHTTPRequestHeaders,
		unsafe.StringData(name), uint32(len(name)),
		unsafe.StringData(value), uint32(len(value))).Err()
}

// RemoveRequestHeader removes name (Envoy removes every value of it; some
// hosts remove one per call, so callers call it once per occurrence).
func (Host) RemoveRequestHeader(name string) error {
	return proxyRemoveHeaderMapValue(MapHTTPRequestHeaders, unsafe.StringData(name), uint32(len(name))).Err()
}

// Property reads an attribute by its path tokens, e.g. ("source", "address").
// An absent attribute gives ErrNotFound.
func (Host) Property(path ...string) ([]byte, error) {
	p := PropertyPath(path...)
	var ptr *byte
	var n uint32
	if err := proxyGetProperty(unsafe.SliceData(p), uint32(len(p)), unsafe.Pointer(&ptr), &n).Err(); err != nil {
		return nil, err
	}
	return received(ptr, n), nil
}

// SendLocalResponse asks the proxy to answer the current request itself.
// Envoy performs it when the current callback returns, so the callback must
// return ActionPause.
func (Host) SendLocalResponse(status uint32, details string, body []byte, headers [][2]string) error {
	h := EncodeMap(headers)
	return proxySendLocalResponse(status,
		unsafe.StringData(details), uint32(len(details)),
		unsafe.SliceData(body), uint32(len(body)),
		unsafe.SliceData(h), uint32(len(h)), NoGRPCStatus).Err()
}

// DefineCounter defines (or finds: the host is idempotent per name) a
// counter and returns its id. Envoy prefixes custom stats with "wasmcustom.".
func (Host) DefineCounter(name string) (uint32, error) {
	var id uint32
	if err := proxyDefineMetric(MetricCounter, unsafe.StringData(name), uint32(len(name)), &id).Err(); err != nil {
		return 0, err
	}
	return id, nil
}

// IncrementCounter adds delta to counter id.
func (Host) IncrementCounter(id uint32, delta int64) error {
	return proxyIncrementMetric(id, delta).Err()
}

// current is the stream whose callback is running (0 outside one).
var current uint32

// Stream returns the id of the stream whose callback is running.
func (Host) Stream() uint32 { return current }

// ResponseHeaders returns the response headers in order.
func (Host) ResponseHeaders() ([][2]string, error) {
	var ptr *byte
	var n uint32
	if err := proxyGetHeaderMapPairs(MapHTTPResponseHeaders, unsafe.Pointer(&ptr), &n).Err(); err != nil {
		return nil, err
	}
	return DecodeMap(received(ptr, n))
}

// RemoveResponseHeader removes a response header.
func (Host) RemoveResponseHeader(name string) error {
	return proxyRemoveHeaderMapValue(MapHTTPResponseHeaders, unsafe.StringData(name), uint32(len(name))).Err()
}

// ResponseBody returns the first size bytes of the buffered response body.
func (Host) ResponseBody(size int) ([]byte, error) {
	if size <= 0 {
		return nil, nil
	}
	var ptr *byte
	var n uint32
	if err := proxyGetBufferBytes(BufferHTTPResponseBody, 0, uint32(size), unsafe.Pointer(&ptr), &n).Err(); err != nil {
		return nil, err
	}
	return received(ptr, n), nil
}

// SetResponseBody replaces the first replace bytes of the buffered
// response body with b.
func (Host) SetResponseBody(b []byte, replace int) error {
	return proxySetBufferBytes(BufferHTTPResponseBody, 0, uint32(replace), unsafe.SliceData(b), uint32(len(b))).Err()
}
