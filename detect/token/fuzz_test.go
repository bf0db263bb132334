package token

import (
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
)

// FuzzOpen feeds arbitrary cookie values to Open: it must never panic, every
// error must carry one of the package's reasons, and whatever opens must
// re-seal and re-open to the same claims.
func FuzzOpen(f *testing.F) {
	r := testRing(f, 1, 1, 2)
	good, _ := r.Seal(sample())
	f.Add(good)
	f.Add("")
	f.Add(good[:60])
	f.Add(good + "==")
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	raw[0] = 0
	f.Add(base64.RawURLEncoding.EncodeToString(raw))
	f.Fuzz(func(t *testing.T, tok string) {
		// The allocation-free decoder agrees with the standard library's
		// strict one on every input.
		// (The standard library skips \r and \n; cookies never carry them.)
		if len(tok) <= EncodedLen && !strings.ContainsAny(tok, "\r\n") {
			var dst [rawLen]byte
			n, err := decodeB64(dst[:], tok)
			want, werr := base64.RawURLEncoding.Strict().DecodeString(tok)
			if (err == nil) != (werr == nil) || (err == nil && string(dst[:n]) != string(want)) {
				t.Fatalf("decodeB64(%q) = %x, %v; stdlib %x, %v", tok, dst[:n], err, want, werr)
			}
		}
		c, err := r.Open(tok, t0)
		if err != nil {
			if Reason(err) == "error" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		_ = c.Bound(netip.MustParseAddr("192.0.2.1"), "x", 24, 64)
		again, err := r.Seal(c)
		if err != nil {
			t.Fatalf("opened claims do not re-seal: %v", err)
		}
		c2, err := r.Open(again, t0)
		if err != nil || c2.IssuedAt != c.IssuedAt || c2.Flags != c.Flags || c2.IPPrefix != c.IPPrefix {
			t.Fatalf("re-open: %+v vs %+v, %v", c2, c, err)
		}
	})
}
