package gateway

import (
	"strings"
	"unicode/utf8"
)

// Header is one entry of a HeaderMap.
type Header struct{ Key, Value string }

// HeaderMap is Envoy's header map: entries in order, names lower-case,
// repeated names kept as separate entries (set-cookie), pseudo-headers
// (:method, :path, :authority, :scheme; :status on responses) first.
type HeaderMap struct{ kv []Header }

// NewHeaderMap returns a map holding pairs (names lower-cased).
func NewHeaderMap(pairs ...Header) *HeaderMap {
	h := &HeaderMap{kv: make([]Header, 0, len(pairs))}
	for _, p := range pairs {
		h.Add(p.Key, p.Value)
	}
	return h
}

// All returns the entries in order. The slice must not be modified.
func (h *HeaderMap) All() []Header { return h.kv }

// Len is the number of entries.
func (h *HeaderMap) Len() int { return len(h.kv) }

// Values returns every value of key, in order.
func (h *HeaderMap) Values(key string) []string {
	key = strings.ToLower(key)
	var out []string
	for _, e := range h.kv {
		if e.Key == key {
			out = append(out, e.Value)
		}
	}
	return out
}

// Get returns the values of key joined with "," (how ext_authz and the
// access log see a repeated header) and whether it was present.
func (h *HeaderMap) Get(key string) (string, bool) {
	vs := h.Values(key)
	if len(vs) == 0 {
		return "", false
	}
	return strings.Join(vs, ","), true
}

// Value is Get without the presence flag.
func (h *HeaderMap) Value(key string) string {
	v, _ := h.Get(key)
	return v
}

// Has reports whether key is present.
func (h *HeaderMap) Has(key string) bool {
	key = strings.ToLower(key)
	for _, e := range h.kv {
		if e.Key == key {
			return true
		}
	}
	return false
}

// Add appends an entry (Envoy's addCopy): a repeated name gets a new entry.
func (h *HeaderMap) Add(key, value string) {
	h.kv = append(h.kv, Header{strings.ToLower(key), value})
}

// Set replaces every entry of key with one (Envoy's setCopy).
func (h *HeaderMap) Set(key, value string) {
	key = strings.ToLower(key)
	for i, e := range h.kv {
		if e.Key == key {
			h.kv[i].Value = value
			h.removeFrom(key, i+1)
			return
		}
	}
	h.kv = append(h.kv, Header{key, value})
}

// Append joins value to the existing entry of key with "," (Envoy's
// appendCopy) or adds an entry when there is none.
func (h *HeaderMap) Append(key, value string) {
	key = strings.ToLower(key)
	for i, e := range h.kv {
		if e.Key == key {
			if e.Value == "" {
				h.kv[i].Value = value
			} else {
				h.kv[i].Value = e.Value + "," + value
			}
			return
		}
	}
	h.kv = append(h.kv, Header{key, value})
}

// Remove deletes every entry of key.
func (h *HeaderMap) Remove(key string) { h.removeFrom(strings.ToLower(key), 0) }

// RemovePrefix deletes every entry whose name starts with prefix.
func (h *HeaderMap) RemovePrefix(prefix string) {
	prefix = strings.ToLower(prefix)
	out := h.kv[:0]
	for _, e := range h.kv {
		if !strings.HasPrefix(e.Key, prefix) {
			out = append(out, e)
		}
	}
	h.kv = out
}

func (h *HeaderMap) removeFrom(key string, from int) {
	out := h.kv[:from]
	for _, e := range h.kv[from:] {
		if e.Key != key {
			out = append(out, e)
		}
	}
	h.kv = out
}

// Clone returns an independent copy.
func (h *HeaderMap) Clone() *HeaderMap {
	return &HeaderMap{kv: append([]Header(nil), h.kv...)}
}

// ByteSize approximates the encoded size ("name: value\r\n" per entry), as
// Envoy's request_headers_bytes does.
func (h *HeaderMap) ByteSize() uint64 {
	var n uint64
	for _, e := range h.kv {
		n += uint64(len(e.Key) + len(e.Value) + 4)
	}
	return n
}

// sanitizeUTF8 replaces every byte that is not part of valid UTF-8 with '!',
// as Envoy does for string fields of CheckRequests and access-log entries
// (protobuf strings must be UTF-8).
func sanitizeUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			b.WriteByte('!')
			i++
			continue
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	return b.String()
}

// validHeaderName reports whether name is an HTTP token (or a known
// pseudo-header), as Envoy's header validation requires.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	if name[0] == ':' {
		name = name[1:]
		if name == "" {
			return false
		}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue rejects NUL, CR and LF (header injection).
func validHeaderValue(v string) bool { return !strings.ContainsAny(v, "\x00\r\n") }
