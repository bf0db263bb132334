package detect

import (
	"encoding/hex"
	"hash/fnv"
)

// RayID is the short request reference shown on block pages and stored
// with every analytics record (Cloudflare's Ray ID): 16 hex digits derived
// from the request id (x-request-id), so the page, the access log and the
// store name a request alike without passing anything between them. "" for
// a request without an id.
func RayID(requestID string) string {
	if requestID == "" {
		return ""
	}
	h := fnv.New64a()
	h.Write([]byte(requestID))
	var b [8]byte
	v := h.Sum64()
	for i := range b {
		b[i] = byte(v >> (56 - 8*i))
	}
	return hex.EncodeToString(b[:])
}
