package analytics

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"
)

// traffic generates records of realistic shape: a few hundred user agents
// and a few thousand paths with long tails, tens of thousands of clients,
// scores and actions in proportions like a shop under scraping.
type traffic struct {
	r                *rand.Rand
	uas, paths, ja4s []string
	ips              []netip.Addr
	hosts, countries []string
}

func newTraffic(seed uint64) *traffic {
	t := &traffic{r: rand.New(rand.NewPCG(seed, 7))}
	for i := range 300 {
		t.uas = append(t.uas, fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.0 Safari/537.36", 100+i%30, i))
	}
	t.uas = append(t.uas, "curl/8.5.0", "python-requests/2.31", "Go-http-client/1.1")
	for i := range 2000 {
		t.paths = append(t.paths, fmt.Sprintf("/products/%d/item-%d?page=%d", i%40, i, i%7))
	}
	for range 20000 {
		t.ips = append(t.ips, netip.AddrFrom4([4]byte{byte(1 + t.r.IntN(220)), byte(t.r.IntN(256)), byte(t.r.IntN(256)), byte(1 + t.r.IntN(254))}))
	}
	for range 100 {
		t.ja4s = append(t.ja4s, fmt.Sprintf("t13d1516h2_8daaf6152771_%012x", t.r.Uint64()&0xffffffffffff))
	}
	t.hosts = []string{"shop.example.com", "api.example.com", "www.example.com", "static.example.com", "login.example.com"}
	t.countries = []string{"US", "DE", "FR", "CN", "BR", "GB", "IN"}
	return t
}

var (
	genSources = []string{"heuristics", "machine_learning", "behavioral_analysis", "verified_bot", "js_detection"}
	genActions = []string{"allow", "allow", "allow", "allow", "block", "managed_challenge", "rate_limit", "log"}
)

func (t *traffic) record(at time.Time, i int) Record {
	r := t.r
	score := 1 + r.IntN(99)
	cat := "likely_human"
	switch {
	case score == 1:
		cat = "automated"
	case score < 30:
		cat = "likely_automated"
	}
	ip := t.ips[int(r.ExpFloat64()*2000)%len(t.ips)]
	rec := Record{
		Time: at, Ref: fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15), SampleInterval: 1,
		BotScore: score, BotScoreSrc: genSources[r.IntN(len(genSources))], BotCategory: cat,
		JA4: t.ja4s[r.IntN(len(t.ja4s))], Action: genActions[r.IntN(len(genActions))], RuleID: fmt.Sprintf("rule-%d", r.IntN(8)), Mode: "mitigate",
		ClientIP: ip.String(), ClientNet: Prefix(ip), ClientASN: 1000 + r.IntN(500), ClientCountry: t.countries[r.IntN(len(t.countries))],
		Method: "GET", Host: t.hosts[r.IntN(len(t.hosts))], Path: t.paths[int(r.ExpFloat64()*300)%len(t.paths)],
		UserAgent: t.uas[int(r.ExpFloat64()*30)%len(t.uas)], Status: 200, ResponseBytes: int64(r.IntN(50000)), DurationMs: r.Float64() * 200, Logged: true,
	}
	rec.EnforcedAction = rec.Action
	if score < 30 {
		rec.BotTags = []string{"http-library"}
		rec.BotDetectionIDs = []int{33554433}
	}
	return rec
}

// batch returns n records spread evenly over [from, to), oldest first.
func (t *traffic) batch(n int, from, to time.Time, offset int) []Record {
	out := make([]Record, n)
	step := to.Sub(from) / time.Duration(n)
	for i := range out {
		out[i] = t.record(from.Add(time.Duration(i)*step), offset+i)
	}
	return out
}
