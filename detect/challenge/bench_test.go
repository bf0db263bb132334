package challenge

import (
	"context"
	"net/netip"
	"net/url"
	"testing"
)

// answers prepares n distinct valid answers (each ticket is single-use).
// The work is checked with one hash whatever the difficulty, so a low
// difficulty keeps the setup short without changing what is measured.
func answers(b *testing.B, h *harness, br *browser, n int) []string {
	out := make([]string, n)
	for i := range out {
		p := h.challenge(br, "/products/42?ref=home", "managed_challenge")
		out[i] = answer(p.ticket, solve(p.ticket, p.difficulty), headfulSignals())
	}
	return out
}

// BenchmarkVerifyBaseline is the do-nothing reference: parsing the same
// form body, the least any answer handler does.
func BenchmarkVerifyBaseline(b *testing.B) {
	h := newHarness(b, func(c *Config) { c.Difficulty = 4 })
	br := &browser{ip: "192.0.2.1", ua: uaHeadful}
	body := answers(b, h, br, 1)[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := url.ParseQuery(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the whole server-side check of a JavaScript answer:
// parse, ticket signature, age and binding, proof of work, session cookie,
// replay store, signal judgement, and sealing the new cookie.
func BenchmarkVerify(b *testing.B) {
	h := newHarness(b, func(c *Config) { c.Difficulty = 4; c.ReplayCapacity = 1 << 22 })
	br := &browser{ip: "192.0.2.1", ua: uaHeadful}
	bodies := answers(b, h, br, b.N)
	cl := client{ip: netip.MustParseAddr(br.ip), ua: br.ua, now: h.now}
	cl.cookie = br.cookie[len("__bw="):]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if o := h.c.verify(context.Background(), bodies[i], kindJS, cl); o.result != resultPassed {
			b.Fatalf("answer %d: %s %v", i, o.result, o.err)
		}
	}
}

// BenchmarkRespond renders a challenge page (two signed tickets, the
// template with the inline script).
func BenchmarkRespond(b *testing.B) {
	h := newHarness(b, nil)
	br := &browser{ip: "192.0.2.1", ua: uaHeadful}
	h.challenge(br, "/", "managed_challenge")
	r := br.request("/products/42")
	v := verdictFor("managed_challenge")
	b.ReportAllocs()
	for b.Loop() {
		if resp := h.c.Respond(r, v); resp.Status != 403 {
			b.Fatal(resp.Status)
		}
	}
}

// BenchmarkRespondBaseline is the reference for BenchmarkRespond: the
// block page, the cheapest denial reply.
func BenchmarkRespondBaseline(b *testing.B) {
	h := newHarness(b, nil)
	br := &browser{ip: "192.0.2.1", ua: uaHeadful}
	r := br.request("/products/42")
	v := verdictFor("block")
	b.ReportAllocs()
	for b.Loop() {
		if resp := h.c.Respond(r, v); resp.Status != 403 {
			b.Fatal(resp.Status)
		}
	}
}
