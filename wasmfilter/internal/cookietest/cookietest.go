// Package cookietest mints session cookies for the filter's tests, sealed
// with detect/token exactly as the botwarden server seals them, and the
// plugin configuration that opens them.
package cookietest

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect/token"
)

// Fixture is one key ring.
type Fixture struct {
	Key  token.Key
	Ring *token.Ring
}

// New returns a fixture with one random key of the given id.
func New(tb testing.TB, id uint32) Fixture {
	tb.Helper()
	k := token.NewKey(id)
	ring, err := token.NewRing([]token.Key{k}, id)
	if err != nil {
		tb.Fatal(err)
	}
	return Fixture{Key: k, Ring: ring}
}

// Config returns plugin configuration JSON with the fixture's key as the
// ring and the active key, plus fields (which may override those).
func (f Fixture) Config(tb testing.TB, fields map[string]any) []byte {
	tb.Helper()
	m := map[string]any{
		"keys":       []map[string]any{{"id": f.Key.ID, "secret": f.Key.String()}},
		"active_key": f.Key.ID,
	}
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Cookie seals claims issued at issued, valid for an hour, with score,
// bound to ip and ua at the default widths (/24, /64), then changed by mut.
func (f Fixture) Cookie(tb testing.TB, issued time.Time, ip, ua string, score uint8, mut func(*token.Claims)) string {
	tb.Helper()
	c := token.Claims{
		IssuedAt:  issued.Unix(),
		Expiry:    issued.Add(time.Hour).Unix(),
		SessionID: token.NewSessionID(),
		Score:     score,
	}
	c.Bind(netip.MustParseAddr(ip), ua, 24, 64)
	if mut != nil {
		mut(&c)
	}
	s, err := f.Ring.Seal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Tamper changes one character in the middle of a token to another valid
// base64url character, so the token still decodes but fails to open.
func Tamper(tok string) string {
	b := []byte(tok)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
