package corpus

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/botwarden/botwarden/detect/heuristics/useragent"
	"github.com/botwarden/botwarden/detect/ml"
)

// Kind is the type of browser request generated.
type Kind uint8

const (
	KindNavigate    Kind = iota // a top-level document load
	KindSubresource             // an image, script or stylesheet
	KindXHR                     // fetch()/XMLHttpRequest to an API
)

// Kinds lists every kind.
var Kinds = []Kind{KindNavigate, KindSubresource, KindXHR}

func (k Kind) String() string {
	return [...]string{"navigate", "subresource", "xhr"}[k]
}

// headerList keeps headers in the order they are added (the wire order).
type headerList struct {
	names []string
	vals  map[string]string
}

func newHeaders() *headerList { return &headerList{vals: map[string]string{}} }

func (h *headerList) add(name, value string) {
	if _, dup := h.vals[name]; !dup {
		h.names = append(h.names, name)
	}
	h.vals[name] = value
}

func (h *headerList) example(r *rand.Rand, method, scheme, path, proto string) ml.Example {
	e := ml.Example{Method: method, Scheme: scheme, Path: path, Protocol: proto, Headers: h.vals, Host: "shop.example"}
	// Half the deployments send raw ordered headers (Envoy
	// encode_raw_headers); the others give an unordered map.
	if r.IntN(2) == 0 {
		e.HeaderOrder = h.names
	}
	return e
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

var acceptLanguages = []string{
	"en-US,en;q=0.9", "en-GB,en-US;q=0.9,en;q=0.8", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7",
	"es-ES,es;q=0.9", "ja,en-US;q=0.9,en;q=0.8", "zh-CN,zh;q=0.9", "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7",
	"en-US", "it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7", "nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7", "tr-TR,tr;q=0.9,en-US;q=0.8,en;q=0.7",
}

// Firefox formats the same preferences with q=0.5 steps.
var firefoxLanguages = []string{"en-US,en;q=0.5", "de,en-US;q=0.7,en;q=0.3", "fr,fr-FR;q=0.8,en-US;q=0.5,en;q=0.3", "en-GB,en;q=0.5", "es-ES,es;q=0.8,en-US;q=0.5,en;q=0.3", "ru-RU,ru;q=0.8,en-US;q=0.5,en;q=0.3"}

var humanPaths = map[Kind][]string{
	KindNavigate:    {"/", "/products/4711", "/blog/2026/05/launch", "/search?q=red+shoes", "/cart", "/login", "/account/orders", "/category/garden?page=2", "/about"},
	KindSubresource: {"/static/app.9f3c1.js", "/static/site.css", "/img/logo.svg", "/img/products/4711.webp", "/fonts/inter.woff2", "/favicon.ico"},
	KindXHR:         {"/api/v1/cart", "/api/v1/products?page=2", "/api/v1/recommendations", "/graphql", "/api/v1/session"},
}

// browserRequest generates one request of kind from the browser a UA
// claims. The header sets follow what each family sends, by version:
//   - Chromium: Sec-CH-UA (89+, secure origins), Sec-Fetch-Site/Mode/User
//     (76+) and -Dest (80+) on secure origins, Accept per request type
//     (image/avif 85+, signed-exchange 73+), Accept-Encoding br on HTTPS
//     and zstd from 123, Priority from 124; WebViews add X-Requested-With
//     and no client hints. Order: Chrome's (header-generator's list).
//   - Firefox: Accept-Language with q=0.5 steps, Sec-Fetch (90+),
//     Priority (128+), TE: trailers on HTTP/2; Firefox's order.
//   - Safari/iOS WebKit: no client hints, Sec-Fetch from 16.4 (17 here).
//   - IE, legacy Edge, Presto Opera: their era's Accept strings, HTTP/1.1.
//   - other Mozilla UAs (Android stock, smart TVs, niche browsers): a
//     generic browser set; non-Mozilla device UAs: the app stacks they name
//     (Dalvik = HttpURLConnection, CFNetwork) or a legacy mobile browser.
func browserRequest(r *rand.Rand, ua string, kind Kind) ml.Example {
	a := useragent.Parse(ua)
	scheme := "https"
	if chance(r, 0.05) {
		scheme = "http"
	}
	secure := scheme == "https"
	modern := a.Engine == useragent.EngineBlink && a.ChromiumMajor >= 41 || a.Engine == useragent.EngineGecko && a.Major >= 36 ||
		a.Engine == useragent.EngineWebKit && (a.Major >= 9 || iosMajor(ua) >= 9) || a.Family == useragent.FamilyEdgeLegacy
	proto := "HTTP/1.1"
	if secure && modern {
		proto = "HTTP/2"
		if a.Engine == useragent.EngineBlink && a.ChromiumMajor >= 87 && chance(r, 0.05) {
			proto = "HTTP/3"
		}
	}
	path := pick(r, humanPaths[kind]...)
	method := "GET"
	if kind == KindXHR && chance(r, 0.3) {
		method = "POST"
	}
	cookie := chance(r, map[Kind]float64{KindNavigate: 0.6, KindSubresource: 0.85, KindXHR: 0.9}[kind])
	referer := kind != KindNavigate || chance(r, 0.5)
	h := newHeaders()
	switch {
	case a.Engine == useragent.EngineBlink && a.Family != useragent.FamilyHeadless:
		chromeHeaders(r, h, ua, a, kind, secure, proto, method, cookie, referer)
	case a.Engine == useragent.EngineGecko:
		firefoxHeaders(r, h, ua, a, kind, secure, proto, method, cookie, referer)
	case a.Engine == useragent.EngineWebKit:
		safariHeaders(r, h, ua, a, kind, secure, method, cookie, referer)
	case a.Engine == useragent.EngineTrident || a.Engine == useragent.EngineEdgeHTML:
		ieHeaders(r, h, ua, a, kind, secure, method, cookie, referer)
	case a.Engine == useragent.EnginePresto:
		prestoHeaders(r, h, ua, kind, cookie, referer)
	case a.Mozilla:
		genericHeaders(r, h, ua, kind, cookie, referer)
	default:
		deviceHeaders(r, h, ua, kind, cookie, referer)
	}
	e := h.example(r, method, scheme, path, proto)
	e.Label = ml.LabelHuman
	e.Profile = "browser-" + a.Family.String() + "-" + kind.String()
	e.Datacenter = chance(r, 0.03) // VPNs, corporate egress in clouds
	e.PrivateRelay = a.OS == useragent.OSIOS && chance(r, 0.1)
	if secure && a.Engine == useragent.EngineBlink && chance(r, 0.7) {
		// The Chromium JA4 values of detect/heuristics' table (FoxIO and
		// measured); other browsers' fingerprints are not cited, so they
		// stay absent as on a deployment without JA4.
		e.Headers["x-botwarden-ja4"] = pick(r, "t13d1516h2_8daaf6152771_02713d6af862", "t13d1517h2_8daaf6152771_b1ff8ab2d16f", "t13d1517h2_8daaf6152771_cb7bf5808d99")
	}
	return e
}

func iosMajor(ua string) int {
	i := strings.Index(ua, " OS ")
	if i < 0 || !strings.Contains(ua, "like Mac OS X") {
		return 0
	}
	n, _ := strconv.Atoi(strings.SplitN(ua[i+4:], "_", 2)[0])
	return n
}

func chromeAccept(kind Kind, major int) string {
	switch kind {
	case KindSubresource:
		if major >= 85 {
			return "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
		}
		return "image/webp,image/apng,image/*,*/*;q=0.8"
	case KindXHR:
		return "application/json, text/plain, */*"
	}
	switch {
	case major >= 85:
		return "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
	case major >= 73:
		return "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3"
	case major >= 61:
		return "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,image/apng,*/*;q=0.8"
	}
	return "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8"
}

// acceptEncoding is a browser's Accept-Encoding: gzip and deflate always,
// br where it offers brotli (secure origins only, from a version on) and
// zstd where it offers that too (later still, so zstd implies br).
func acceptEncoding(br, zstd bool) string {
	switch {
	case zstd:
		return "gzip, deflate, br, zstd"
	case br:
		return "gzip, deflate, br"
	}
	return "gzip, deflate"
}

func chromeBrands(a useragent.Agent) string {
	v := a.ChromiumMajor
	grease := fmt.Sprintf(`"Not%sA%sBrand";v="%d"`, []string{"?", ")", "_", "/", ".", ";", "="}[v%7], []string{"_", ".", "/", ";"}[v%4], []int{8, 24, 99}[v%3])
	brand := fmt.Sprintf(`"Google Chrome";v="%d"`, v)
	switch a.Family {
	case useragent.FamilyEdge:
		brand = fmt.Sprintf(`"Microsoft Edge";v="%d"`, v)
	case useragent.FamilyOpera:
		brand = fmt.Sprintf(`"Opera";v="%d"`, a.Major)
	case useragent.FamilyYandex:
		brand = fmt.Sprintf(`"YaBrowser";v="%d"`, a.Major)
	case useragent.FamilySamsung:
		brand = fmt.Sprintf(`"Samsung Internet";v="%d"`, a.Major)
	case useragent.FamilyOther:
		return fmt.Sprintf(`"Chromium";v="%d", %s`, v, grease)
	}
	return fmt.Sprintf(`"Chromium";v="%d", %s, %s`, v, brand, grease)
}

func chromePlatform(a useragent.Agent) string {
	switch a.OS {
	case useragent.OSWindows:
		return `"Windows"`
	case useragent.OSMacOS:
		return `"macOS"`
	case useragent.OSAndroid:
		return `"Android"`
	case useragent.OSChromeOS:
		return `"Chrome OS"`
	case useragent.OSLinux:
		return `"Linux"`
	}
	return `"Unknown"`
}

func chromeHeaders(r *rand.Rand, h *headerList, ua string, a useragent.Agent, kind Kind, secure bool, proto, method string, cookie, referer bool) {
	v := a.ChromiumMajor
	fetchMeta := secure && v >= 76
	if proto == "HTTP/1.1" {
		h.add("connection", "keep-alive")
	}
	if method == "POST" {
		h.add("content-length", strconv.Itoa(20+r.IntN(400)))
	}
	if secure && v >= 89 && !a.WebView {
		h.add("sec-ch-ua", chromeBrands(a))
		h.add("sec-ch-ua-mobile", map[bool]string{true: "?1", false: "?0"}[a.Mobile])
		h.add("sec-ch-ua-platform", chromePlatform(a))
	}
	if kind == KindXHR {
		if method == "POST" {
			h.add("origin", "https://shop.example")
			h.add("content-type", "application/json")
		}
	}
	if kind == KindNavigate && v >= 44 {
		h.add("upgrade-insecure-requests", "1")
	}
	h.add("user-agent", ua)
	h.add("accept", chromeAccept(kind, v))
	if a.WebView {
		h.add("x-requested-with", pick(r, "com.example.shop", "com.facebook.katana", "com.instagram.android"))
	}
	if fetchMeta {
		site := map[Kind]string{KindNavigate: pick(r, "none", "same-origin", "cross-site"), KindSubresource: "same-origin", KindXHR: "same-origin"}[kind]
		mode := map[Kind]string{KindNavigate: "navigate", KindSubresource: "no-cors", KindXHR: "cors"}[kind]
		h.add("sec-fetch-site", site)
		h.add("sec-fetch-mode", mode)
		if kind == KindNavigate {
			h.add("sec-fetch-user", "?1")
		}
		if v >= 80 {
			h.add("sec-fetch-dest", map[Kind]string{KindNavigate: "document", KindSubresource: pick(r, "image", "script", "style"), KindXHR: "empty"}[kind])
		}
	}
	if referer {
		h.add("referer", "https://shop.example/")
	}
	h.add("accept-encoding", acceptEncoding(secure && v >= 50, secure && v >= 123))
	h.add("accept-language", pick(r, acceptLanguages...))
	if cookie {
		h.add("cookie", "sid=8f2c1a; cart=3")
	}
	if v >= 124 && secure {
		h.add("priority", map[Kind]string{KindNavigate: "u=0, i", KindSubresource: "u=2", KindXHR: "u=1, i"}[kind])
	}
}

func firefoxHeaders(r *rand.Rand, h *headerList, ua string, a useragent.Agent, kind Kind, secure bool, proto, method string, cookie, referer bool) {
	v := a.Major
	if a.Family != useragent.FamilyFirefox {
		v = 60 // a Gecko derivative (SeaMonkey, Pale Moon, ...): an ESR-era set
	}
	h.add("user-agent", ua)
	switch kind {
	case KindNavigate:
		if v >= 92 && v < 128 {
			h.add("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8")
		} else {
			h.add("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		}
	case KindSubresource:
		if v >= 92 {
			h.add("accept", "image/avif,image/webp,*/*")
		} else {
			h.add("accept", "image/webp,*/*")
		}
	case KindXHR:
		h.add("accept", "application/json, text/plain, */*")
	}
	h.add("accept-language", pick(r, firefoxLanguages...))
	h.add("accept-encoding", acceptEncoding(secure && v >= 44, secure && v >= 126))
	if method == "POST" {
		h.add("content-type", "application/json")
		h.add("content-length", strconv.Itoa(20+r.IntN(400)))
		h.add("origin", "https://shop.example")
	}
	if proto == "HTTP/1.1" {
		h.add("connection", "keep-alive")
	}
	if referer {
		h.add("referer", "https://shop.example/")
	}
	if cookie {
		h.add("cookie", "sid=8f2c1a; cart=3")
	}
	if kind == KindNavigate && v >= 59 {
		h.add("upgrade-insecure-requests", "1")
	}
	if secure && v >= 90 {
		h.add("sec-fetch-dest", map[Kind]string{KindNavigate: "document", KindSubresource: "image", KindXHR: "empty"}[kind])
		h.add("sec-fetch-mode", map[Kind]string{KindNavigate: "navigate", KindSubresource: "no-cors", KindXHR: "cors"}[kind])
		h.add("sec-fetch-site", map[Kind]string{KindNavigate: pick(r, "none", "same-origin"), KindSubresource: "same-origin", KindXHR: "same-origin"}[kind])
		if kind == KindNavigate {
			h.add("sec-fetch-user", "?1")
		}
	}
	if secure && v >= 128 {
		h.add("priority", map[Kind]string{KindNavigate: "u=0, i", KindSubresource: "u=5, i", KindXHR: "u=4"}[kind])
	}
	if proto == "HTTP/2" {
		h.add("te", "trailers")
	}
}

func safariHeaders(r *rand.Rand, h *headerList, ua string, a useragent.Agent, kind Kind, secure bool, method string, cookie, referer bool) {
	fetchMeta := secure && (a.Major >= 17 || iosMajor(ua) >= 17)
	if referer {
		h.add("referer", "https://shop.example/")
	}
	if method == "POST" {
		h.add("origin", "https://shop.example")
		h.add("content-type", "application/json")
	}
	switch kind {
	case KindNavigate:
		h.add("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	case KindSubresource:
		h.add("accept", "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5")
	case KindXHR:
		h.add("accept", "application/json, text/plain, */*")
	}
	h.add("user-agent", ua)
	if method == "POST" {
		h.add("content-length", strconv.Itoa(20+r.IntN(400)))
	}
	h.add("accept-encoding", acceptEncoding(secure, false))
	h.add("accept-language", pick(r, "en-US,en;q=0.9", "en-GB,en;q=0.9", "de-DE,de;q=0.9", "fr-FR,fr;q=0.9", "ja-JP,ja;q=0.9"))
	if !secure {
		h.add("connection", "keep-alive")
	}
	if cookie {
		h.add("cookie", "sid=8f2c1a; cart=3")
	}
	if fetchMeta {
		h.add("sec-fetch-dest", map[Kind]string{KindNavigate: "document", KindSubresource: "image", KindXHR: "empty"}[kind])
		h.add("sec-fetch-mode", map[Kind]string{KindNavigate: "navigate", KindSubresource: "no-cors", KindXHR: "cors"}[kind])
		h.add("sec-fetch-site", map[Kind]string{KindNavigate: "none", KindSubresource: "same-origin", KindXHR: "same-origin"}[kind])
	}
}

func ieHeaders(r *rand.Rand, h *headerList, ua string, a useragent.Agent, kind Kind, secure bool, method string, cookie, referer bool) {
	switch {
	case kind == KindSubresource:
		h.add("accept", "image/png, image/svg+xml, image/*;q=0.8, */*;q=0.5")
	case kind == KindXHR:
		h.add("accept", "application/json, text/plain, */*")
	case a.Family == useragent.FamilyEdgeLegacy:
		h.add("accept", "text/html, application/xhtml+xml, application/xml; q=0.9, */*; q=0.8")
	case a.Major >= 11:
		h.add("accept", "text/html, application/xhtml+xml, image/jxr, */*")
	case a.Major >= 9:
		h.add("accept", "text/html, application/xhtml+xml, */*")
	default:
		h.add("accept", "image/gif, image/jpeg, image/pjpeg, application/x-ms-application, application/xaml+xml, application/x-ms-xbap, */*")
	}
	if referer {
		h.add("referer", "https://shop.example/")
	}
	h.add("accept-language", pick(r, "en-US", "en-GB", "de-DE", "fr-FR,fr;q=0.5"))
	if kind == KindNavigate && a.Family == useragent.FamilyEdgeLegacy {
		h.add("upgrade-insecure-requests", "1")
	}
	h.add("user-agent", ua)
	h.add("accept-encoding", acceptEncoding(secure && a.Family == useragent.FamilyEdgeLegacy, false))
	if method == "POST" {
		h.add("content-type", "application/json")
		h.add("content-length", strconv.Itoa(20+r.IntN(400)))
	}
	h.add("connection", "Keep-Alive")
	if cookie {
		h.add("cookie", "sid=8f2c1a; cart=3")
	}
}

func prestoHeaders(r *rand.Rand, h *headerList, ua string, kind Kind, cookie, referer bool) {
	h.add("user-agent", ua)
	if kind == KindSubresource {
		h.add("accept", "image/png, image/webp, image/jpeg, image/gif, image/x-xbitmap, */*;q=0.1")
	} else {
		h.add("accept", "text/html, application/xml;q=0.9, application/xhtml+xml, image/png, image/webp, image/jpeg, image/gif, image/x-xbitmap, */*;q=0.1")
	}
	h.add("accept-language", pick(r, "en-US,en;q=0.9", "ru-RU,ru;q=0.9,en;q=0.8", "en"))
	h.add("accept-encoding", "gzip, deflate")
	if referer {
		h.add("referer", "https://shop.example/")
	}
	if cookie {
		h.add("cookie", "sid=8f2c1a; cart=3")
		h.add("cookie2", "$Version=1")
	}
	h.add("connection", "Keep-Alive")
}

func genericHeaders(r *rand.Rand, h *headerList, ua string, kind Kind, cookie, referer bool) {
	h.add("user-agent", ua)
	switch kind {
	case KindSubresource:
		h.add("accept", "image/webp,image/*,*/*;q=0.8")
	case KindXHR:
		h.add("accept", "application/json, text/plain, */*")
	default:
		h.add("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	}
	if referer {
		h.add("referer", "https://shop.example/")
	}
	h.add("accept-encoding", "gzip, deflate")
	h.add("accept-language", pick(r, acceptLanguages...))
	if strings.Contains(ua, "Android") && strings.Contains(ua, "Version/") {
		h.add("x-requested-with", "com.android.browser")
	}
	if cookie {
		h.add("cookie", "sid=8f2c1a; cart=3")
	}
	h.add("connection", "keep-alive")
}

// deviceHeaders covers the non-Mozilla UAs of the device lists: Android
// apps on HttpURLConnection (Dalvik), iOS apps on CFNetwork, and legacy
// mobile browsers (BlackBerry, Nokia, UC, J2ME) that send WAP-era Accepts.
func deviceHeaders(r *rand.Rand, h *headerList, ua string, kind Kind, cookie, referer bool) {
	switch {
	case strings.HasPrefix(ua, "Dalvik/"):
		h.add("user-agent", ua)
		h.add("connection", "Keep-Alive")
		h.add("accept-encoding", "gzip")
	case strings.Contains(ua, "CFNetwork/"):
		h.add("accept", "*/*")
		h.add("accept-language", pick(r, "en-US,en;q=0.9", "en-GB,en;q=0.9", "de-DE,de;q=0.9"))
		h.add("accept-encoding", "gzip, deflate, br")
		h.add("user-agent", ua)
		if cookie {
			h.add("cookie", "sid=8f2c1a")
		}
	default:
		h.add("user-agent", ua)
		h.add("accept", "text/html,application/xhtml+xml,application/vnd.wap.xhtml+xml,text/vnd.wap.wml,*/*;q=0.8")
		h.add("accept-language", pick(r, "en", "en-US,en;q=0.8", "ru", "id-ID,id;q=0.8"))
		h.add("accept-charset", "utf-8, iso-8859-1, utf-16, *;q=0.7")
		if referer {
			h.add("referer", "http://shop.example/")
		}
		h.add("accept-encoding", "gzip")
		if cookie {
			h.add("cookie", "sid=8f2c1a")
		}
	}
}
