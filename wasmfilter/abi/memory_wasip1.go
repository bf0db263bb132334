//go:build wasip1

package abi

import "unsafe"

// pending holds the buffers handed to the host by proxy_on_memory_allocate
// during the current host call, so that nothing but the returned pointer
// keeps them alive until the call that asked for them reads them. Go's GC
// does not move objects, so a pointer into a live buffer stays valid.
var pending [][]byte

// proxyOnMemoryAllocate is the allocator the host uses to return data
// (header maps, properties, configuration) into the module's memory.
//
//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) *byte {
	buf := make([]byte, max(size, 1)) // &buf[0] needs one byte; 0 means failure to the host
	pending = append(pending, buf)
	return &buf[0]
}

// received turns a host-filled (ptr, n) into a slice and releases the
// pending list: from here on the slice itself keeps the buffer alive.
func received(ptr *byte, n uint32) []byte {
	release()
	if ptr == nil || n == 0 {
		return nil
	}
	return unsafe.Slice(ptr, n)
}

// release drops the pending buffers (also called when a callback starts, in
// case a failed host call left some behind).
func release() {
	clear(pending)
	pending = pending[:0]
}
