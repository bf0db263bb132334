// Package useragent parses just enough of a User-Agent string to know which
// browser it claims to be: family, engine, major version, OS, mobile and
// WebView. It is a handful of substring searches, no regexps, so the
// heuristics and the ML features can afford it on every request.
//
// It answers "what does this UA claim", never "is it true": that is the job
// of the header-consistency rules that compare the claim with the request.
package useragent

import "strings"

// Family is the browser a UA claims.
type Family uint8

const (
	FamilyUnknown     Family = iota // not a browser UA (tools, crawlers, apps)
	FamilyOther                     // a Mozilla/... UA of a browser not listed here
	FamilyChrome                    // Google Chrome or Chromium (also CriOS on iOS)
	FamilyEdge                      // Chromium-based Edge (Edg/, EdgA/, EdgiOS/)
	FamilyEdgeLegacy                // EdgeHTML Edge (Edge/12–18)
	FamilyOpera                     // Chromium-based Opera (OPR/)
	FamilyOperaPresto               // Presto Opera and Opera Mini (Opera/9.80)
	FamilySamsung                   // Samsung Internet
	FamilyYandex                    // Yandex Browser
	FamilyFirefox                   // Firefox (also FxiOS on iOS)
	FamilySafari                    // Safari and iOS WebKit views
	FamilyIE                        // Internet Explorer
	FamilyHeadless                  // HeadlessChrome
)

var familyNames = [...]string{"unknown", "other", "chrome", "edge", "edge-legacy", "opera", "opera-presto", "samsung", "yandex", "firefox", "safari", "ie", "headless-chrome"}

func (f Family) String() string {
	if int(f) < len(familyNames) {
		return familyNames[f]
	}
	return "unknown"
}

// Engine is the rendering engine implied by the claim.
type Engine uint8

const (
	EngineUnknown Engine = iota
	EngineBlink
	EngineGecko
	EngineWebKit
	EngineTrident
	EngineEdgeHTML
	EnginePresto
)

var engineNames = [...]string{"unknown", "blink", "gecko", "webkit", "trident", "edgehtml", "presto"}

func (e Engine) String() string {
	if int(e) < len(engineNames) {
		return engineNames[e]
	}
	return "unknown"
}

// OS is the operating system a UA claims.
type OS uint8

const (
	OSUnknown OS = iota
	OSWindows
	OSMacOS
	OSLinux
	OSAndroid
	OSIOS
	OSChromeOS
	OSWindowsPhone
	OSOther // a known non-desktop platform (BlackBerry, KaiOS, J2ME, ...)
)

var osNames = [...]string{"unknown", "windows", "macos", "linux", "android", "ios", "chromeos", "windows-phone", "other"}

func (o OS) String() string {
	if int(o) < len(osNames) {
		return osNames[o]
	}
	return "unknown"
}

// Agent is the parsed claim.
type Agent struct {
	Family Family
	Engine Engine
	OS     OS
	// Major is the major version of the family's own token (Edg/, OPR/,
	// Firefox/, Version/ for Safari, MSIE/rv for IE).
	Major int
	// ChromiumMajor is the Chrome/ token's major version for Blink browsers
	// (what decides which headers the engine sends), 0 otherwise.
	ChromiumMajor int
	Mobile        bool
	// WebView is an embedded browser (Android "; wv)" or an iOS app view
	// without a Safari/ token): headers depend on the app.
	WebView bool
	// Mozilla is true when the UA starts with "Mozilla/", the prefix every
	// mainstream browser still sends.
	Mozilla bool
}

// Browser reports whether the UA claims a mainstream browser whose request
// headers are well known.
func (a Agent) Browser() bool { return a.Family >= FamilyChrome && a.Family != FamilyHeadless }

// Chromium reports whether the claim is a Blink (Chromium) browser.
func (a Agent) Chromium() bool { return a.Engine == EngineBlink }

// Parse parses ua. It never fails: anything unrecognised is FamilyUnknown or
// FamilyOther with zero versions.
func Parse(ua string) Agent {
	var a Agent
	a.Mozilla = strings.HasPrefix(ua, "Mozilla/")
	a.OS = parseOS(ua)
	a.Mobile = strings.Contains(ua, "Mobile") || a.OS == OSIOS && !strings.Contains(ua, "iPad")

	chrome := version(ua, "Chrome/")
	switch {
	case contains(ua, "HeadlessChrome/"):
		a.Family, a.Engine, a.Major, a.ChromiumMajor = FamilyHeadless, EngineBlink, version(ua, "HeadlessChrome/"), version(ua, "HeadlessChrome/")
	case contains(ua, "EdgiOS/"):
		a.Family, a.Engine, a.Major = FamilyEdge, EngineWebKit, version(ua, "EdgiOS/")
	case contains(ua, "Edg/") || contains(ua, "EdgA/"):
		a.Family, a.Engine, a.ChromiumMajor = FamilyEdge, EngineBlink, chrome
		a.Major = max(version(ua, "Edg/"), version(ua, "EdgA/"))
	case contains(ua, "Edge/"):
		a.Family, a.Engine, a.Major = FamilyEdgeLegacy, EngineEdgeHTML, version(ua, "Edge/")
	case contains(ua, "OPR/") && chrome > 0:
		a.Family, a.Engine, a.Major, a.ChromiumMajor = FamilyOpera, EngineBlink, version(ua, "OPR/"), chrome
	case contains(ua, "OPiOS/"):
		a.Family, a.Engine, a.Major = FamilyOpera, EngineWebKit, version(ua, "OPiOS/")
	case contains(ua, "Presto/") || strings.HasPrefix(ua, "Opera/") || contains(ua, "Opera Mini"):
		a.Family, a.Engine, a.Major = FamilyOperaPresto, EnginePresto, max(version(ua, "Version/"), version(ua, "Opera/"))
	case contains(ua, "SamsungBrowser/") && chrome > 0:
		a.Family, a.Engine, a.Major, a.ChromiumMajor = FamilySamsung, EngineBlink, version(ua, "SamsungBrowser/"), chrome
	case contains(ua, "YaBrowser/") && chrome > 0:
		a.Family, a.Engine, a.Major, a.ChromiumMajor = FamilyYandex, EngineBlink, version(ua, "YaBrowser/"), chrome
	case contains(ua, "CriOS/"):
		a.Family, a.Engine, a.Major = FamilyChrome, EngineWebKit, version(ua, "CriOS/")
	case contains(ua, "FxiOS/"):
		a.Family, a.Engine, a.Major = FamilyFirefox, EngineWebKit, version(ua, "FxiOS/")
	case contains(ua, "Firefox/") && contains(ua, "Gecko/") && !contains(ua, "Seamonkey/") && !contains(ua, "SeaMonkey/"):
		a.Family, a.Engine, a.Major = FamilyFirefox, EngineGecko, version(ua, "Firefox/")
	case chrome > 0 && contains(ua, "AppleWebKit/"):
		a.Engine, a.ChromiumMajor = EngineBlink, chrome
		a.Family = FamilyOther
		if isPlainChrome(ua) {
			a.Family, a.Major = FamilyChrome, chrome
		}
		if contains(ua, "; wv)") || contains(ua, "Version/4.0 Chrome/") {
			a.WebView = true
		}
	case contains(ua, "Trident/") || contains(ua, "MSIE "):
		a.Family, a.Engine = FamilyIE, EngineTrident
		a.Major = max(version(ua, "MSIE "), version(ua, "rv:"))
	case contains(ua, "AppleWebKit/") && (a.OS == OSIOS || a.OS == OSMacOS):
		a.Family, a.Engine = FamilySafari, EngineWebKit
		a.Major = version(ua, "Version/")
		a.WebView = !contains(ua, "Safari/")
	case contains(ua, "Gecko/") && contains(ua, "rv:"):
		a.Family, a.Engine = FamilyOther, EngineGecko
	case a.Mozilla:
		a.Family = FamilyOther
		if contains(ua, "AppleWebKit/") {
			a.Engine = EngineWebKit
		}
	}
	return a
}

// isPlainChrome reports whether a Chrome/ UA carries nothing after the
// standard "Chrome/x Safari/y" (or "Mobile Safari/y") that names another
// browser or app; anything else is a Chromium derivative (FamilyOther).
func isPlainChrome(ua string) bool {
	i := strings.Index(ua, "Chrome/")
	rest := ua[i+len("Chrome/"):]
	// skip the version
	j := 0
	for j < len(rest) && (rest[j] == '.' || rest[j] >= '0' && rest[j] <= '9') {
		j++
	}
	rest = strings.TrimSpace(rest[j:])
	rest = strings.TrimPrefix(rest, "Mobile ")
	if !strings.HasPrefix(rest, "Safari/") {
		return false
	}
	rest = rest[len("Safari/"):]
	j = 0
	for j < len(rest) && (rest[j] == '.' || rest[j] >= '0' && rest[j] <= '9') {
		j++
	}
	return strings.TrimSpace(rest[j:]) == ""
}

func parseOS(ua string) OS {
	switch {
	case contains(ua, "Windows Phone") || contains(ua, "Windows Mobile"):
		return OSWindowsPhone
	case contains(ua, "Android"):
		return OSAndroid
	case contains(ua, "iPhone") || contains(ua, "iPad") || contains(ua, "iPod"):
		return OSIOS
	case contains(ua, "CrOS"):
		return OSChromeOS
	case contains(ua, "Windows"):
		return OSWindows
	case contains(ua, "Macintosh") || contains(ua, "Mac OS X"):
		return OSMacOS
	case contains(ua, "Linux") || contains(ua, "X11"):
		return OSLinux
	case contains(ua, "BlackBerry") || contains(ua, "BB10") || contains(ua, "KAIOS") || contains(ua, "J2ME") || contains(ua, "Symbian") || contains(ua, "SymbianOS") || contains(ua, "Series40"):
		return OSOther
	}
	return OSUnknown
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// version returns the integer after the first occurrence of token in ua,
// 0 when absent or not a number. Versions are capped to keep arithmetic on
// hostile input safe.
func version(ua, token string) int {
	i := strings.Index(ua, token)
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range []byte(ua[i+len(token):]) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
		if n > 100000 {
			return 100000
		}
	}
	return n
}
