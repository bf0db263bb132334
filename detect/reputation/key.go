package reputation

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxSessionKey and maxJA4Key bound the key parts the engine looks up; the
// engine skips longer ones, so a key past them could never match.
const (
	maxSessionKey = 128
	maxJA4Key     = 64
)

// ParseKey turns a client key as an operator writes it — ip:203.0.113.7,
// net:203.0.113.0/24 (or net:203.0.113.7, meaning its network),
// session:<id>, ja4:<fingerprint>, or a bare address — into the exact
// form the engine looks up, so a feedback verdict lands on the key the next
// Check asks for. A network must have the lookup's prefix size, and a kind
// the lookup does not consult (prefix or JA4 switched off) is an error
// rather than a verdict that could never match.
func (c EngineConfig) ParseKey(s string) (string, error) {
	// A bare address first: an IPv6 one contains colons itself.
	if a, err := netip.ParseAddr(s); err == nil {
		return KeyIP(a), nil
	}
	kind, val, _ := strings.Cut(s, ":")
	switch kind {
	case "ip":
		a, err := netip.ParseAddr(val)
		if err != nil {
			return "", fmt.Errorf("key %q: not an IP address", s)
		}
		return KeyIP(a), nil
	case "net":
		if !c.Prefix {
			return "", fmt.Errorf("key %q: network keys are not looked up (reputation.lookup.prefix is off)", s)
		}
		if a, err := netip.ParseAddr(val); err == nil {
			return KeyPrefix(a, c.V4PrefixBits, c.V6PrefixBits), nil
		}
		p, err := netip.ParsePrefix(val)
		if err != nil {
			return "", fmt.Errorf("key %q: not a network (want net:203.0.113.0/%d)", s, c.V4PrefixBits)
		}
		want := c.V6PrefixBits
		if p.Addr().Unmap().Is4() {
			want = c.V4PrefixBits
		}
		if p.Bits() != want {
			return "", fmt.Errorf("key %q: networks are looked up as /%d, not /%d", s, want, p.Bits())
		}
		return KeyPrefix(p.Addr(), c.V4PrefixBits, c.V6PrefixBits), nil
	case "session":
		if val == "" || len(val) > maxSessionKey || !printable(val) {
			return "", fmt.Errorf("key %q: a session id is 1–%d printable characters", s, maxSessionKey)
		}
		return KeySession(val), nil
	case "ja4":
		if !c.JA4 {
			return "", fmt.Errorf("key %q: JA4 keys are not looked up (reputation.lookup.ja4 is off)", s)
		}
		if val == "" || len(val) > maxJA4Key || !printable(val) {
			return "", fmt.Errorf("key %q: a JA4 fingerprint is 1–%d printable characters", s, maxJA4Key)
		}
		return KeyJA4(val), nil
	}
	return "", fmt.Errorf("key %q: want ip:, net:, session: or ja4: followed by its value", s)
}

// printable reports whether s is visible ASCII (no spaces or controls):
// session ids and fingerprints are, and a key is shown and logged.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
