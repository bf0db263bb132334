package corpus

import (
	"math/rand/v2"
	"regexp"
	"strconv"

	"github.com/botwarden/botwarden/detect/heuristics/useragent"
	"github.com/botwarden/botwarden/detect/ml"
)

// The context a request comes with (network, session, pace) is not in the
// UA corpora; it is drawn here, from stated assumptions about a shop's
// traffic, so that the model learns to weigh it and the evaluation can
// show what it does. The assumptions, per request:
//
//   - people: 1% from datacenter addresses (corporate egress, cloud
//     desktops; half of them in a cloud provider's ranges), 4% from VPN
//     exits, iOS 10% behind Private Relay; they read pages for 5–30 s, so
//     1 page view in the last 10–20 s (20% 2, 4% 3, 1% 4 going back and
//     forth, never 5) and 1–8 in a minute (3% skim 12–20); 8% share a carrier-grade
//     NAT prefix with 30–200 other page views a minute; 0.5% carry a
//     session cookie bound to another address (a phone changing networks);
//     88% run a browser at most two releases old (Chromium and Firefox
//     update themselves), the rest the version their UA string says.
//   - bots: a crawl of 1–40 pages at 0.2–2 pages a second (page views so
//     far, capped by the pace's count in the window); a "browser-headers"
//     client (ToolStealth) sends a current browser's exact headers and
//     TLS, from a datacenter (70%) or a residential proxy, starts on a deep
//     link without cookie or referer, and replays a cookie issued to
//     another client in 10% of requests; 40% of them go "low and slow", at
//     a person's pace, to stay under rate limits. So among requests with a
//     browser's headers from a datacenter address, bots outnumber people
//     several times whatever their pace: the premise of scoring them 2–29
//     (challenge, don't block), as the datacenter share of browser-looking
//     traffic is mostly automation.

// currentRelease mirrors detect/ml's versions (Chromium 156, Firefox 151).
var currentRelease = map[useragent.Engine]int{useragent.EngineBlink: 156, useragent.EngineGecko: 151}

var (
	reChrome  = regexp.MustCompile(`(Chrome|Chromium|CriOS|Edg|EdgA|EdgiOS)/\d+(\.\d+)*`)
	reFirefox = regexp.MustCompile(`(Firefox|FxiOS)/\d+(\.\d+)*`)
	reRV      = regexp.MustCompile(`rv:\d+(\.\d+)*`)
)

// evergreen returns ua at a current version (up to two releases behind)
// with probability p, as auto-updating browsers are; otherwise ua as the
// list has it.
func evergreen(r *rand.Rand, ua string, p float64) string {
	a := useragent.Parse(ua)
	cur, ok := currentRelease[a.Engine]
	if !ok || a.Family == useragent.FamilyHeadless || !chance(r, p) {
		return ua
	}
	v := strconv.Itoa(cur - r.IntN(3))
	switch a.Engine {
	case useragent.EngineBlink:
		if a.ChromiumMajor == 0 {
			return ua
		}
		return reChrome.ReplaceAllString(ua, "${1}/"+v+".0.0.0")
	default:
		if a.Family != useragent.FamilyFirefox {
			return ua
		}
		return reRV.ReplaceAllString(reFirefox.ReplaceAllString(ua, "${1}/"+v+".0"), "rv:"+v+".0")
	}
}

// humanRequest is a person's request of kind from the browser ua names, at
// the version the person would run, with a person's context.
func humanRequest(r *rand.Rand, ua string, kind Kind) ml.Example {
	e := browserRequest(r, evergreen(r, ua, 0.88), kind)
	humanContext(r, &e)
	return e
}

// humanContext draws a person's network and pace onto e.
func humanContext(r *rand.Rand, e *ml.Example) {
	e.Datacenter = !e.PrivateRelay && chance(r, 0.01)
	e.Cloud = e.Datacenter && chance(r, 0.5)
	e.VPN = !e.Datacenter && !e.PrivateRelay && chance(r, 0.04)
	e.Burst = 1
	switch x := r.Float64(); {
	case x < 0.01:
		e.Burst = 4
	case x < 0.05:
		e.Burst = 3
	case x < 0.25:
		e.Burst = 2
	}
	e.Minute = max(e.Burst, uint32(1+r.IntN(8)))
	if chance(r, 0.03) {
		e.Minute = uint32(12 + r.IntN(9))
	}
	e.PrefixMinute = e.Minute
	if chance(r, 0.08) {
		e.PrefixMinute += uint32(30 + r.IntN(171))
	}
	e.ForeignSession = chance(r, 0.005)
}

// crawlContext draws a crawl's pace onto e: page k of the crawl at rate
// pages a second; dc is the share of datacenter addresses.
func crawlContext(r *rand.Rand, e *ml.Example, dc float64) {
	k := 1 + r.IntN(40)
	rate := 0.2 + 1.8*r.Float64()
	e.Burst = uint32(min(float64(k), 1+rate*15))
	e.Minute = uint32(min(float64(k), 1+rate*60))
	e.PrefixMinute = e.Minute
	e.Datacenter = chance(r, dc)
	e.Cloud = e.Datacenter && chance(r, 0.6)
	e.VPN = !e.Datacenter && chance(r, 0.1)
	if k == 1 && chance(r, 0.7) {
		// The first page of a crawl is a deep link from a URL list: no
		// cookie yet, no referer.
		delete(e.Headers, "cookie")
		delete(e.Headers, "referer")
		e.HeaderOrder = without(e.HeaderOrder, "cookie", "referer")
	}
}

func without(order []string, names ...string) []string {
	if order == nil {
		return nil
	}
	out := make([]string, 0, len(order))
	for _, n := range order {
		keep := true
		for _, x := range names {
			keep = keep && n != x
		}
		if keep {
			out = append(out, n)
		}
	}
	return out
}

// stealthRequest is a "browser-headers" client: a scraper sending the
// exact headers (and, on HTTPS, the TLS) of a current browser, e.g. a
// stealth-patched Chromium or an impersonating HTTP client.
func stealthRequest(r *rand.Rand, ua string) ml.Example {
	kind := KindNavigate
	if chance(r, 0.2) {
		kind = KindXHR
	}
	e := browserRequest(r, evergreen(r, ua, 1), kind)
	e.Label = ml.LabelBot
	e.Profile = string(ToolStealth)
	e.PrivateRelay = false
	crawlContext(r, &e, 0.7)
	if chance(r, 0.4) {
		dc, cloud, vpn := e.Datacenter, e.Cloud, e.VPN
		humanContext(r, &e)
		e.Datacenter, e.Cloud, e.VPN = dc, cloud, vpn
	}
	e.ForeignSession = chance(r, 0.1)
	return e
}
