package ranges

import "net/netip"

// specialPurpose are the IANA special-purpose blocks (RFC 6890 and the
// registries it created) that never belong to an operator's crawlers or to
// a datacenter on the Internet. Published lists do carry them by mistake —
// the Vultr geofeed copy lists 192.0.2.0/24, 198.51.100.0/24 and
// 203.0.113.0/24 — so they are dropped on load.
var specialPurpose = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
		"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
		"fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Plausible reports whether p can be a published range of reachable
// Internet addresses: not inside a special-purpose block, and not absurdly
// wide (shorter than /8 for IPv4 or /16 for IPv6 — no operator publishes
// that, and one such line would swallow a large part of the Internet).
func Plausible(p netip.Prefix) bool {
	if !p.IsValid() {
		return false
	}
	if p.Addr().Is4() && p.Bits() < 8 || p.Addr().Is6() && p.Bits() < 16 {
		return false
	}
	for _, s := range specialPurpose {
		if s.Bits() <= p.Bits() && s.Contains(p.Addr()) {
			return false
		}
	}
	return true
}
