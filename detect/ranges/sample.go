package ranges

import (
	"math/rand/v2"
	"net/netip"
)

// RandomAddr returns an address drawn uniformly from p, each host bit set
// by a coin toss from r. Evaluations use it to sample a published range
// rather than try only its first address; a seeded r makes a run
// repeatable.
func RandomAddr(r *rand.Rand, p netip.Prefix) netip.Addr {
	p = p.Masked()
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if r.IntN(2) == 1 {
			b[i/8] |= 1 << (7 - i%8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
