package verified

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ranges"
	"github.com/botwarden/botwarden/internal/refdata"
)

// The verification targets, measured against Google's own published list
// (ipranges/google/googlebot.json in the reference data, read here directly,
// not through the embedded snapshot):
//   - the Googlebot UA from Google's ranges is verified in 100% of cases;
//   - the Googlebot UA from a residential address is never verified and,
//     once its reverse DNS answers (real DNS over loopback), scores 1.

func googlebotPrefixes(t *testing.T) []netip.Prefix {
	t.Helper()
	data, err := os.ReadFile(refdata.Require(t, "ipranges/google/googlebot.json"))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := ranges.ParseFormat(ranges.FormatPrefixesJSON, data)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

var googlebotUAs = []string{
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.7258.127 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/139.0.7258.127 Safari/537.36",
	"Googlebot-Image/1.0",
	"Googlebot-Video/1.0",
}

func TestEvalGooglebotFromGoogleRanges(t *testing.T) {
	e := testEngine(t, DefaultConfig(), WithResolver(newFakeResolver()))
	r := rand.New(rand.NewPCG(1, 2))
	n, ok := 0, 0
	for _, p := range googlebotPrefixes(t) {
		for _, ua := range googlebotUAs {
			ip := ranges.RandomAddr(r, p)
			v := eval(e, ip, ua)
			n++
			if v.Verified && v.VerifiedBot == "googlebot" && v.VerifiedCategory == CategorySearchEngine {
				ok++
			} else {
				t.Errorf("%v %q: %+v", ip, ua, v)
			}
		}
	}
	t.Logf("Googlebot from Google's ranges: %d/%d verified", ok, n)
}

func TestEvalGooglebotFromResidentialAddresses(t *testing.T) {
	srv := newDNS(t)
	e := dnsEngine(t, srv, func(c *Config) { c.DNS.QueueSize = 4096 })
	google := googlebotPrefixes(t)
	// Residential stand-ins: random public IPv4 addresses outside Google's
	// ranges; half have the PTR an ISP gives its customers, half none.
	r := rand.New(rand.NewPCG(3, 4))
	var homes []netip.Addr
	for len(homes) < 1000 {
		ip := netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
		inGoogle := slices.ContainsFunc(google, func(p netip.Prefix) bool { return p.Contains(ip) })
		if !judgeable(ip) || !ranges.Plausible(netip.PrefixFrom(ip, 32)) || inGoogle || e.table.Load().lookup(ip) != 0 {
			continue
		}
		if len(homes)%2 == 0 {
			srv.AddFCrDNS(ip, "cpe-"+ip.StringExpanded()+".res.example-isp.net")
		}
		homes = append(homes, ip)
	}
	for _, ip := range homes {
		if v := eval(e, ip, googlebotUAs[0]); v.Verified || v.Score == 1 {
			t.Fatalf("%v judged before DNS answered: %+v", ip, v)
		}
	}
	settle(t, e)
	spoofed := 0
	for i, ip := range homes {
		v := eval(e, ip, googlebotUAs[i%len(googlebotUAs)])
		if v.Verified {
			t.Fatalf("%v verified", ip)
		}
		if v.Score == detect.ScoreAutomated && v.HasTag("spoofed-googlebot") {
			spoofed++
		} else {
			t.Errorf("%v: %+v", ip, v)
		}
	}
	t.Logf("Googlebot from residential addresses: 0/%d verified, %d/%d scored 1 (spoofed-googlebot) after reverse DNS", len(homes), spoofed, len(homes))
}

// The update-ranges path end to end: every official source of Sources() is
// served by a local HTTP server in its own shape, Update writes the file,
// and an engine loading that file verifies from the new ranges.
func TestUpdateRangesThenLoad(t *testing.T) {
	srcs := Sources()
	base, err := EmbeddedRanges()
	if err != nil {
		t.Fatal(err)
	}
	// Each set gets the embedded prefixes plus one new prefix, so the
	// refreshed data is distinguishable from the embedded one.
	fresh := netip.MustParsePrefix("81.2.69.0/28")
	bodies := map[string]string{}
	for _, s := range srcs {
		if base.Len(s.Set) == 0 {
			t.Errorf("source for %s: no such embedded set", s.Set)
			continue
		}
		ps := append([]netip.Prefix{fresh}, base.Prefixes(s.Set)...)
		bodies[s.URL] = render(t, s.Format, ps)
	}
	srv := newOperatorServer(t, bodies)
	for i := range srcs {
		srcs[i].URL = srv.rewrite(srcs[i].URL)
	}
	out := t.TempDir() + "/ranges.json.gz"
	rep, err := ranges.Update(context.Background(), srv.Client(), srcs, out, ranges.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("update-ranges wrote %d sets", len(rep.Sets))
	cfg := DefaultConfig()
	cfg.RangesFile = out
	e := testEngine(t, cfg, WithResolver(newFakeResolver()))
	for _, ua := range []string{uaGooglebot, uaBingbot, uaGPTBot, "facebookexternalhit/1.1"} {
		if v := eval(e, netip.MustParseAddr("81.2.69.5"), ua); !v.Verified {
			t.Errorf("%q not verified from the refreshed ranges: %+v", ua, v)
		}
	}
}

// render writes prefixes in one of the published shapes.
func render(t *testing.T, f ranges.Format, ps []netip.Prefix) string {
	t.Helper()
	switch f {
	case ranges.FormatPrefixesJSON:
		type entry struct {
			V4 string `json:"ipv4Prefix,omitempty"`
			V6 string `json:"ipv6Prefix,omitempty"`
		}
		doc := struct {
			CreationTime string  `json:"creationTime"`
			Prefixes     []entry `json:"prefixes"`
		}{CreationTime: "2026-08-23T00:00:00"}
		for _, p := range ps {
			if p.Addr().Is4() {
				doc.Prefixes = append(doc.Prefixes, entry{V4: p.String()})
			} else {
				doc.Prefixes = append(doc.Prefixes, entry{V6: p.String()})
			}
		}
		b, _ := json.Marshal(doc)
		return string(b)
	case ranges.FormatRIPEstat:
		type entry struct {
			Prefix string `json:"prefix"`
		}
		var doc struct {
			Status string `json:"status"`
			Data   struct {
				Prefixes []entry `json:"prefixes"`
			} `json:"data"`
		}
		doc.Status = "ok"
		for _, p := range ps {
			doc.Data.Prefixes = append(doc.Data.Prefixes, entry{p.String()})
		}
		b, _ := json.Marshal(doc)
		return string(b)
	case ranges.FormatText:
		s := "# published list\n"
		for _, p := range ps {
			s += p.String() + "\n"
		}
		return s
	}
	t.Fatalf("no renderer for %s", f)
	return ""
}

// operatorServer serves each official URL's body from a loopback HTTP
// server; rewrite maps an official URL to its local address.
type operatorServer struct {
	*httptest.Server
	paths map[string]string // official URL -> local path
}

func newOperatorServer(t *testing.T, bodies map[string]string) *operatorServer {
	t.Helper()
	s := &operatorServer{paths: map[string]string{}}
	byPath := map[string]string{}
	i := 0
	for u, body := range bodies {
		p := fmt.Sprintf("/src/%d", i)
		i++
		s.paths[u] = p
		byPath[p] = body
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := byPath[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *operatorServer) rewrite(u string) string { return s.URL + s.paths[u] }
