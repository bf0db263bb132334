package challenge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/botwarden/botwarden/detect/token"
)

// A ticket is the signed nonce a challenge page carries: which session and
// client it was issued to, when, how hard its proof of work is, and where
// to send the client back. The server keeps nothing until it is used (then
// its id goes into the replay store until it expires).
//
//	version(1) kind(1) issued-ms(8) id(12) session(12) difficulty(1)
//	prefix-len(1) prefix(0|5|17) ua-hash(8) path-len(2) path | HMAC-SHA256(32)
type ticket struct {
	kind       kind
	issued     time.Time // millisecond precision
	id         [12]byte
	session    token.SessionID
	difficulty int
	prefix     netip.Prefix
	uaHash     uint64
	path       string
}

type kind byte

const (
	kindJS   kind = 1
	kindNoJS kind = 2
	// kindJSD: the invisible detection's ticket (no work, no return path).
	kindJSD kind = 3
)

const (
	ticketVersion = 1
	macLen        = sha256.Size
	ticketFixed   = 1 + 1 + 8 + 12 + token.SessionIDLen + 1 + 1 + 8 + 2
	// maxTicketLen bounds what parseTicket even looks at.
	maxTicketLen = 4 * (ticketFixed + 17 + 8192 + macLen) / 3
)

// Errors of ticket verification, by reason (also the metric labels).
var (
	errTicketMalformed = errors.New("malformed ticket")
	errTicketSignature = errors.New("bad ticket signature")
	errTicketExpired   = errors.New("ticket expired")
	errTicketKind      = errors.New("ticket for another path")
)

// signer signs with the first secret and verifies with any.
type signer struct{ secrets [][]byte }

func (s signer) mac(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// seal encodes and signs t.
func (s signer) seal(t *ticket) string {
	b := make([]byte, 0, ticketFixed+17+len(t.path)+macLen)
	b = append(b, ticketVersion, byte(t.kind))
	b = binary.BigEndian.AppendUint64(b, uint64(t.issued.UnixMilli()))
	b = append(b, t.id[:]...)
	b = append(b, t.session[:]...)
	b = append(b, byte(t.difficulty))
	pre, _ := t.prefix.AppendBinary(nil) // never fails; zero prefix gives nothing
	b = append(b, byte(len(pre)))
	b = append(b, pre...)
	b = binary.BigEndian.AppendUint64(b, t.uaHash)
	b = binary.BigEndian.AppendUint16(b, uint16(len(t.path)))
	b = append(b, t.path...)
	b = append(b, s.mac(s.secrets[0], b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// open verifies and decodes a ticket string.
func (s signer) open(str string) (ticket, error) {
	var t ticket
	if len(str) > maxTicketLen {
		return t, fmt.Errorf("%w: %d bytes", errTicketMalformed, len(str))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(str)
	if err != nil || len(b) < ticketFixed+macLen {
		return t, errTicketMalformed
	}
	msg, sum := b[:len(b)-macLen], b[len(b)-macLen:]
	ok := false
	for _, k := range s.secrets {
		if hmac.Equal(sum, s.mac(k, msg)) {
			ok = true
			break
		}
	}
	if !ok {
		return t, errTicketSignature
	}
	// Signed by us, so well-formed unless the format changed: still check
	// every length so that a bug can never index out of range.
	if msg[0] != ticketVersion {
		return t, fmt.Errorf("%w: version %d", errTicketMalformed, msg[0])
	}
	t.kind = kind(msg[1])
	t.issued = time.UnixMilli(int64(binary.BigEndian.Uint64(msg[2:10])))
	copy(t.id[:], msg[10:22])
	copy(t.session[:], msg[22:34])
	t.difficulty = int(msg[34])
	n := int(msg[35])
	rest := msg[36:]
	if len(rest) < n+8+2 {
		return t, errTicketMalformed
	}
	if n > 0 {
		if err := t.prefix.UnmarshalBinary(rest[:n]); err != nil {
			return t, errTicketMalformed
		}
	}
	rest = rest[n:]
	t.uaHash = binary.BigEndian.Uint64(rest)
	pl := int(binary.BigEndian.Uint16(rest[8:]))
	rest = rest[10:]
	if len(rest) != pl {
		return t, errTicketMalformed
	}
	t.path = string(rest)
	return t, nil
}

// newTicket makes a ticket for a client of session sid.
func newTicket(k kind, sid token.SessionID, difficulty int, ip netip.Addr, ua string, v4, v6 int, path string, now time.Time) *ticket {
	t := &ticket{
		kind: k, issued: now, session: sid, difficulty: difficulty,
		prefix: token.BindPrefix(ip, v4, v6), uaHash: token.UAHash(ua), path: path,
	}
	_, _ = rand.Read(t.id[:])
	return t
}

// replayKey names the ticket in the replay store.
func (t *ticket) replayKey() string { return hex.EncodeToString(t.id[:]) }

// expires is when the ticket stops being accepted.
func (t *ticket) expires(ttl time.Duration) time.Time { return t.issued.Add(ttl) }

// check verifies kind, age and client binding.
func (t *ticket) check(k kind, ip netip.Addr, ua string, v4, v6 int, ttl time.Duration, now time.Time) error {
	if t.kind != k {
		return errTicketKind
	}
	if now.After(t.expires(ttl)) {
		return fmt.Errorf("%w: issued %s ago", errTicketExpired, now.Sub(t.issued).Round(time.Second))
	}
	if t.issued.After(now.Add(time.Minute)) {
		return fmt.Errorf("%w: issued in the future", errTicketExpired)
	}
	if token.BindPrefix(ip, v4, v6) != t.prefix || token.UAHash(ua) != t.uaHash {
		return token.ErrUnbound
	}
	return nil
}

// workOK reports whether SHA-256(ticket ‖ decimal counter) starts with at
// least bits zero bits: one hash, whatever the difficulty.
func workOK(ticketStr string, counter uint64, bits int) bool {
	var buf [20]byte
	h := sha256.New()
	h.Write([]byte(ticketStr))
	h.Write(strconv.AppendUint(buf[:0], counter, 10))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return leadingZeroBits(sum[:]) >= bits
}

func leadingZeroBits(b []byte) int {
	n := 0
	for _, x := range b {
		if x == 0 {
			n += 8
			continue
		}
		for x&0x80 == 0 {
			n++
			x <<= 1
		}
		break
	}
	return n
}
