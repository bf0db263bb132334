package verified

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/verified/dnstest"
)

// These tests run forward-confirmed reverse DNS over real DNS messages on
// loopback: Go's own resolver (PreferGo) talks UDP to dnstest.Server. The
// engine is configured the way a user would (dns.server = host:port), so
// the production resolver path is the one under test.

func dnsEngine(t *testing.T, srv *dnstest.Server, mut func(*Config)) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DNS.Server = srv.Addr
	cfg.DNS.Timeout = 500 * time.Millisecond
	if mut != nil {
		mut(&cfg)
	}
	e, err := New(cfg, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func newDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	srv, err := dnstest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// assertOutcome checks a verdict after reverse DNS answered: "verified"
// (by FCrDNS), "spoofed" (score 1) or "unverified" (no verdict).
func assertOutcome(t *testing.T, v *detect.Verdict, want, bot string) {
	t.Helper()
	var ok bool
	switch want {
	case "verified":
		ok = v.Verified && v.VerifiedBot == bot && slices.Contains(v.DetectionIDs, IDVerifiedFCrDNS)
	case "spoofed":
		ok = !v.Verified && v.Score == detect.ScoreAutomated && v.HasTag("spoofed-"+bot)
	case "unverified":
		ok = !v.Verified && v.Score == detect.ScoreNotComputed && v.HasTag("unverified-"+bot)
	}
	if !ok {
		t.Fatalf("want %s %s, got %+v", want, bot, v)
	}
}

func settle(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Settle(ctx); err != nil {
		t.Fatal(err)
	}
}

// The evaluation target "the Googlebot UA from a residential address is
// never verified and scored 1": the ISP's DNS answers with its own PTR name.
func TestWireDNSGooglebotFromResidentialAddress(t *testing.T) {
	srv := newDNS(t)
	home := netip.MustParseAddr("203.0.113.45")
	srv.AddFCrDNS(home, "cpe-203-0-113-45.dyn.example-isp.net")
	e := dnsEngine(t, srv, nil)

	v := eval(e, home, uaGooglebot)
	if v.Verified || v.Score != 0 || !v.HasTag("unverified-googlebot") {
		t.Fatalf("first request (DNS pending): %+v", v)
	}
	settle(t, e)
	v = eval(e, home, uaGooglebot)
	if v.Verified || v.Score != detect.ScoreAutomated || v.Category() != detect.CategoryAutomated ||
		!v.HasTag("spoofed-googlebot") || !slices.Contains(v.DetectionIDs, IDSpoofedFCrDNS) {
		t.Fatalf("after the negative answer: %+v", v)
	}
	q := srv.Queries()
	for range 20 {
		eval(e, home, uaGooglebot)
	}
	if srv.Queries() != q {
		t.Fatalf("cached answer not used: %d more queries", srv.Queries()-q)
	}
}

func TestWireDNSOutcomes(t *testing.T) {
	srv := newDNS(t)
	var (
		bing      = netip.MustParseAddr("198.51.100.31")
		bing6     = netip.MustParseAddr("2001:db8:40::31")
		fakePTR   = netip.MustParseAddr("198.51.100.32")
		noPTR     = netip.MustParseAddr("198.51.100.33")
		broken    = netip.MustParseAddr("198.51.100.34")
		silent    = netip.MustParseAddr("198.51.100.35")
		applebot  = netip.MustParseAddr("198.51.100.36")
		amazonbot = netip.MustParseAddr("198.51.100.37")
	)
	srv.AddFCrDNS(bing, "msnbot-198-51-100-31.search.msn.com")
	srv.AddFCrDNS(bing6, "msnbot-2001-db8-40--31.search.msn.com")
	srv.AddPTR(fakePTR, "crawl-198-51-100-32.googlebot.com") // spoofer controls its PTR, not googlebot.com
	srv.ServFail(dnstest.ReverseName(broken))
	srv.Silence(dnstest.ReverseName(silent))
	srv.AddFCrDNS(applebot, "17-58-101-1.applebot.apple.com")
	srv.AddFCrDNS(amazonbot, "198-51-100-37.crawl.amazonbot.amazon")
	e := dnsEngine(t, srv, nil)

	tests := []struct {
		name string
		ip   netip.Addr
		ua   string
		want string // verified, spoofed or unverified
		bot  string
	}{
		{"bing v4", bing, uaBingbot, "verified", "bingbot"},
		{"bing v6", bing6, uaBingbot, "verified", "bingbot"},
		{"applebot", applebot, "Mozilla/5.0 (Applebot/0.1; +http://www.apple.com/go/applebot)", "verified", "applebot"},
		{"amazonbot", amazonbot, "Mozilla/5.0 (Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot)", "verified", "amazonbot"},
		{"PTR without forward record", fakePTR, uaGooglebot, "spoofed", "googlebot"},
		{"no PTR at all", noPTR, uaBingbot, "spoofed", "bingbot"},
		{"SERVFAIL", broken, uaBingbot, "unverified", "bingbot"},
		{"no answer (timeout)", silent, uaBingbot, "unverified", "bingbot"},
	}
	for _, tt := range tests {
		eval(e, tt.ip, tt.ua) // queue
	}
	settle(t, e)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertOutcome(t, eval(e, tt.ip, tt.ua), tt.want, tt.bot)
		})
	}
}

func TestWireDNSCheckIsSynchronous(t *testing.T) {
	srv := newDNS(t)
	home := netip.MustParseAddr("203.0.113.46")
	srv.AddFCrDNS(home, "host-46.example-isp.net")
	e := dnsEngine(t, srv, nil)
	v := e.Check(context.Background(), home, uaGooglebot)
	if v.Verified || v.Score != 1 || !v.HasTag("spoofed-googlebot") {
		t.Fatalf("%+v", v)
	}
}
