package token

import (
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

func testRing(t testing.TB, active uint32, ids ...uint32) *Ring {
	t.Helper()
	var keys []Key
	for _, id := range ids {
		k := Key{ID: id}
		for i := range k.Secret {
			k.Secret[i] = byte(id) + byte(i) + 1
		}
		keys = append(keys, k)
	}
	r, err := NewRing(keys, active)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sample() Claims {
	c := Claims{
		IssuedAt:  t0.Unix(),
		Expiry:    t0.Add(time.Hour).Unix(),
		SessionID: SessionID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		Score:     85,
		Flags:     ChallengePassed | JSChecked | JSPassed,
		Attempts:  2,
		Findings:  0x8001,
	}
	c.Bind(netip.MustParseAddr("192.0.2.77"), "Mozilla/5.0 test", 24, 64)
	return c
}

func TestSealOpenRoundTrip(t *testing.T) {
	r := testRing(t, 7, 7)
	for _, tc := range []struct {
		name string
		ip   string
	}{
		{"ipv4", "192.0.2.77"},
		{"ipv6", "2001:db8:1:2:3:4:5:6"},
		{"ipv4-mapped", "::ffff:198.51.100.9"},
		{"unbound", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sample()
			var ip netip.Addr
			if tc.ip != "" {
				ip = netip.MustParseAddr(tc.ip)
			}
			c.Bind(ip, "UA", 24, 64)
			tok, err := r.Seal(c)
			if err != nil {
				t.Fatal(err)
			}
			if len(tok) != EncodedLen || len(tok) >= 200 {
				t.Fatalf("token length %d, want %d (< 200)", len(tok), EncodedLen)
			}
			got, err := r.Open(tok, t0.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			c.KeyID = 7
			if got != c {
				t.Fatalf("got %+v\nwant %+v", got, c)
			}
			if err := got.Bound(ip, "UA", 24, 64); err != nil {
				t.Fatalf("Bound: %v", err)
			}
		})
	}
}

func TestSealIsRandomised(t *testing.T) {
	r := testRing(t, 1, 1)
	a, _ := r.Seal(sample())
	b, _ := r.Seal(sample())
	if a == b {
		t.Fatal("two seals of the same claims are equal: nonce not random")
	}
}

func TestOpenErrors(t *testing.T) {
	r := testRing(t, 1, 1)
	good, err := r.Seal(sample())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	reseal := func(mut func(b []byte)) string {
		b := append([]byte(nil), raw...)
		mut(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	other := testRing(t, 2, 2)
	fromOther, _ := other.Seal(sample())

	for _, tc := range []struct {
		name  string
		token string
		now   time.Time
		want  error
	}{
		{"empty", "", t0, ErrMalformed},
		{"short", good[:len(good)-1], t0, ErrMalformed},
		{"long", good + "A", t0, ErrMalformed},
		{"bad char", "!" + good[1:], t0, ErrMalformed},
		{"std alphabet", strings.Repeat("+", EncodedLen), t0, ErrMalformed},
		{"version", reseal(func(b []byte) { b[0] = 9 }), t0, ErrMalformed},
		{"unknown key", fromOther, t0, ErrUnknownKey},
		{"key id rewritten", reseal(func(b []byte) { b[4] = 2 }), t0, ErrUnknownKey},
		{"flipped ciphertext", reseal(func(b []byte) { b[30] ^= 1 }), t0, ErrTampered},
		{"flipped nonce", reseal(func(b []byte) { b[6] ^= 1 }), t0, ErrTampered},
		{"flipped tag", reseal(func(b []byte) { b[len(b)-1] ^= 0x80 }), t0, ErrTampered},
		{"expired", good, t0.Add(time.Hour), ErrExpired},
		{"long expired", good, t0.Add(1000 * time.Hour), ErrExpired},
		{"issued in the future", good, t0.Add(-2 * time.Minute), ErrNotYet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Open(tc.token, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := r.Open(good, t0.Add(-30*time.Second)); err != nil {
		t.Fatalf("within clock skew: %v", err)
	}
}

func TestDecodeB64(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"", "", true},
		{"QQ", "A", true},
		{"QR", "", false}, // non-canonical: the 4 spare bits are not zero
		{"QUI", "AB", true},
		{"QUJ", "", false},
		{"QUJD", "ABC", true},
		{"Q", "", false}, // 6 bits cannot be a byte
		{"QQ==", "", false},
		{"-_-_", "\xfb\xff\xbf", true},
	} {
		dst := make([]byte, 8)
		n, err := decodeB64(dst, tc.in)
		if (err == nil) != tc.ok || (tc.ok && string(dst[:n]) != tc.want) {
			t.Errorf("decodeB64(%q) = %q, %v; want %q ok=%v", tc.in, dst[:n], err, tc.want, tc.ok)
		}
	}
}

func TestRotation(t *testing.T) {
	old := testRing(t, 1, 1)
	tok, _ := old.Seal(sample())
	rotated := testRing(t, 2, 2, 1) // new active key 2, previous 1 still opens
	c, err := rotated.Open(tok, t0)
	if err != nil {
		t.Fatalf("previous key no longer opens: %v", err)
	}
	if c.KeyID != 1 {
		t.Fatalf("KeyID = %d, want 1", c.KeyID)
	}
	fresh, _ := rotated.Seal(c)
	if c2, err := rotated.Open(fresh, t0); err != nil || c2.KeyID != 2 {
		t.Fatalf("reseal: key %d, err %v", c2.KeyID, err)
	}
	retired := testRing(t, 2, 2)
	if _, err := retired.Open(tok, t0); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired key: %v", err)
	}
}

func TestBound(t *testing.T) {
	c := sample() // bound to 192.0.2.0/24, "Mozilla/5.0 test"
	c6 := sample()
	c6.Bind(netip.MustParseAddr("2001:db8:aa:bb::1"), "UA", 24, 64)
	for _, tc := range []struct {
		name   string
		c      Claims
		ip, ua string
		v4, v6 int
		ok     bool
	}{
		{"same ip", c, "192.0.2.77", "Mozilla/5.0 test", 24, 64, true},
		{"same /24", c, "192.0.2.1", "Mozilla/5.0 test", 24, 64, true},
		{"mapped form", c, "::ffff:192.0.2.1", "Mozilla/5.0 test", 24, 64, true},
		{"other /24", c, "192.0.3.77", "Mozilla/5.0 test", 24, 64, false},
		{"other ua", c, "192.0.2.77", "curl/8.0", 24, 64, false},
		{"narrower config", c, "192.0.2.77", "Mozilla/5.0 test", 32, 64, false},
		{"no ip", c, "", "Mozilla/5.0 test", 24, 64, false},
		{"v6 same /64", c6, "2001:db8:aa:bb:ffff::9", "UA", 24, 64, true},
		{"v6 other /64", c6, "2001:db8:aa:bc::1", "UA", 24, 64, false},
		{"v6 vs v4 client", c6, "192.0.2.77", "UA", 24, 64, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ip netip.Addr
			if tc.ip != "" {
				ip = netip.MustParseAddr(tc.ip)
			}
			err := tc.c.Bound(ip, tc.ua, tc.v4, tc.v6)
			if (err == nil) != tc.ok {
				t.Fatalf("Bound = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrUnbound) {
				t.Fatalf("error %v does not wrap ErrUnbound", err)
			}
		})
	}
}

func TestSealRejectsBadScore(t *testing.T) {
	c := sample()
	c.Score = 100
	if _, err := testRing(t, 1, 1).Seal(c); err == nil {
		t.Fatal("score 100 sealed")
	}
}

func TestNewRingErrors(t *testing.T) {
	k1 := NewKey(1)
	for _, tc := range []struct {
		name   string
		keys   []Key
		active uint32
	}{
		{"none", nil, 1},
		{"active missing", []Key{k1}, 2},
		{"duplicate", []Key{k1, k1}, 1},
		{"zero key", []Key{{ID: 1}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewRing(tc.keys, tc.active); err == nil {
				t.Fatal("NewRing accepted it")
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	k := NewKey(3)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		got, err := ParseKey(3, enc.EncodeToString(k.Secret[:]))
		if err != nil || got != k {
			t.Fatalf("ParseKey: %v", err)
		}
	}
	if got, _ := ParseKey(3, k.String()); got != k {
		t.Fatal("String does not round-trip")
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := ParseKey(1, bad); err == nil {
			t.Fatalf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		nil: "valid", ErrMalformed: "malformed", ErrUnknownKey: "unknown_key", ErrTampered: "tampered",
		ErrExpired: "expired", ErrNotYet: "not_yet_valid", ErrUnbound: "unbound", errors.New("x"): "error",
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestFlags(t *testing.T) {
	f := JSChecked | JSPassed
	if !f.Has(JSChecked) || !f.Has(JSChecked|JSPassed) || f.Has(Blocked) || f.Has(JSPassed|Blocked) {
		t.Fatal("Has is wrong")
	}
	if s := (SessionID{0xab}).String(); s != "ab0000000000000000000000" {
		t.Fatalf("SessionID.String = %q", s)
	}
	if NewSessionID().IsZero() {
		t.Fatal("random session id is zero")
	}
}
