package dnstest

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestReverseName(t *testing.T) {
	for in, want := range map[string]string{
		"66.249.66.1":        "1.66.249.66.in-addr.arpa.",
		"::ffff:66.249.66.1": "1.66.249.66.in-addr.arpa.",
		"2001:db8::1":        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
	} {
		if got := ReverseName(netip.MustParseAddr(in)); got != want {
			t.Errorf("ReverseName(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestServerAnswersGoResolver(t *testing.T) {
	srv, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ip := netip.MustParseAddr("66.249.66.1")
	srv.AddFCrDNS(ip, "crawl-66-249-66-1.googlebot.com")
	srv.ServFail("broken.example.")
	r := srv.Resolver()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	names, err := r.LookupAddr(ctx, ip.String())
	if err != nil || len(names) != 1 || names[0] != "crawl-66-249-66-1.googlebot.com." {
		t.Fatalf("PTR: %v %v", names, err)
	}
	addrs, err := r.LookupNetIP(ctx, "ip", "crawl-66-249-66-1.googlebot.com")
	if err != nil || len(addrs) != 1 || addrs[0] != ip {
		t.Fatalf("A: %v %v", addrs, err)
	}
	if _, err := r.LookupNetIP(ctx, "ip", "nothing.example."); err == nil {
		t.Fatal("unknown name resolved")
	}
	if _, err := r.LookupNetIP(ctx, "ip", "broken.example."); err == nil {
		t.Fatal("SERVFAIL name resolved")
	}
	if srv.Queries() == 0 {
		t.Fatal("no queries counted")
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}
