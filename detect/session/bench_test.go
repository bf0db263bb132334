package session

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/token"
)

func benchManager(b *testing.B) *Manager {
	cfg := DefaultConfig()
	cfg.Keys = []KeyConfig{{ID: 1, Secret: token.NewKey(1).String()}}
	cfg.ActiveKey = 1
	m, err := New(cfg, zerolog.Nop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func benchRequest(b *testing.B, m *Manager) *detect.Request {
	c := m.Fresh(request("192.0.2.10", "", t0).ClientIP, ua, t0)
	c.Flags = token.ChallengePassed | token.JSChecked | token.JSPassed
	sc, err := m.SetCookie(c, t0, IssueNew)
	if err != nil {
		b.Fatal(err)
	}
	return request("192.0.2.10", sc[:len("__bw=")+token.EncodedLen], t0.Add(10e9))
}

// BenchmarkCookieLookupBaseline is the do-nothing reference: finding the
// cookie in the header, which any cookie-reading engine does.
func BenchmarkCookieLookupBaseline(b *testing.B) {
	m := benchManager(b)
	r := benchRequest(b, m)
	b.ReportAllocs()
	for b.Loop() {
		if r.Cookie("__bw") == "" {
			b.Fatal("no cookie")
		}
	}
}

// BenchmarkEvaluate is the session engine on a request with a valid
// cookie: open, bind, build Verdict.Session, apply the JS-passed evidence.
func BenchmarkEvaluate(b *testing.B) {
	m := benchManager(b)
	r := benchRequest(b, m)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v := detect.Verdict{}
		if err := m.Evaluate(ctx, r, &v); err != nil || v.Session == nil {
			b.Fatal("cookie not honoured")
		}
	}
}

// BenchmarkFinishNew is the finisher issuing a cookie to a new client.
func BenchmarkFinishNew(b *testing.B) {
	m := benchManager(b)
	r := request("192.0.2.10", "", t0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v := detect.Verdict{Score: 50}
		m.Finish(ctx, r, &v)
		if len(v.SetCookies) != 1 {
			b.Fatal("no cookie")
		}
	}
}

// BenchmarkEvaluateFinishReissue is a returning client whose score
// category changed since its cookie was issued (likely human then, likely
// automated now): the engine reads the cookie and the finisher reissues it,
// reading it again to carry the session forward.
func BenchmarkEvaluateFinishReissue(b *testing.B) {
	m := benchManager(b)
	r := benchRequest(b, m)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v := detect.Verdict{}
		if err := m.Evaluate(ctx, r, &v); err != nil || v.Session == nil {
			b.Fatal("cookie not honoured")
		}
		v.Score = 2
		m.Finish(ctx, r, &v)
		if len(v.SetCookies) != 1 {
			b.Fatal("no cookie reissued")
		}
	}
}
