package ml

import (
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
	if n := ex.features(r, &detect.Verdict{IP: detect.IPInfo{Datacenter: true}}, x); n != NumFeatures {
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
	if n := ex.features(&detect.Request{}, nil, x); n != NumFeatures || x[0] != 1 {
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
