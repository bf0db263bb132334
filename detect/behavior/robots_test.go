package behavior

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRobots(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"star group", "User-agent: *\nDisallow: /cart\nDisallow: /checkout/ # comment\nAllow: /cart/help\n", []string{"/cart", "/checkout/"}},
		{"other groups ignored", "User-agent: Googlebot\nDisallow: /g\n\nUser-agent: *\nDisallow: /private/\n", []string{"/private/"}},
		{"shared group", "User-agent: Bingbot\nUser-agent: *\nDisallow: /x\n", []string{"/x"}},
		{"wildcards cut", "user-agent: *\ndisallow: /search*q=\ndisallow: /*.pdf$\n", []string{"/search"}},
		{"empty disallow", "User-agent: *\nDisallow:\n", nil},
		{"root only", "User-agent: *\nDisallow: /\n", nil},
		{"garbage", "\x00\xff no colons here\n:::\n", nil},
	}
	for _, tt := range tests {
		if got := ParseRobots([]byte(tt.body)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	huge := "User-agent: *\n" + strings.Repeat("Disallow: /a\n", 5000)
	if got := ParseRobots([]byte(huge)); len(got) != maxRobotsRules {
		t.Errorf("%d rules kept, want %d", len(got), maxRobotsRules)
	}
}

func FuzzParseRobots(f *testing.F) {
	f.Add([]byte("User-agent: *\nDisallow: /cart\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range ParseRobots(b) {
			if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "*$") {
				t.Fatalf("bad rule %q", p)
			}
		}
	})
}
