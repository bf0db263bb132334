package extauthz

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/botwarden/botwarden/detect"
)

// IPSource says where a client address came from.
type IPSource string

const (
	IPFromExternalAddress IPSource = "external_address"
	IPFromXFF             IPSource = "xff"
	IPFromPeer            IPSource = "peer"
	IPUnknown             IPSource = "unknown"
)

const headerExternalAddress = "x-envoy-external-address"

// ClientIP derives the client address from the trusted request attributes.
//
// The rule for x-forwarded-for is Envoy's HTTP connection manager's
// (docs/root/configuration/http/http_conn_man/headers.rst, "x-forwarded-for",
// https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-forwarded-for):
//
//   - use_remote_address false, xff_num_trusted_hops N: the trusted client
//     address is the (N+1)th address from the right end of XFF;
//   - use_remote_address true, N: it is the Nth address from the right end of
//     XFF as received, and Envoy then appends the immediate peer's address;
//   - with fewer addresses than that, Envoy falls back to the peer.
//
// ext_authz runs after the HCM, so with use_remote_address true the XFF it
// sees already carries the appended peer, which shifts Envoy's Nth to the
// (N+1)th. Both settings therefore reduce to one rule on the header this
// server receives: skip N entries from the right and take the next one
// (Envoy's Utility::getLastAddressFromXFF(headers, N)). Entries are split on
// "," and trimmed as Envoy does; an empty or malformed chosen entry is not
// skipped over (that would let the client pick), it falls back.
// With skip_xff_append: true on the HCM, configure one hop fewer.
//
// x-envoy-external-address, when trusted, wins: Envoy sets it to exactly
// that trusted client address for external requests.
func (c ClientIPConfig) ClientIP(h detect.Headers, peer netip.Addr) (netip.Addr, IPSource) {
	if c.UseExternalAddress {
		if a, ok := ParseIP(h[headerExternalAddress]); ok {
			return a, IPFromExternalAddress
		}
	}
	if c.UseXFF {
		if a, ok := XFFClient(h["x-forwarded-for"], c.XFFNumTrustedHops); ok {
			return a, IPFromXFF
		}
	}
	if (!c.UseXFF && !c.UseExternalAddress) || c.PeerFallback {
		if peer.IsValid() {
			return peer, IPFromPeer
		}
	}
	return netip.Addr{}, IPUnknown
}

// FromHTTP derives the client of an HTTP request that reached botwarden
// through the proxy: the challenge endpoint (pass it as the challenge
// package's Options.ClientIP, with the same config as the authz path, so a
// ticket binds to the address the check saw) or any other proxied handler.
// Repeated X-Forwarded-For lines are joined with "," as Envoy does.
func (c ClientIPConfig) FromHTTP(hr *http.Request) netip.Addr {
	h := detect.Headers{}
	if xff := hr.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		h["x-forwarded-for"] = strings.Join(xff, ",")
	}
	if ext := hr.Header.Get(headerExternalAddress); ext != "" {
		h[headerExternalAddress] = ext
	}
	a, _ := c.ClientIP(h, remoteAddr(hr))
	return a
}

// remoteAddr is the L4 peer of an HTTP request.
func remoteAddr(hr *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(hr.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().WithZone("").Unmap()
}

// resolve is ClientIP for the converters: it flags a configured source that
// was absent or malformed.
func (c ClientIPConfig) resolve(h detect.Headers, peer netip.Addr, iss issue) (netip.Addr, issue) {
	a, src := c.ClientIP(h, peer)
	if src == IPUnknown || (src == IPFromPeer && (c.UseXFF || c.UseExternalAddress)) {
		iss |= issueClientIP
	}
	return a, iss
}

// XFFClient returns the address trustedHops entries from the right end of
// an x-forwarded-for value (0 = the last entry).
func XFFClient(xff string, trustedHops int) (netip.Addr, bool) {
	if xff == "" || trustedHops < 0 {
		return netip.Addr{}, false
	}
	for range trustedHops {
		i := strings.LastIndexByte(xff, ',')
		if i < 0 {
			return netip.Addr{}, false // fewer entries than trusted hops
		}
		xff = xff[:i]
	}
	if i := strings.LastIndexByte(xff, ','); i >= 0 {
		xff = xff[i+1:]
	}
	return ParseIP(xff)
}

// maxAddrLen bounds one address literal: the longest valid form here is a
// bracketed IPv6 with an IPv4 tail, a zone and a port, well under 100 bytes.
const maxAddrLen = 100

// ParseIP parses one forwarded address leniently: surrounding spaces, an
// IPv6 literal in brackets, a port (":8080" after IPv4 or "]"), a zone
// ("%eth0", dropped: a zone is meaningless beyond the host) and IPv4-mapped
// IPv6 (unmapped, so ::ffff:192.0.2.1 and 192.0.2.1 are one client). It
// rejects obfuscated identifiers ("unknown", "_hidden") and unspecified
// addresses (0.0.0.0, ::), which never name a client.
func ParseIP(s string) (netip.Addr, bool) {
	s = strings.Trim(s, " \t")
	if s == "" || len(s) > maxAddrLen {
		return netip.Addr{}, false
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 || !validPortSuffix(s[end+1:]) {
			return netip.Addr{}, false
		}
		s = s[1:end]
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		// Exactly one colon: IPv4 with a port (bare IPv6 has at least two).
		if !validPortSuffix(s[i:]) {
			return netip.Addr{}, false
		}
		s = s[:i]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.WithZone("").Unmap()
	if a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// validPortSuffix accepts "" or ":" followed by 1–5 digits.
func validPortSuffix(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ':' || len(s) < 2 || len(s) > 6 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
