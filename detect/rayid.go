package detect

import (
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
)

// RayID is the short request reference shown on block, challenge and
// rate-limit pages, sent upstream on allowed requests and stored with every
// analytics record (Cloudflare's Ray ID): 16 hex digits derived from the
// request id (x-request-id), so the page, the access log and the store name
// a request alike without passing anything between them. "" for a request
// without an id.
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

// NewRayID is RayID, or 16 random hex digits for a request without an id:
// every decided request then has a reference to quote and to find, though
// only a request with an id can be joined with its access-log entry.
func NewRayID(requestID string) string {
	if id := RayID(requestID); id != "" {
		return id
	}
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidRayID reports whether s has a RayID's shape (16 lower-case hex
// digits): a reference that comes back from outside (a proxy's header, a
// form) is used only then.
func ValidRayID(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Reference is the request's RayID: the one its transport fixed (Ray), else
// the one derived from its id ("" when it has neither).
func (r *Request) Reference() string {
	if r.Ray != "" {
		return r.Ray
	}
	return RayID(r.ID)
}
