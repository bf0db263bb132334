package heuristics

import (
	"strconv"
	"strings"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics/useragent"
)

// Version thresholds, from the browsers' release notes: Sec-CH-UA on by
// default from Chromium 89 (a margin to 90 for derivatives that lag),
// Sec-Fetch-Site/Mode/User from Chromium 76 and Sec-Fetch-Dest from 80
// (81 here), Firefox 90 (91 ESR), Safari 16.4 (17 here).
const (
	minChromiumClientHints = 90
	minChromiumSecFetch    = 81
	minFirefoxSecFetch     = 91
	minSafariSecFetch      = 17
)

// checkRequestHeaders applies the rules that need no browser claim.
func (e *Engine) checkRequestHeaders(r *detect.Request, v *detect.Verdict) {
	if r.Headers.Has("from") {
		e.flag(v, IDFromHeader)
	}
	if ch := r.Headers.Get("sec-ch-ua"); ch != "" && strings.Contains(ch, "HeadlessChrome") {
		e.flag(v, IDHeadlessCHUA)
	}
}

// secure reports whether the request reached us over TLS, the condition
// for Sec-CH-UA and Sec-Fetch-* (browsers send them to secure origins
// only). Unknown counts as not secure, so the rules stay silent.
func secure(r *detect.Request) bool {
	s := r.Scheme
	if s == "" {
		s = r.Headers.Get("x-forwarded-proto")
	}
	return strings.EqualFold(s, "https")
}

// sendsClientHints reports whether the claimed browser sends Sec-CH-UA on
// secure requests: Chrome, Edge, Opera and Yandex on Chromium 90+, not in a
// WebView (whose support depends on the app).
func sendsClientHints(a useragent.Agent) bool {
	if a.Engine != useragent.EngineBlink || a.WebView || a.ChromiumMajor < minChromiumClientHints {
		return false
	}
	switch a.Family {
	case useragent.FamilyChrome, useragent.FamilyEdge, useragent.FamilyOpera, useragent.FamilyYandex:
		return true
	}
	return false
}

// sendsSecFetch reports whether the claimed browser sends Sec-Fetch-* on
// secure requests.
func sendsSecFetch(a useragent.Agent) bool {
	if a.WebView {
		return false
	}
	switch {
	case a.Engine == useragent.EngineBlink:
		switch a.Family {
		case useragent.FamilyChrome, useragent.FamilyEdge, useragent.FamilyOpera, useragent.FamilyYandex:
			return a.ChromiumMajor >= minChromiumSecFetch
		}
	case a.Engine == useragent.EngineGecko && a.Family == useragent.FamilyFirefox:
		return a.Major >= minFirefoxSecFetch
	case a.Engine == useragent.EngineWebKit && a.Family == useragent.FamilySafari && a.OS == useragent.OSMacOS:
		return a.Major >= minSafariSecFetch
	}
	return false
}

// checkConsistency compares the headers with the browser the UA claims.
func (e *Engine) checkConsistency(r *detect.Request, a useragent.Agent, v *detect.Verdict) {
	method := r.Method
	if method == "OPTIONS" || method == "CONNECT" {
		// CORS preflights and tunnels carry a reduced header set.
		return
	}
	h := r.Headers
	upgrade := h.Has("upgrade") || strings.EqualFold(h.Get("connection"), "upgrade")
	sec := secure(r)
	chua := h.Get("sec-ch-ua")

	if sec && sendsClientHints(a) && chua == "" {
		e.flag(v, IDChromiumNoClientHints)
	}
	if sec && sendsSecFetch(a) && !upgrade && !h.Has("sec-fetch-site") && !h.Has("sec-fetch-mode") && !h.Has("sec-fetch-dest") {
		e.flag(v, IDChromiumNoSecFetch)
	}
	if !a.WebView && !h.Has("accept-language") && (method == "GET" || method == "POST" || method == "HEAD" || method == "") {
		e.flag(v, IDNoAcceptLanguage)
	}
	if chua != "" && a.Engine != useragent.EngineBlink && a.Engine != useragent.EngineUnknown {
		e.flag(v, IDUnexpectedClientHints)
	}
	if p := h.Get("sec-ch-ua-platform"); p != "" && a.Engine == useragent.EngineBlink && platformContradicts(p, a.OS) {
		e.flag(v, IDPlatformMismatch)
	}
	if chua != "" && a.Engine == useragent.EngineBlink && a.ChromiumMajor > 0 {
		if n, ok := brandVersion(chua, "Chromium"); ok && n != a.ChromiumMajor {
			e.flag(v, IDClientHintsVersion)
		}
	}
	accept, hasAccept := h["accept"]
	if hasAccept && strings.TrimSpace(accept) == "*/*" && h.Get("sec-fetch-dest") == "document" && h.Get("sec-fetch-mode") == "navigate" {
		e.flag(v, IDNavigationAcceptAny)
	}
	if !hasAccept && !h.Has("accept") && method == "GET" && !upgrade && !a.WebView {
		e.flag(v, IDNoAccept)
	}
	if r.Protocol == "HTTP/1.0" {
		e.flag(v, IDHTTP10Browser)
	}
	if e.cfg.HeaderOrder && len(r.HeaderOrder) > 0 {
		e.checkOrder(r, a, v)
	}
}

// platformContradicts reports whether a Sec-CH-UA-Platform value cannot
// come with a UA claiming os. Chrome's "request desktop site" on Android
// sends a Linux UA with platform "Android", so those two are compatible;
// several values (duplicate headers joined) are a contradiction in itself.
func platformContradicts(platform string, os useragent.OS) bool {
	if strings.Count(platform, `"`) > 2 {
		return true
	}
	p := strings.ToLower(strings.Trim(strings.TrimSpace(platform), `"`))
	var allowed []string
	switch os {
	case useragent.OSWindows:
		allowed = []string{"windows"}
	case useragent.OSMacOS:
		allowed = []string{"macos"}
	case useragent.OSLinux:
		allowed = []string{"linux", "android", "chrome os", "chromium os"}
	case useragent.OSAndroid:
		allowed = []string{"android", "linux"}
	case useragent.OSChromeOS:
		allowed = []string{"chrome os", "chromium os", "linux"}
	default:
		return false
	}
	switch p {
	case "", "unknown":
		return false
	}
	for _, a := range allowed {
		if p == a {
			return false
		}
	}
	// Only the desktop/mobile platforms Chromium reports are contradictions;
	// anything else (Fuchsia, a new name) is not judged.
	switch p {
	case "windows", "macos", "linux", "android", "chrome os", "chromium os", "ios":
		return true
	}
	return false
}

// brandVersion finds `"brand";v="N"` in a Sec-CH-UA value.
func brandVersion(chua, brand string) (int, bool) {
	i := strings.Index(chua, `"`+brand+`"`)
	if i < 0 {
		return 0, false
	}
	rest := chua[i+len(brand)+2:]
	j := strings.Index(rest, `v="`)
	if j < 0 || j > 4 {
		return 0, false
	}
	rest = rest[j+3:]
	k := strings.IndexByte(rest, '"')
	if k < 0 {
		return 0, false
	}
	major, _, _ := strings.Cut(rest[:k], ".")
	n, err := strconv.Atoi(major)
	return n, err == nil
}

// checkOrder compares the wire order with the claimed family's.
func (e *Engine) checkOrder(r *detect.Request, a useragent.Agent, v *detect.Verdict) {
	var fam string
	switch {
	case a.Engine == useragent.EngineBlink && (a.Family == useragent.FamilyChrome || a.Family == useragent.FamilyOpera || a.Family == useragent.FamilyYandex):
		fam = "chrome"
	case a.Engine == useragent.EngineBlink && a.Family == useragent.FamilyEdge:
		fam = "edge"
	case a.Engine == useragent.EngineGecko && a.Family == useragent.FamilyFirefox:
		fam = "firefox"
	default:
		return
	}
	o, ok := e.orders[fam]
	if !ok {
		return
	}
	var namesArr [48]string
	names := namesArr[:0]
	for _, n := range r.HeaderOrder {
		names = append(names, strings.ToLower(n))
	}
	http2 := r.Protocol == "HTTP/2" || r.Protocol == "HTTP/3"
	if inv, ranked := o.inversions(names, http2); ranked >= 3 && inv > 0 {
		e.flag(v, IDHeaderOrder)
	}
}

// checkJA4 flags a browser UA over a non-browser TLS stack.
func (e *Engine) checkJA4(r *detect.Request, a useragent.Agent, v *detect.Verdict) {
	ja4 := r.JA4()
	if ja4 == "" {
		return
	}
	if entry, ok := e.ja4.Lookup(ja4); ok && !entry.Browser {
		e.flag(v, IDJA4Mismatch)
		v.AddTags("tls-" + entry.Stack)
	}
}
