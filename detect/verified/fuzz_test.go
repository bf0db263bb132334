package verified

import (
	"context"
	"net/netip"
	"testing"

	"github.com/botwarden/botwarden/detect"
)

// naiveScan is the obvious, slow definition of tokenIndex.scan: split the UA
// into words and compare every registered phrase at every position.
func naiveScan(x *tokenIndex, ua string) match {
	words := splitWords(ua)
	m := match{ai: -1}
	for i := range words {
		for _, cands := range x.byLast {
			for _, p := range cands {
				k := len(p.words)
				if i+1 >= k && equalWords(words[i+1-k:i+1], p.words) {
					m.add(p)
				}
			}
		}
	}
	return m
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// FuzzUAClaims checks the single-pass scanner against the naive definition,
// case-insensitivity, and that evaluating any user agent is safe.
func FuzzUAClaims(f *testing.F) {
	for _, s := range []string{uaGooglebot, uaBingbot, uaGPTBot, uaChrome, uaClaudeBot,
		"TelegramBot (like TwitterBot)", "archive.org_bot", "x ChatGPT Agent y", "\x00\xffGPTBot\x80", ""} {
		f.Add(s)
	}
	e := testEngine(f, DefaultConfig(), WithResolver(newFakeResolver()))
	f.Fuzz(func(t *testing.T, ua string) {
		got := e.tokens.scan(ua)
		// The first AI entry in UA order can differ when two names end on
		// the same word; compare presence, and bots exactly.
		want := naiveScan(e.tokens, ua)
		if got.bots != want.bots || (got.ai < 0) != (want.ai < 0) {
			t.Fatalf("scan %+v, naive %+v for %q", got, want, ua)
		}
		if up := e.tokens.scan(asciiUpper(ua)); up != got {
			t.Fatalf("case changes the result for %q", ua)
		}
		v := eval(e, residential, ua)
		if v.Score != 0 && v.Score != 1 {
			t.Fatalf("score %d", v.Score)
		}
	})
}

// FuzzRangeLookup checks the prefix table against a linear scan of every
// bot's prefixes, for arbitrary addresses (v4, v6, mapped, zoned).
func FuzzRangeLookup(f *testing.F) {
	e := testEngine(f, DefaultConfig(), WithResolver(newFakeResolver()))
	for _, id := range []string{"googlebot", "bingbot", "gptbot", "duckduckbot", "facebookexternalhit", "pingdom"} {
		for _, p := range e.Ranges(id)[:2] {
			f.Add(p.Addr().AsSlice(), "")
		}
	}
	f.Add([]byte{203, 0, 113, 7}, "")
	f.Add(netip.MustParseAddr("::ffff:66.249.66.1").AsSlice(), "")
	f.Add([]byte{0x20, 0x01, 0x48, 0x60, 0x48, 0x01, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 1}, "eth0")
	f.Add([]byte{1, 2, 3}, "")
	rt := e.table.Load()
	f.Fuzz(func(t *testing.T, raw []byte, zone string) {
		ip, ok := netip.AddrFromSlice(raw)
		if ok && ip.Is6() && zone != "" {
			ip = ip.WithZone(zone)
		}
		plain := ip.WithZone("").Unmap()
		got := rt.lookup(plain)
		var want uint64
		if plain.IsValid() {
			for i, b := range e.bots {
				for _, s := range b.Sets {
					for _, p := range rt.snap.Prefixes(s) {
						if p.Contains(plain) {
							want |= 1 << uint(i)
						}
					}
				}
			}
		}
		if got != want {
			t.Fatalf("lookup(%v) = %b, linear scan %b", plain, got, want)
		}
		// Evaluating with this address never panics and verifies exactly
		// when the table says so.
		v := &detect.Verdict{}
		_ = e.Evaluate(context.Background(), &detect.Request{ClientIP: ip, Headers: detect.Headers{"user-agent": uaGooglebot}}, v)
		if v.Verified != (got&(1<<0) != 0) {
			t.Fatalf("%v: verified=%v table=%b", ip, v.Verified, got)
		}
	})
}
