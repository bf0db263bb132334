package ranges

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestRandomAddr(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		prefix string
		// distinct is how many different addresses 400 draws must reach.
		distinct int
	}{
		{"192.0.2.7/32", 1},
		{"192.0.2.0/30", 4},
		{"192.0.2.9/30", 4}, // host bits in the prefix are ignored
		{"2001:db8::/126", 4},
		{"66.249.64.0/19", 300},
		{"2001:4860:4801::/48", 390},
	} {
		p := netip.MustParsePrefix(tc.prefix)
		seen := map[netip.Addr]bool{}
		for range 400 {
			a := RandomAddr(r, p)
			if !p.Contains(a) || a.Is4() != p.Addr().Is4() {
				t.Fatalf("%v: drew %v", p, a)
			}
			seen[a] = true
		}
		if len(seen) < tc.distinct {
			t.Errorf("%v: %d distinct addresses in 400 draws, want at least %d", p, len(seen), tc.distinct)
		}
	}
}
