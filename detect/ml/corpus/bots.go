package corpus

import (
	"math/rand/v2"
	"strings"

	"github.com/botwarden/botwarden/detect/ml"
)

// Tool is the client software behind a bot request; it decides headers,
// protocol and TLS fingerprint.
type Tool string

const (
	ToolCurl     Tool = "curl"
	ToolWget     Tool = "wget"
	ToolRequests Tool = "python-requests"
	ToolUrllib   Tool = "python-urllib"
	ToolAiohttp  Tool = "python-aiohttp"
	ToolGo       Tool = "go"
	ToolScrapy   Tool = "scrapy"
	ToolNode     Tool = "node"
	ToolJava     Tool = "java"
	ToolPerl     Tool = "perl"
	ToolPHP      Tool = "php"
	ToolRuby     Tool = "ruby"
	ToolHeadless Tool = "headless-chrome"
	ToolCrawler  Tool = "crawler"
	ToolMonitor  Tool = "monitor"
	ToolFeed     Tool = "feed"
	ToolScanner  Tool = "scanner"
	// ToolMimic is a script that copies a browser's User-Agent, Accept and
	// Accept-Language but none of the browser's other headers.
	ToolMimic Tool = "browser-mimic"
	// ToolStealth sends a current browser's exact headers and TLS: a
	// stealth-patched browser or an impersonating HTTP client.
	ToolStealth Tool = "browser-headers"
)

// SpoofTools are the tools used with browser UAs for the spoofer corpus.
var SpoofTools = []Tool{ToolCurl, ToolRequests, ToolGo, ToolNode, ToolJava, ToolScrapy, ToolAiohttp, ToolMimic, ToolHeadless, ToolStealth}

// measuredJA4 are the TLS fingerprints of the tools as measured in
// detect/heuristics (DefaultJA4).
var measuredJA4 = map[Tool]string{
	ToolCurl:     "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
	ToolWget:     "t13d291300_723694b0fccc_899037bd0b8c",
	ToolRequests: "t13d1812h1_85036bcba153_b26ce05bbdd6",
	ToolUrllib:   "t13d181100_85036bcba153_d41ae481755e",
	ToolGo:       "t13d1312h2_f57a46bbacb6_ab7e3b40a677",
	ToolNode:     "t13d591000_a33745022dd6_1f22a2ca17c4",
	ToolJava:     "t13d3713h2_db35923f8641_7c76daad20ec",
	ToolHeadless: "t13d1517h2_8daaf6152771_cb7bf5808d99",
}

// ToolFor guesses the tool behind a bot UA from its words, falling back to
// the fixture category (monitoring, feed, security) and then to a crawler.
func ToolFor(ua, category string) Tool {
	l := strings.ToLower(ua)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(l, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("headlesschrome", "puppeteer", "playwright", "phantomjs", "selenium", "webdriver"):
		return ToolHeadless
	case strings.HasPrefix(l, "curl"):
		return ToolCurl
	case strings.HasPrefix(l, "wget"):
		return ToolWget
	case has("python-requests"):
		return ToolRequests
	case has("python-urllib", "python/"):
		return ToolUrllib
	case has("aiohttp", "httpx"):
		return ToolAiohttp
	case has("go-http-client", "go http"):
		return ToolGo
	case has("scrapy"):
		return ToolScrapy
	case has("node-fetch", "axios", "undici", "node.js", "got (", "needle"):
		return ToolNode
	case has("java/", "apache-httpclient", "okhttp", "jakarta"):
		return ToolJava
	case has("libwww-perl", "lwp::", "perl"):
		return ToolPerl
	case has("guzzle", "php"):
		return ToolPHP
	case has("ruby", "faraday"):
		return ToolRuby
	}
	switch category {
	case "monitoring":
		return ToolMonitor
	case "feed":
		return ToolFeed
	case "security", "security-scanner":
		return ToolScanner
	case "http-library":
		return pick(rand.New(rand.NewPCG(uint64(len(ua)), 7)), ToolRequests, ToolGo, ToolNode, ToolCurl)
	case "headless":
		return ToolHeadless
	}
	switch {
	case has("feed", "rss", "podcast"):
		return ToolFeed
	case has("monitor", "uptime", "pingdom", "statuscake", "check"):
		return ToolMonitor
	case has("scan", "nikto", "sqlmap", "nmap", "nuclei", "zgrab"):
		return ToolScanner
	}
	return ToolCrawler
}

var botPaths = map[Tool][]string{
	ToolCrawler: {"/", "/robots.txt", "/sitemap.xml", "/products/4711", "/blog/2026/05/launch", "/category/garden?page=7"},
	ToolMonitor: {"/", "/health", "/status"},
	ToolFeed:    {"/feed.xml", "/blog/rss", "/atom.xml"},
	ToolScanner: {"/.env", "/wp-login.php", "/admin/config.php", "/.git/config", "/cgi-bin/test.cgi", "/phpmyadmin/", "/?id=1%27%20OR%201=1"},
}

var libPaths = []string{"/", "/api/v1/products?page=3", "/api/v1/prices", "/products/4711", "/login", "/search?q=gpu"}

// botRequest generates the request a tool sends with ua.
func botRequest(r *rand.Rand, ua string, tool Tool) ml.Example {
	scheme := "https"
	if chance(r, 0.1) {
		scheme = "http"
	}
	secure := scheme == "https"
	proto := "HTTP/1.1"
	method := "GET"
	path := pick(r, libPaths...)
	if p, ok := botPaths[tool]; ok {
		path = pick(r, p...)
	}
	h := newHeaders()
	switch tool {
	case ToolCurl:
		if secure && chance(r, 0.5) {
			proto = "HTTP/2"
		}
		h.add("user-agent", ua)
		h.add("accept", "*/*")
	case ToolWget:
		h.add("user-agent", ua)
		h.add("accept", "*/*")
		h.add("accept-encoding", "identity")
		h.add("connection", "Keep-Alive")
	case ToolRequests:
		h.add("user-agent", ua)
		h.add("accept-encoding", pick(r, "gzip, deflate", "gzip, deflate, br", "gzip, deflate, br, zstd"))
		h.add("accept", "*/*")
		h.add("connection", "keep-alive")
	case ToolUrllib:
		h.add("accept-encoding", "identity")
		h.add("user-agent", ua)
		h.add("connection", "close")
	case ToolAiohttp:
		h.add("user-agent", ua)
		h.add("accept", "*/*")
		h.add("accept-encoding", "gzip, deflate")
	case ToolGo:
		if secure && chance(r, 0.5) {
			proto = "HTTP/2"
		}
		h.add("user-agent", ua)
		h.add("accept-encoding", "gzip")
	case ToolScrapy:
		h.add("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		h.add("accept-language", "en")
		h.add("user-agent", ua)
		h.add("accept-encoding", pick(r, "gzip, deflate", "gzip, deflate, br", "gzip, deflate, br, zstd"))
		if chance(r, 0.3) {
			h.add("referer", "https://shop.example/")
		}
	case ToolNode:
		if chance(r, 0.5) { // axios
			h.add("accept", "application/json, text/plain, */*")
			h.add("user-agent", ua)
			h.add("accept-encoding", "gzip, compress, deflate, br")
			h.add("connection", "keep-alive")
		} else { // fetch (undici)
			h.add("accept", "*/*")
			h.add("accept-language", "*")
			h.add("sec-fetch-mode", "cors")
			h.add("user-agent", ua)
			h.add("accept-encoding", "gzip, deflate")
			h.add("connection", "keep-alive")
		}
	case ToolJava:
		if secure && chance(r, 0.3) {
			proto = "HTTP/2"
		}
		h.add("user-agent", ua)
		h.add("accept", pick(r, "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2", "*/*"))
		h.add("connection", "keep-alive")
	case ToolPerl:
		h.add("te", "deflate,gzip;q=0.3")
		h.add("connection", "TE, close")
		h.add("user-agent", ua)
	case ToolPHP, ToolRuby:
		h.add("user-agent", ua)
		h.add("accept", "*/*")
		if tool == ToolRuby {
			h.add("accept-encoding", "gzip;q=1.0,deflate;q=0.6,identity;q=0.3")
		}
	case ToolHeadless:
		return headlessRequest(r, ua, secure)
	case ToolStealth:
		return stealthRequest(r, ua)
	case ToolMimic:
		h.add("user-agent", ua)
		h.add("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		h.add("accept-language", "en-US,en;q=0.9")
		h.add("accept-encoding", "gzip, deflate")
		h.add("connection", "keep-alive")
	case ToolMonitor:
		method = pick(r, "GET", "HEAD")
		h.add("user-agent", ua)
		h.add("accept", "*/*")
		if chance(r, 0.3) {
			h.add("cache-control", "no-cache")
		}
		h.add("connection", "close")
	case ToolFeed:
		h.add("user-agent", ua)
		h.add("accept", "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.7")
		h.add("accept-encoding", "gzip")
		if chance(r, 0.5) {
			h.add("if-modified-since", "Sat, 21 Nov 2026 08:00:00 GMT")
		}
	case ToolScanner:
		h.add("user-agent", ua)
		h.add("accept", "*/*")
		h.add("connection", "close")
	default: // crawler
		h.add("user-agent", ua)
		h.add("accept", pick(r,
			"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
			"text/html,application/xhtml+xml,application/signed-exchange;v=b3,application/xml;q=0.9,*/*;q=0.8",
			"*/*", "text/html"))
		h.add("accept-encoding", pick(r, "gzip, deflate, br", "gzip", "gzip, deflate"))
		if chance(r, 0.25) {
			h.add("accept-language", pick(r, "en-US,en;q=0.5", "en", "*"))
		}
		if chance(r, 0.2) {
			h.add("from", "crawler@example.org")
		}
		h.add("connection", pick(r, "keep-alive", "close"))
		if secure && chance(r, 0.3) {
			proto = "HTTP/2"
		}
	}
	e := h.example(r, method, scheme, path, proto)
	e.Label = ml.LabelBot
	e.Profile = string(tool)
	crawlContext(r, &e, 0.65)
	if ja4, ok := measuredJA4[tool]; ok && secure && chance(r, 0.7) {
		e.Headers["x-botwarden-ja4"] = ja4
	}
	return e
}

// headlessRequest is Chrome automated by Puppeteer or Playwright: Chrome's
// own headers and TLS, the HeadlessChrome token in the UA (unless replaced)
// and in Sec-CH-UA, and in the old headless mode no Accept-Language.
func headlessRequest(r *rand.Rand, ua string, secure bool) ml.Example {
	e := browserRequest(r, strings.Replace(ua, "HeadlessChrome/", "Chrome/", 1), KindNavigate)
	if strings.Contains(ua, "HeadlessChrome/") {
		e.Headers["user-agent"] = ua
		if ch, ok := e.Headers["sec-ch-ua"]; ok {
			e.Headers["sec-ch-ua"] = strings.Replace(ch, "Google Chrome", "HeadlessChrome", 1)
		}
	}
	if chance(r, 0.5) {
		delete(e.Headers, "accept-language")
		if e.HeaderOrder != nil {
			var order []string
			for _, n := range e.HeaderOrder {
				if n != "accept-language" {
					order = append(order, n)
				}
			}
			e.HeaderOrder = order
		}
	}
	e.Label = ml.LabelBot
	e.Profile = string(ToolHeadless)
	e.PrivateRelay = false
	crawlContext(r, &e, 0.7)
	if secure && chance(r, 0.7) {
		e.Headers["x-botwarden-ja4"] = measuredJA4[ToolHeadless]
	}
	return e
}
