package ml_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics"
	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/detect/network"
)

// realChrome is Debian's chromium 156 navigating to a product page: its
// exact headers, order and JA4 as measured in this build environment.
func realChrome(ua string) *detect.Request {
	return &detect.Request{
		Method: "GET", Scheme: "https", Host: "shop.example", Path: "/products/4711", Protocol: "HTTP/2",
		Headers: detect.Headers{
			"sec-ch-ua":                 `"Chromium";v="156", "Not)A;Brand";v="24"`,
			"sec-ch-ua-mobile":          "?0",
			"sec-ch-ua-platform":        `"Linux"`,
			"upgrade-insecure-requests": "1",
			"user-agent":                ua,
			"accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
			"sec-fetch-site":            "none",
			"sec-fetch-mode":            "navigate",
			"sec-fetch-user":            "?1",
			"sec-fetch-dest":            "document",
			"accept-encoding":           "gzip, deflate, br, zstd",
			"accept-language":           "en-US,en;q=0.9",
			"priority":                  "u=0, i",
			detect.HeaderJA4:            "t13d1517h2_8daaf6152771_cb7bf5808d99",
		},
		HeaderOrder: []string{"sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "upgrade-insecure-requests", "user-agent", "accept", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-user", "sec-fetch-dest", "accept-encoding", "accept-language", "priority"},
	}
}

// TestGreyZone runs the doubtful cases through the real network,
// heuristics and ML engines: a real browser's exact headers from a cloud
// address are likely automated (2–29, challenged by the default policy,
// not blocked), the same from a home address or Private Relay likely
// human; an outdated Chrome scores lower than a current one.
func TestGreyZone(t *testing.T) {
	log := zerolog.Nop()
	netw, err := network.New(network.DefaultConfig(), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer netw.Close()
	heur, err := heuristics.New(heuristics.DefaultConfig(), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	model, err := ml.New(ml.DefaultConfig(), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &detect.Pipeline{Engines: []detect.Engine{netw, heur, model}, Budget: -1}
	const current = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
	const chrome96 = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.110 Safari/537.36"
	score := func(ip, ua string) int {
		r := realChrome(ua)
		if !strings.Contains(ua, "Chrome/156") {
			delete(r.Headers, detect.HeaderJA4)
			r.Headers["sec-ch-ua"] = `" Not A;Brand";v="99", "Chromium";v="96"`
		}
		r.ClientIP = netip.MustParseAddr(ip)
		return p.Check(context.Background(), r).Score
	}
	aws, home, relay := "3.5.140.2", "86.1.2.3", "172.225.46.70"
	if s := score(aws, current); s < 2 || s >= 30 {
		t.Errorf("real Chrome from AWS scored %d, want 2–29", s)
	}
	if s := score(home, current); s < 30 {
		t.Errorf("real Chrome from a home address scored %d, want ≥ 30", s)
	}
	if s := score(relay, current); s < 30 {
		t.Errorf("real Chrome behind Private Relay scored %d, want ≥ 30", s)
	}
	if old, cur := score(home, chrome96), score(home, current); old >= cur {
		t.Errorf("Chrome 96 scored %d, a current Chrome %d: an outdated version should score lower", old, cur)
	}
	t.Logf("current Chrome: AWS %d, home %d, relay %d; Chrome 96: AWS %d, home %d", score(aws, current), score(home, current), score(relay, current), score(aws, chrome96), score(home, chrome96))
}
