package loadtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
)

// client is one kind of visitor: its headers as Envoy forwards them.
type client struct {
	name    string
	weight  int // share of the mix
	headers map[string]string
	// keepsCookies: browsers (headless ones too) and Scrapy, whose cookie
	// middleware is on by default, send back the cookies they are given;
	// HTTP libraries used bare and search or AI crawlers do not.
	keepsCookies bool
}

// clients is the default mix: mostly browsers (each with the headers it
// really sends on a navigation), then HTTP libraries, crawlers and headless
// automation, roughly the share a public site sees.
var clients = []client{
	{name: "chrome-windows", weight: 30, keepsCookies: true, headers: map[string]string{
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
	{name: "firefox-linux", weight: 12, keepsCookies: true, headers: map[string]string{
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
	{name: "safari-ios", weight: 15, keepsCookies: true, headers: map[string]string{
		"user-agent":      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"accept-encoding": "gzip, deflate, br",
		"accept-language": "en-GB,en;q=0.9",
		"sec-fetch-dest":  "document",
		"sec-fetch-mode":  "navigate",
		"sec-fetch-site":  "none",
	}},
	{name: "edge-xhr", weight: 13, keepsCookies: true, headers: map[string]string{
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
	{name: "curl", weight: 6, headers: map[string]string{"user-agent": "curl/8.5.0", "accept": "*/*"}},
	{name: "python-requests", weight: 6, headers: map[string]string{
		"user-agent": "python-requests/2.31.0", "accept": "*/*", "accept-encoding": "gzip, deflate", "connection": "keep-alive",
	}},
	{name: "go-http-client", weight: 3, headers: map[string]string{"user-agent": "Go-http-client/1.1", "accept-encoding": "gzip"}},
	{name: "scrapy", weight: 4, keepsCookies: true, headers: map[string]string{
		"user-agent":      "Scrapy/2.11.2 (+https://scrapy.org)",
		"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"accept-language": "en",
		"accept-encoding": "gzip, deflate, br",
	}},
	{name: "headless-chrome", weight: 4, keepsCookies: true, headers: map[string]string{
		"user-agent":      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
		"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
		"accept-encoding": "gzip, deflate, br",
		"sec-fetch-mode":  "navigate",
	}},
	{name: "googlebot", weight: 4, headers: map[string]string{
		"user-agent":      "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"accept-encoding": "gzip, deflate, br",
		"from":            "googlebot(at)googlebot.com",
	}},
	{name: "gptbot", weight: 3, headers: map[string]string{
		"user-agent": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
		"accept":     "*/*",
	}},
}

// Visit is one request of a mix and whether its client keeps cookies.
type Visit struct {
	Request      *authv3.CheckRequest
	KeepsCookies bool
}

// Traffic returns the requests of Mix, every one a first visit.
func Traffic() []*authv3.CheckRequest {
	var out []*authv3.CheckRequest
	for _, v := range Mix() {
		out = append(out, v.Request)
	}
	return out
}

var paths = []string{"/", "/products/42?ref=home", "/search?q=red+shoes&page=2", "/api/cart", "/static/app.3f9a.js", "/login"}

// Mix returns the default request mix as Envoy's ext_authz filter sends
// it at the edge (use_remote_address): pseudo-headers in the header map,
// x-forwarded-for holding the peer Envoy appended, x-request-id, the L4 peer
// in source.address. Each request comes from its own address. Clients appear in
// proportion to their weight; the slice is deterministic.
// Every request is a first visit: no session cookie yet (see Returning).
func Mix() []Visit {
	var out []Visit
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
			out = append(out, Visit{KeepsCookies: c.keepsCookies, Request: &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
					SocketAddress: &corev3.SocketAddress{Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}},
				}}},
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
					Id: strconv.Itoa(1000 + n), Method: "GET", Path: path, Host: "shop.example", Scheme: "https",
					Protocol: "HTTP/2", Headers: h,
				}},
			}}})
		}
	}
	// Interleave so consecutive requests are different clients.
	mixed := make([]Visit, 0, len(out))
	for stride := range 7 {
		for i := stride; i < len(out); i += 7 {
			mixed = append(mixed, out[i])
		}
	}
	return mixed
}

// Returning is the mix a site sees once visitors have been around: every
// client that keeps cookies sends back the ones srv set on its first
// request (the session cookie), except on one request in firstVisitEvery,
// which stays a first visit (a new visitor or a cleared jar). Clients that
// keep no cookies are unchanged. It asks srv once per such request.
func Returning(ctx context.Context, srv authv3.AuthorizationServer, visits []Visit, firstVisitEvery int) ([]*authv3.CheckRequest, error) {
	out := make([]*authv3.CheckRequest, 0, len(visits))
	n := 0
	for _, v := range visits {
		if !v.KeepsCookies {
			out = append(out, v.Request)
			continue
		}
		n++
		if firstVisitEvery <= 0 || n%firstVisitEvery == 0 {
			out = append(out, v.Request)
			continue
		}
		resp, err := srv.Check(ctx, v.Request)
		if err != nil {
			return nil, fmt.Errorf("loadtest: first visit: %w", err)
		}
		out = append(out, withCookies(v.Request, setCookies(resp)))
	}
	return out, nil
}

// setCookies returns the name=value part of every Set-Cookie in resp.
func setCookies(resp *authv3.CheckResponse) []string {
	opts := resp.GetOkResponse().GetResponseHeadersToAdd()
	if d := resp.GetDeniedResponse(); d != nil {
		opts = d.GetHeaders()
	}
	var out []string
	for _, o := range opts {
		if strings.EqualFold(o.GetHeader().GetKey(), "set-cookie") {
			nv, _, _ := strings.Cut(o.GetHeader().GetValue(), ";")
			out = append(out, strings.TrimSpace(nv))
		}
	}
	return out
}

// withCookies is a copy of req whose cookie header also carries cookies.
func withCookies(req *authv3.CheckRequest, cookies []string) *authv3.CheckRequest {
	if len(cookies) == 0 {
		return req
	}
	out := proto.Clone(req).(*authv3.CheckRequest)
	h := out.GetAttributes().GetRequest().GetHttp().GetHeaders()
	jar := strings.Join(cookies, "; ")
	if old := h["cookie"]; old != "" {
		jar = old + "; " + jar
	}
	h["cookie"] = jar
	return out
}
