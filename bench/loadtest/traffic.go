package loadtest

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// client is one kind of visitor: its headers as Envoy forwards them.
type client struct {
	name    string
	weight  int // share of the mix
	headers map[string]string
}

// clients is the default mix: mostly browsers (each with the headers it
// really sends on a navigation), then HTTP libraries, crawlers and headless
// automation, roughly the share a public site sees.
var clients = []client{
	{"chrome-windows", 30, map[string]string{
		"user-agent":                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
		"accept-encoding":           "gzip, deflate, br, zstd",
		"accept-language":           "en-US,en;q=0.9",
		"sec-ch-ua":                 `"Not/A)Brand";v="8", "Chromium";v="126", "Google Chrome";v="126"`,
		"sec-ch-ua-mobile":          "?0",
		"sec-ch-ua-platform":        `"Windows"`,
		"sec-fetch-dest":            "document",
		"sec-fetch-mode":            "navigate",
		"sec-fetch-site":            "none",
		"sec-fetch-user":            "?1",
		"upgrade-insecure-requests": "1",
		"cookie":                    "_ga=GA1.1.1234567890.1700000000; theme=dark",
		"x-botwarden-ja4":           "t13d1516h2_8daaf6152771_02713d6af862",
	}},
	{"firefox-linux", 12, map[string]string{
		"user-agent":                "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
		"accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
		"accept-encoding":           "gzip, deflate, br, zstd",
		"accept-language":           "en-US,en;q=0.5",
		"sec-fetch-dest":            "document",
		"sec-fetch-mode":            "navigate",
		"sec-fetch-site":            "cross-site",
		"upgrade-insecure-requests": "1",
		"x-botwarden-ja4":           "t13d1715h2_5b57614c22b0_3d5424432f57",
	}},
	{"safari-ios", 15, map[string]string{
		"user-agent":      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"accept-encoding": "gzip, deflate, br",
		"accept-language": "en-GB,en;q=0.9",
		"sec-fetch-dest":  "document",
		"sec-fetch-mode":  "navigate",
		"sec-fetch-site":  "none",
	}},
	{"edge-xhr", 13, map[string]string{
		"user-agent":         "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
		"accept":             "application/json, text/plain, */*",
		"accept-encoding":    "gzip, deflate, br, zstd",
		"accept-language":    "de-DE,de;q=0.9,en;q=0.8",
		"sec-ch-ua":          `"Not/A)Brand";v="8", "Chromium";v="126", "Microsoft Edge";v="126"`,
		"sec-ch-ua-mobile":   "?0",
		"sec-ch-ua-platform": `"Windows"`,
		"sec-fetch-dest":     "empty",
		"sec-fetch-mode":     "cors",
		"sec-fetch-site":     "same-origin",
		"referer":            "https://shop.example/cart",
	}},
	{"curl", 6, map[string]string{"user-agent": "curl/8.5.0", "accept": "*/*"}},
	{"python-requests", 6, map[string]string{
		"user-agent": "python-requests/2.31.0", "accept": "*/*", "accept-encoding": "gzip, deflate", "connection": "keep-alive",
	}},
	{"go-http-client", 3, map[string]string{"user-agent": "Go-http-client/1.1", "accept-encoding": "gzip"}},
	{"scrapy", 4, map[string]string{
		"user-agent":      "Scrapy/2.11.2 (+https://scrapy.org)",
		"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"accept-language": "en",
		"accept-encoding": "gzip, deflate, br",
	}},
	{"headless-chrome", 4, map[string]string{
		"user-agent":      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
		"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
		"accept-encoding": "gzip, deflate, br",
		"sec-fetch-mode":  "navigate",
	}},
	{"googlebot", 4, map[string]string{
		"user-agent":      "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"accept-encoding": "gzip, deflate, br",
		"from":            "googlebot(at)googlebot.com",
	}},
	{"gptbot", 3, map[string]string{
		"user-agent": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
		"accept":     "*/*",
	}},
}

var paths = []string{"/", "/products/42?ref=home", "/search?q=red+shoes&page=2", "/api/cart", "/static/app.3f9a.js", "/login"}

// Traffic returns the default request mix as Envoy's ext_authz filter sends
// it at the edge (use_remote_address): pseudo-headers in the header map,
// x-forwarded-for holding the peer Envoy appended, x-request-id, the L4 peer
// in source.address. Each request comes from its own address. Clients appear in
// proportion to their weight; the slice is deterministic.
func Traffic() []*authv3.CheckRequest {
	var out []*authv3.CheckRequest
	n := 0
	for _, c := range clients {
		for i := range c.weight {
			n++
			path := paths[(n+i)%len(paths)]
			ip := "203.0." + strconv.Itoa(113+n%3) + "." + strconv.Itoa(1+n%250)
			h := map[string]string{
				":authority": "shop.example", ":path": path, ":method": "GET", ":scheme": "https",
				"x-forwarded-for":   ip,
				"x-forwarded-proto": "https",
				"x-request-id":      "bench-" + strconv.Itoa(n),
			}
			for k, v := range c.headers {
				h[k] = v
			}
			out = append(out, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
					SocketAddress: &corev3.SocketAddress{Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}},
				}}},
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
					Id: strconv.Itoa(1000 + n), Method: "GET", Path: path, Host: "shop.example", Scheme: "https",
					Protocol: "HTTP/2", Headers: h,
				}},
			}})
		}
	}
	// Interleave so consecutive requests are different clients.
	mixed := make([]*authv3.CheckRequest, 0, len(out))
	for stride := range 7 {
		for i := stride; i < len(out); i += 7 {
			mixed = append(mixed, out[i])
		}
	}
	return mixed
}
