package token

import (
	"encoding/base64"
	"net/netip"
	"testing"
)

// BenchmarkBaseline is the do-nothing reference: decoding the cookie's
// base64 only, the least any cookie check must do.
func BenchmarkBaseline(b *testing.B) {
	r := testRing(b, 1, 1)
	tok, _ := r.Seal(sample())
	dst := make([]byte, rawLen)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := base64.RawURLEncoding.Decode(dst, []byte(tok)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenBound is the hot-path check: authenticate, decode, check
// times and the client binding.
func BenchmarkOpenBound(b *testing.B) {
	r := testRing(b, 1, 1, 2)
	tok, _ := r.Seal(sample())
	ip := netip.MustParseAddr("192.0.2.77")
	b.ReportAllocs()
	for b.Loop() {
		c, err := r.Open(tok, t0)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Bound(ip, "Mozilla/5.0 test", 24, 64); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	r := testRing(b, 1, 1)
	c := sample()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Seal(c); err != nil {
			b.Fatal(err)
		}
	}
}
