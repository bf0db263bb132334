package challenge

import (
	"context"
	"net/netip"
	"testing"
)

// FuzzSubmission feeds arbitrary bodies to the parser and to the whole
// verification (ticket decoding, binding, work, signals): no panic, and
// every outcome is one of the known results. A real ticket is seeded so
// the fuzzer also mutates valid answers.
func FuzzSubmission(f *testing.F) {
	h := newHarness(f, nil)
	b := &browser{ip: "192.0.2.1", ua: uaHeadful}
	p := h.challenge(b, "/a?b=c", "managed_challenge")
	f.Add(answer(p.ticket, solve(p.ticket, p.difficulty), headfulSignals()))
	f.Add(answer(p.ticket, 0, headlessSignals()))
	f.Add("n=AQ&c=1")
	f.Add("")
	f.Add("n=%zz")
	known := map[string]bool{
		resultPassed: true, resultFailed: true, resultBlocked: true, resultMalformed: true, resultSignature: true,
		resultExpired: true, resultWrongKind: true, resultUnbound: true, resultWork: true, resultReplayed: true,
		resultSession: true, resultStoreError: true, resultSignalsUnbound: true, resultJSDPassed: true, resultJSDFailed: true,
	}
	cl := client{ip: netip.MustParseAddr(b.ip), ua: b.ua, now: h.now}
	f.Fuzz(func(t *testing.T, body string) {
		if s, err := ParseSubmission(body); err == nil {
			j := Evaluate(&s.Signals, b.ua, 4)
			if len(j.Results) != len(checks) {
				t.Fatalf("%d signal results for %d signals", len(j.Results), len(checks))
			}
			for _, r := range j.Results {
				if r.Result != ResultPassed && r.Result != ResultFailed && r.Result != ResultMissing {
					t.Fatalf("signal %s: result %q", r.Signal, r.Result)
				}
			}
			_ = s.Signals.Bound()
		}
		o := h.c.verify(context.Background(), body, kindJS, cl)
		if !known[o.result] {
			t.Fatalf("unknown result %q", o.result)
		}
		if o.path == "" || o.path[0] != '/' || (len(o.path) > 1 && o.path[1] == '/') {
			t.Fatalf("unsafe return path %q", o.path)
		}
	})
}
