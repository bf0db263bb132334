package session

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
)

// FuzzCookieHeader feeds arbitrary Cookie headers through the engine and
// the finisher: no panic, and a request either gets a session or is
// counted and ignored — never half of one.
func FuzzCookieHeader(f *testing.F) {
	m, err := New(testConfig(), zerolog.Nop(), nil)
	if err != nil {
		f.Fatal(err)
	}
	c := m.Fresh(request("192.0.2.10", "", t0).ClientIP, ua, t0)
	sc, _ := m.SetCookie(c, t0, IssueNew)
	f.Add(sc)
	f.Add("__bw=" + sc[5:20])
	f.Add("a=b; __bw=\"x\"; __bw=; ;;=;")
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		r := request("192.0.2.10", "", t0)
		r.Headers["cookie"] = header
		v := &detect.Verdict{}
		if err := m.Evaluate(context.Background(), r, v); err != nil {
			t.Fatal(err)
		}
		if v.Session == nil && (v.ChallengePassed || v.JSDetectionChecked || v.Score != 0) {
			t.Fatalf("evidence without a session: %+v", v)
		}
		m.Finish(context.Background(), r, v)
	})
}
