package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics"
	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/detect/network"
	"github.com/botwarden/botwarden/detect/ranges"
	"github.com/botwarden/botwarden/detect/verified"
	"github.com/botwarden/botwarden/detect/verified/dnstest"
)

var googlebotUAs = []string{
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.7258.127 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/139.0.7258.127 Safari/537.36",
	"Googlebot-Image/1.0",
}

// evalVerified measures verified-bot targets with the engines the server
// runs (network → heuristics → verified → ML) and reverse DNS answered by a
// real DNS server on loopback: the Googlebot UA from addresses in Google's
// published googlebot.json (read from the data directory, not the embedded
// snapshot) must be verified every time; from residential stand-ins (random
// public addresses outside Google's and every datacenter range, half with an
// ISP's PTR record, half with none) it must never be, and must score 1.
func evalVerified(w io.Writer, data string) error {
	raw, err := os.ReadFile(filepath.Join(data, "ipranges/google/googlebot.json"))
	if err != nil {
		return err
	}
	google, err := ranges.ParseFormat(ranges.FormatPrefixesJSON, raw)
	if err != nil {
		return fmt.Errorf("googlebot.json: %w", err)
	}
	dns, err := dnstest.NewServer()
	if err != nil {
		return err
	}
	defer dns.Close()

	log := zerolog.Nop()
	vcfg := verified.DefaultConfig()
	vcfg.DNS.Server = dns.Addr
	vcfg.DNS.Timeout = time.Second
	vcfg.DNS.QueueSize = 4096
	ver, err := verified.New(vcfg, log, nil)
	if err != nil {
		return err
	}
	ver.Start()
	defer ver.Close()
	netw, err := network.New(network.DefaultConfig(), log, nil)
	if err != nil {
		return err
	}
	defer netw.Close()
	heur, err := heuristics.New(heuristics.DefaultConfig(), log, nil)
	if err != nil {
		return err
	}
	model, err := ml.New(ml.DefaultConfig(), log, nil)
	if err != nil {
		return err
	}
	p := &detect.Pipeline{Engines: []detect.Engine{netw, heur, ver, model}, Budget: -1}
	check := func(ip netip.Addr, ua string) *detect.Verdict {
		return p.Check(context.Background(), &detect.Request{
			ClientIP: ip, Method: "GET", Scheme: "https", Host: "shop.example", Path: "/", Protocol: "HTTP/1.1",
			Headers: detect.Headers{"user-agent": ua, "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "accept-encoding": "gzip, deflate, br", "from": "googlebot(at)googlebot.com"},
		})
	}

	r := rand.New(rand.NewPCG(7, 8))
	n, ok := 0, 0
	for _, pfx := range google {
		for _, ua := range googlebotUAs {
			n++
			if v := check(ranges.RandomAddr(r, pfx), ua); v.Verified && v.VerifiedBot == "googlebot" {
				ok++
			}
		}
	}

	var homes []netip.Addr
	for len(homes) < 1000 {
		ip := netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
		info, _, _ := netw.Lookup(ip)
		inGoogle := slices.ContainsFunc(google, func(p netip.Prefix) bool { return p.Contains(ip) })
		if !ip.IsGlobalUnicast() || ip.IsPrivate() || !ranges.Plausible(netip.PrefixFrom(ip, 32)) || inGoogle || info.Datacenter || info.PrivateRelay {
			continue
		}
		if len(homes)%2 == 0 {
			dns.AddFCrDNS(ip, "cpe-"+ip.StringExpanded()+".res.example-isp.net")
		}
		homes = append(homes, ip)
	}
	// First sight: the DNS answer is not in yet (never on the hot path), so
	// the claim is unverified, not yet spoofed.
	early := 0
	for _, ip := range homes {
		if v := check(ip, googlebotUAs[0]); v.Verified {
			early++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ver.Settle(ctx); err != nil {
		return fmt.Errorf("waiting for reverse DNS: %w", err)
	}
	verifiedHome, scored1 := early, 0
	for i, ip := range homes {
		v := check(ip, googlebotUAs[i%len(googlebotUAs)])
		if v.Verified {
			verifiedHome++
		}
		if v.Score == detect.ScoreAutomated && v.HasTag("spoofed-googlebot") {
			scored1++
		}
	}

	fmt.Fprintln(w, "Verified bots (engines network → heuristics → verified → ml; reverse DNS from a DNS server on loopback)")
	fmt.Fprintf(w, "  Googlebot UA from Google's googlebot.json ranges (%d prefixes × %d UAs): %d/%d verified = %s (target 100%%): %s\n",
		len(google), len(googlebotUAs), ok, n, pct(ok, n), met(ok == n))
	fmt.Fprintf(w, "  Googlebot UA from %d residential stand-ins: %d verified (target 0): %s; %d/%d scored 1 as spoofed-googlebot after reverse DNS = %s: %s\n\n",
		len(homes), verifiedHome, met(verifiedHome == 0), scored1, len(homes), pct(scored1, len(homes)), met(scored1 == len(homes)))
	return nil
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
