//go:build wasip1

package abi

import "unsafe"

// The env.proxy_* host functions this module imports: all are in the set
// proxy-wasm-cpp-host registers for ABI 0.2.0 and 0.2.1 (FOR_ALL_HOST_FUNCTIONS)
// and in the tetratelabs proxytest host. Pointers and sizes are i32 in the
// module's linear memory; a **ret_data argument receives a pointer to memory
// the host obtained from proxy_on_memory_allocate.

//go:wasmimport env proxy_log
func proxyLog(level LogLevel, msg *byte, msgSize uint32) Status

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(bt BufferType, start, maxSize uint32, retData unsafe.Pointer, retSize *uint32) Status

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(mt MapType, retData unsafe.Pointer, retSize *uint32) Status

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(mt MapType, key *byte, keySize uint32, val *byte, valSize uint32) Status

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(mt MapType, key *byte, keySize uint32) Status

//go:wasmimport env proxy_get_property
func proxyGetProperty(path *byte, pathSize uint32, retData unsafe.Pointer, retSize *uint32) Status

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(status uint32, details *byte, detailsSize uint32, body *byte, bodySize uint32, headers *byte, headersSize uint32, grpcStatus int32) Status

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(mt MetricType, name *byte, nameSize uint32, retID *uint32) Status

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, delta int64) Status

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(bt BufferType, start, size uint32, data *byte, dataSize uint32) Status
