package ml

import (
	"fmt"
	"testing"

	"github.com/botwarden/botwarden/detect"
)

func TestFeatureVector(t *testing.T) {
	ex, err := newExtractor()
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, NumFeatures)
	r := &detect.Request{Method: "GET", Scheme: "https", Protocol: "HTTP/2", Path: "/api/v1/cart?x=1", Headers: detect.Headers{
		"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36",
		"accept":     "application/json, text/plain, */*", "accept-language": "en-US,en;q=0.9", "sec-ch-ua": `"Chromium";v="147"`,
		detect.HeaderJA4: "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
	}}
	if n := ex.features(r, &detect.Verdict{IP: detect.IPInfo{Datacenter: true}}, Context{}, x); n != NumFeatures {
		t.Fatalf("features wrote %d values, NumFeatures is %d", n, NumFeatures)
	}
	on := map[string]bool{}
	for i, v := range x {
		if v == 1 {
			on[featureNames[i]] = true
		}
	}
	for _, f := range []string{"fam_chrome", "ver_recent", "h_accept", "h_sec_ch_ua", "accept_json", "al_qvalues", "ch_brand_matches", "proto_2", "https", "tls_library", "path_api", "path_query", "m_get", "ip_datacenter"} {
		if !on[f] {
			t.Errorf("feature %s is off; on: %v", f, on)
		}
	}
	for _, f := range []string{"fam_firefox", "ua_empty", "tls_browser", "h_cookie", "path_static"} {
		if on[f] {
			t.Errorf("feature %s is on", f)
		}
	}
	// No verdict (no earlier engine), no UA, nil headers: no panic.
	if n := ex.features(&detect.Request{}, nil, Context{}, x); n != NumFeatures || x[0] != 1 {
		t.Errorf("empty request: n=%d ua_empty=%v", n, x[0])
	}
}

func TestClassifyPath(t *testing.T) {
	for p, want := range map[string]pathClass{
		"/": pathHTML, "/products/1": pathHTML, "/static/app.js": pathStatic, "/img/a.WEBP": pathStatic,
		"/api/v1/x": pathAPI, "/graphql": pathAPI, "/login": pathLogin, "/account/orders": pathLogin,
		"/robots.txt": pathRobots, "/sitemap.xml": pathRobots, "/.env": pathSuspicious, "/wp-login.php": pathSuspicious,
	} {
		if got := classifyPath(p); got != want {
			t.Errorf("classifyPath(%q) = %d, want %d", p, got, want)
		}
	}
}

// TestUAFactsCache holds a cached answer equal to a fresh derivation, and
// the cache bounded, across more distinct UAs than it holds.
func TestUAFactsCache(t *testing.T) {
	ex, err := newExtractor()
	if err != nil {
		t.Fatal(err)
	}
	uas := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (X11; Linux x86_64; rv:150.0) Gecko/20100101 Firefox/150.0",
		"crawler (admin(at)example.org)",
		"curl/8.5.0",
	}
	for i := range uaCacheSize + 10 {
		uas = append(uas, fmt.Sprintf("Agent/%d (+https://example.org)", i))
	}
	for range 2 { // first pass misses, second hits (or re-derives the evicted)
		for _, ua := range uas {
			if got, want := ex.uaFacts(ua), deriveUAFacts(ua); got != want {
				t.Fatalf("uaFacts(%q) = %+v, want %+v", ua, got, want)
			}
		}
	}
	if n := ex.uas.Len(); n != uaCacheSize {
		t.Errorf("cache holds %d UAs, want its bound %d", n, uaCacheSize)
	}
	if f := deriveUAFacts(uas[1]); !f.bots || !f.hasURL || f.hasEmail {
		t.Errorf("googlebot facts %+v", f)
	}
	if f := deriveUAFacts(uas[3]); !f.hasEmail {
		t.Errorf("(at) contact not seen: %+v", f)
	}
}
