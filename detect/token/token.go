// Package token seals and opens botwarden's session cookie.
//
// A token is AES-256-GCM over a fixed-size binary record, base64url without
// padding:
//
//	version(1) | key id(4) | nonce(12) | sealed record(60) | tag(16) = 93 bytes → 124 chars
//
// The version and key id travel in clear and are the AEAD's additional data,
// so a token cannot be moved to another key or format. The record holds the
// issue and expiry times, the session id, the score, the flags, the count of
// failed challenge attempts and the client binding (IP prefix, UA hash).
//
// The package uses the standard library only and does no I/O, no clock reads
// and no reflection in Open: the Proxy-Wasm filter (GOOS=wasip1) compiles the
// same code to check cookies inside Envoy.
package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"time"
)

// Version is the format byte of tokens this package seals.
const Version = 1

const (
	headerLen = 1 + 4 // version, key id
	nonceLen  = 12
	tagLen    = 16
	// recordLen is the plaintext size; see encodeRecord for the layout.
	recordLen = 8 + 8 + SessionIDLen + 1 + 2 + 1 + 1 + 1 + 16 + 8 + 2
	rawLen    = headerLen + nonceLen + recordLen + tagLen
	// EncodedLen is the length of every token this version produces.
	EncodedLen = (rawLen*8 + 5) / 6
)

// KeyLen is the AES-256 key size.
const KeyLen = 32

// SessionIDLen is the size of a session id (96 random bits).
const SessionIDLen = 12

// Errors returned by Open and Bound. Callers count them by reason; errors.Is
// works on every error these functions return.
var (
	ErrMalformed  = errors.New("token: malformed")
	ErrUnknownKey = errors.New("token: unknown key")
	ErrTampered   = errors.New("token: authentication failed")
	ErrExpired    = errors.New("token: expired")
	ErrNotYet     = errors.New("token: issued in the future")
	ErrUnbound    = errors.New("token: bound to another client")
)

// Reason returns a short, stable label for err (for metrics), or "error".
func Reason(err error) string {
	switch {
	case err == nil:
		return "valid"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, ErrTampered):
		return "tampered"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrNotYet):
		return "not_yet_valid"
	case errors.Is(err, ErrUnbound):
		return "unbound"
	}
	return "error"
}

// Flags record what the client has proven.
type Flags uint16

const (
	// ChallengePassed: the client solved a managed/JS challenge.
	ChallengePassed Flags = 1 << iota
	// JSChecked: a JavaScript detection result is recorded (see JSPassed).
	JSChecked
	// JSPassed: the JavaScript detection judged the client a browser run by
	// a human. Meaningful only with JSChecked.
	JSPassed
	// NoJS: the client passed the lower-trust no-JavaScript path.
	NoJS
	// Blocked: the client is to be refused without further evaluation (it
	// failed the challenge too often, or the policy blocked it).
	Blocked
)

// Has reports whether all of f2 are set in f.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

// SessionID identifies a client session across requests.
type SessionID [SessionIDLen]byte

// NewSessionID returns a random session id.
func NewSessionID() SessionID {
	var s SessionID
	_, _ = rand.Read(s[:]) // crypto/rand.Read never fails (Go 1.24+)
	return s
}

// String returns the id as 24 lower-case hex digits.
func (s SessionID) String() string { return hex.EncodeToString(s[:]) }

// IsZero reports whether s is unset.
func (s SessionID) IsZero() bool { return s == SessionID{} }

// Claims is the content of a token.
type Claims struct {
	IssuedAt  int64 // unix seconds
	Expiry    int64 // unix seconds; the token is invalid from this second on
	SessionID SessionID
	Score     uint8 // 0 = not computed, else 1–99
	Flags     Flags
	// Attempts counts failed challenge submissions in this session, so a
	// failing client is not challenged forever.
	Attempts uint8
	// Findings is a bitmask of what the JavaScript detection found (headless,
	// webdriver, ...); the session package names the bits.
	Findings uint16
	// IPPrefix is the client's address masked to the binding width (/24 for
	// IPv4, /64 for IPv6 by default). Invalid means "not bound to an IP".
	IPPrefix netip.Prefix
	// UAHash is UAHash(user-agent) of the client the token was issued to.
	UAHash uint64
	// KeyID is the key that sealed the token; set by Open, ignored by Seal.
	KeyID uint32
}

// Bind sets the client binding of c from the client's address and UA.
func (c *Claims) Bind(clientIP netip.Addr, ua string, v4bits, v6bits int) {
	c.IPPrefix = BindPrefix(clientIP, v4bits, v6bits)
	c.UAHash = UAHash(ua)
}

// Bound checks that the request's client matches the binding: same IP
// prefix (computed with the same widths the token was bound with) and same
// user-agent. It returns nil or an error wrapping ErrUnbound.
func (c *Claims) Bound(clientIP netip.Addr, ua string, v4bits, v6bits int) error {
	if p := BindPrefix(clientIP, v4bits, v6bits); p != c.IPPrefix {
		return fmt.Errorf("%w: ip prefix differs", ErrUnbound)
	}
	if UAHash(ua) != c.UAHash {
		return fmt.Errorf("%w: user-agent differs", ErrUnbound)
	}
	return nil
}

// Expired reports whether the claims are past their expiry at now.
func (c *Claims) Expired(now time.Time) bool { return now.Unix() >= c.Expiry }

// BindPrefix masks ip to v4bits (IPv4, and IPv4-mapped IPv6) or v6bits. An
// invalid ip gives the zero Prefix. Out-of-range widths are clamped.
func BindPrefix(ip netip.Addr, v4bits, v6bits int) netip.Prefix {
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	ip = ip.Unmap().WithZone("")
	bits := v6bits
	if ip.Is4() {
		bits = min(max(v4bits, 0), 32)
	} else {
		bits = min(max(bits, 0), 128)
	}
	p, _ := ip.Prefix(bits) // cannot fail: bits is in range, no zone
	return p
}

// UAHash is 64-bit FNV-1a of the user-agent: cheap, stable across builds and
// platforms (the Wasm filter must compute the same value), and only ever
// compared inside an authenticated token, so it need not be cryptographic.
func UAHash(ua string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(ua)) // never fails; neither the hash nor the copy escapes
	return h.Sum64()
}

// Key is one AES-256 key of the ring.
type Key struct {
	ID     uint32
	Secret [KeyLen]byte
}

// ParseKey decodes a base64 (standard or URL alphabet, padded or not) secret
// of exactly 32 bytes.
func ParseKey(id uint32, b64 string) (Key, error) {
	k := Key{ID: id}
	raw, err := DecodeSecret(b64)
	if err != nil {
		return k, fmt.Errorf("key %d: %w", id, err)
	}
	if len(raw) != KeyLen {
		return k, fmt.Errorf("key %d: %d bytes, want %d", id, len(raw), KeyLen)
	}
	copy(k.Secret[:], raw)
	return k, nil
}

// DecodeSecret decodes a secret written in any base64 flavour (standard or
// URL alphabet, padded or not), as operators paste them into config files.
func DecodeSecret(b64 string) ([]byte, error) {
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var raw []byte
		if raw, err = enc.DecodeString(b64); err == nil {
			return raw, nil
		}
	}
	return nil, fmt.Errorf("not base64: %w", err)
}

// NewKey returns a random key with the given id.
func NewKey(id uint32) Key {
	k := Key{ID: id}
	_, _ = rand.Read(k.Secret[:])
	return k
}

// String returns the secret in standard base64, the form ParseKey reads.
func (k Key) String() string { return base64.StdEncoding.EncodeToString(k.Secret[:]) }

// Ring seals with its active key and opens with any of its keys (the active
// one and the previous ones still accepted during rotation). It is safe for
// concurrent use; it is immutable after NewRing.
type Ring struct {
	active uint32
	ids    []uint32
	aeads  []cipher.AEAD
}

// NewRing builds a ring from keys; active names the key that seals.
func NewRing(keys []Key, active uint32) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("token: no keys")
	}
	r := &Ring{active: active}
	found := false
	for _, k := range keys {
		for _, id := range r.ids {
			if id == k.ID {
				return nil, fmt.Errorf("token: duplicate key id %d", k.ID)
			}
		}
		if k.Secret == [KeyLen]byte{} {
			return nil, fmt.Errorf("token: key %d is all zero", k.ID)
		}
		block, err := aes.NewCipher(k.Secret[:])
		if err != nil {
			return nil, fmt.Errorf("token: key %d: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("token: key %d: %w", k.ID, err)
		}
		r.ids = append(r.ids, k.ID)
		r.aeads = append(r.aeads, aead)
		found = found || k.ID == active
	}
	if !found {
		return nil, fmt.Errorf("token: active key %d is not in the ring", active)
	}
	return r, nil
}

// Active returns the id of the sealing key.
func (r *Ring) Active() uint32 { return r.active }

func (r *Ring) aead(id uint32) cipher.AEAD {
	for i, k := range r.ids {
		if k == id {
			return r.aeads[i]
		}
	}
	return nil
}

// Seal encrypts c with the active key. c.KeyID is ignored.
func (r *Ring) Seal(c Claims) (string, error) {
	var buf [rawLen]byte
	buf[0] = Version
	binary.BigEndian.PutUint32(buf[1:5], r.active)
	nonce := buf[headerLen : headerLen+nonceLen]
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("token: nonce: %w", err)
	}
	var rec [recordLen]byte
	if err := encodeRecord(&rec, &c); err != nil {
		return "", err
	}
	out := r.aead(r.active).Seal(buf[:headerLen+nonceLen], nonce, rec[:], buf[:headerLen])
	if len(out) != rawLen {
		return "", fmt.Errorf("token: sealed %d bytes, want %d", len(out), rawLen)
	}
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// Open authenticates and decodes token and checks its times against now
// (a token is valid from IssuedAt minus one minute of clock skew until
// Expiry). It does not check the client binding; call Claims.Bound.
func (r *Ring) Open(token string, now time.Time) (Claims, error) {
	var c Claims
	if len(token) != EncodedLen {
		return c, fmt.Errorf("%w: length %d, want %d", ErrMalformed, len(token), EncodedLen)
	}
	var buf [rawLen]byte
	// Decode byte by byte from the string: no []byte(token) copy, and a
	// fixed-size stack buffer whatever the input.
	n, err := decodeB64(buf[:], token)
	if err != nil || n != rawLen {
		return c, fmt.Errorf("%w: bad base64", ErrMalformed)
	}
	if buf[0] != Version {
		return c, fmt.Errorf("%w: version %d", ErrMalformed, buf[0])
	}
	c.KeyID = binary.BigEndian.Uint32(buf[1:5])
	aead := r.aead(c.KeyID)
	if aead == nil {
		return c, fmt.Errorf("%w: id %d", ErrUnknownKey, c.KeyID)
	}
	nonce := buf[headerLen : headerLen+nonceLen]
	sealed := buf[headerLen+nonceLen:]
	rec, err := aead.Open(sealed[:0], nonce, sealed, buf[:headerLen])
	if err != nil {
		return c, ErrTampered
	}
	if err := decodeRecord(rec, &c); err != nil {
		return c, err
	}
	return c, c.ValidAt(now)
}

// ValidAt checks c's times against now, as Open does: valid from IssuedAt
// minus one minute of clock skew until Expiry. A caller that keeps opened
// claims (to skip decryption for a token it has seen) checks them again
// with this on every use.
func (c Claims) ValidAt(now time.Time) error {
	t := now.Unix()
	if t >= c.Expiry {
		return fmt.Errorf("%w: at %d", ErrExpired, c.Expiry)
	}
	if c.IssuedAt > t+maxSkew {
		return fmt.Errorf("%w: at %d", ErrNotYet, c.IssuedAt)
	}
	return nil
}

// maxSkew tolerates replicas whose clocks differ slightly.
const maxSkew = 60

// Record layout (big-endian):
//
//	0  iat      int64
//	8  exp      int64
//	16 sid      [12]byte
//	28 score    uint8
//	29 flags    uint16
//	31 attempts uint8
//	32 ipfam    uint8  (0 none, 4, 6)
//	33 ipbits   uint8
//	34 ip       [16]byte (IPv4 as IPv4-mapped IPv6)
//	50 ua hash  uint64
//	58 findings uint16
//
// The IP field is 16 bytes for both families so that every token has the
// same length (the length tells nothing about the client).
func encodeRecord(rec *[recordLen]byte, c *Claims) error {
	if c.Score > 99 {
		return fmt.Errorf("token: score %d out of range", c.Score)
	}
	b := rec[:]
	binary.BigEndian.PutUint64(b[0:], uint64(c.IssuedAt))
	binary.BigEndian.PutUint64(b[8:], uint64(c.Expiry))
	copy(b[16:28], c.SessionID[:])
	b[28] = c.Score
	binary.BigEndian.PutUint16(b[29:], uint16(c.Flags))
	b[31] = c.Attempts
	if c.IPPrefix.IsValid() {
		a := c.IPPrefix.Addr()
		if a.Is4() {
			b[32] = 4
		} else {
			b[32] = 6
		}
		b[33] = uint8(c.IPPrefix.Bits())
		a16 := a.As16()
		copy(b[34:50], a16[:])
	}
	binary.BigEndian.PutUint64(b[50:], c.UAHash)
	binary.BigEndian.PutUint16(b[58:], c.Findings)
	return nil
}

func decodeRecord(b []byte, c *Claims) error {
	if len(b) != recordLen {
		return fmt.Errorf("%w: record %d bytes", ErrMalformed, len(b))
	}
	c.IssuedAt = int64(binary.BigEndian.Uint64(b[0:]))
	c.Expiry = int64(binary.BigEndian.Uint64(b[8:]))
	copy(c.SessionID[:], b[16:28])
	c.Score = b[28]
	c.Flags = Flags(binary.BigEndian.Uint16(b[29:]))
	c.Attempts = b[31]
	var a16 [16]byte
	copy(a16[:], b[34:50])
	switch b[32] {
	case 0:
	case 4:
		a := netip.AddrFrom16(a16).Unmap()
		p, err := a.Prefix(int(b[33]))
		if err != nil || !a.Is4() {
			return fmt.Errorf("%w: ipv4 binding", ErrMalformed)
		}
		c.IPPrefix = p
	case 6:
		p, err := netip.AddrFrom16(a16).Prefix(int(b[33]))
		if err != nil {
			return fmt.Errorf("%w: ipv6 binding", ErrMalformed)
		}
		c.IPPrefix = p
	default:
		return fmt.Errorf("%w: ip family %d", ErrMalformed, b[32])
	}
	c.UAHash = binary.BigEndian.Uint64(b[50:])
	c.Findings = binary.BigEndian.Uint16(b[58:])
	return nil
}

// decodeB64 decodes unpadded base64url from s into dst without converting s
// to a []byte (which would allocate). It returns the bytes written.
func decodeB64(dst []byte, s string) (int, error) {
	n := 0
	var acc uint32
	bits := 0
	for i := 0; i < len(s); i++ {
		v := b64val[s[i]]
		if v == 0xff {
			return n, ErrMalformed
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			if n >= len(dst) {
				return n, ErrMalformed
			}
			dst[n] = byte(acc >> bits)
			n++
		}
	}
	// Leftover bits must be zero (canonical encoding): otherwise two
	// strings would decode to one token.
	if bits >= 6 || acc&(1<<bits-1) != 0 {
		return n, ErrMalformed
	}
	return n, nil
}

var b64val = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()
