package heuristics

import (
	"fmt"
	"slices"
)

// Detection is one static rule: a stable ID (never reused or renumbered),
// a short name, what it means, the tags it adds and its rule family.
type Detection struct {
	ID          int
	Name        string
	Description string
	Tags        []string
	Family      string // "user-agent", "headers", "tls"
}

// Detection IDs. The heuristics engine owns 10000–10999; IDs are stable
// across releases and appear in BotDetectionIDs.
const (
	IDEmptyUA         = 10101
	IDOversizedUA     = 10102
	IDMalformedUA     = 10103
	IDKnownBot        = 10110 // uncategorised known-bot pattern
	IDHTTPLibrary     = 10111
	IDHeadless        = 10112
	IDScraper         = 10113
	IDSEO             = 10114
	IDMonitoring      = 10115
	IDFeed            = 10116
	IDArchiver        = 10117
	IDSecurityScanner = 10118
	IDAITraining      = 10119
	IDAISearch        = 10120
	IDAIUser          = 10121
	IDSearch          = 10122
	IDSocial          = 10123
	IDFromHeader      = 10130
	IDHeadlessCHUA    = 10131

	IDChromiumNoClientHints = 10201
	IDChromiumNoSecFetch    = 10202
	IDNoAcceptLanguage      = 10203
	IDUnexpectedClientHints = 10204
	IDPlatformMismatch      = 10205
	IDNavigationAcceptAny   = 10206
	IDNoAccept              = 10207
	IDHTTP10Browser         = 10208
	IDHeaderOrder           = 10209
	IDClientHintsVersion    = 10210

	IDJA4Mismatch = 10301
)

// Catalogue is the one list of the engine's detections.
var Catalogue = []Detection{
	{IDEmptyUA, "empty-user-agent", "The request has no User-Agent, or an empty one: every browser sends one.", []string{"empty-ua"}, "user-agent"},
	{IDOversizedUA, "oversized-user-agent", "The User-Agent is longer than max_ua_length (browsers send a few hundred bytes); it is truncated before matching.", []string{"oversized-ua"}, "user-agent"},
	{IDMalformedUA, "malformed-user-agent", "The User-Agent holds control characters or invalid UTF-8, which no browser sends.", []string{"malformed-ua"}, "user-agent"},
	{IDKnownBot, "known-bot", "The User-Agent matches a known-bot pattern whose kind is not classified.", []string{"known-bot"}, "user-agent"},
	{IDHTTPLibrary, "http-library", "The User-Agent is an HTTP library or command-line client (curl, python-requests, Go-http-client, ...).", []string{"http-library"}, "user-agent"},
	{IDHeadless, "headless-browser", "The User-Agent is a headless or automated browser (HeadlessChrome, PhantomJS, Puppeteer, ...).", []string{"headless"}, "user-agent"},
	{IDScraper, "scraper", "The User-Agent is a scraping tool or service.", []string{"scraper"}, "user-agent"},
	{IDSEO, "seo-crawler", "The User-Agent is an SEO or marketing crawler.", []string{"seo"}, "user-agent"},
	{IDMonitoring, "monitoring", "The User-Agent is an uptime or performance monitor.", []string{"monitoring"}, "user-agent"},
	{IDFeed, "feed-fetcher", "The User-Agent is a feed reader or fetcher.", []string{"feed"}, "user-agent"},
	{IDArchiver, "archiver", "The User-Agent is a web archiver.", []string{"archiver"}, "user-agent"},
	{IDSecurityScanner, "security-scanner", "The User-Agent is a security or vulnerability scanner (OWASP CRS list and fixtures).", []string{"security-scanner"}, "user-agent"},
	{IDAITraining, "ai-training-crawler", "The User-Agent is an AI crawler that collects training data.", []string{"ai-training", "ai-crawler"}, "user-agent"},
	{IDAISearch, "ai-search-crawler", "The User-Agent is an AI search crawler.", []string{"ai-search", "ai-crawler"}, "user-agent"},
	{IDAIUser, "ai-user-agent", "The User-Agent is an AI assistant or agent fetching on a user's behalf.", []string{"ai-user", "ai-crawler"}, "user-agent"},
	{IDSearch, "search-crawler", "The User-Agent is a search-engine crawler.", []string{"search"}, "user-agent"},
	{IDSocial, "social-preview", "The User-Agent is a social-media or chat link-preview fetcher.", []string{"social"}, "user-agent"},
	{IDFromHeader, "from-header", "The request carries a From header (a crawler's contact address); browsers never send it.", []string{"from-header"}, "headers"},
	{IDHeadlessCHUA, "headless-client-hints", "Sec-CH-UA names HeadlessChrome.", []string{"headless"}, "headers"},

	{IDChromiumNoClientHints, "chromium-without-client-hints", "A Chromium UA (Chrome/Edge/Opera/Yandex, Chromium 90+) over HTTPS without Sec-CH-UA, which these send on every secure request since Chromium 89.", []string{"missing-client-hints"}, "headers"},
	{IDChromiumNoSecFetch, "browser-without-sec-fetch", "A browser UA (Chromium 81+, Firefox 91+, Safari 17+) over HTTPS without any Sec-Fetch-* header.", []string{"missing-sec-fetch"}, "headers"},
	{IDNoAcceptLanguage, "browser-without-accept-language", "A mainstream browser UA without Accept-Language, which browsers add to every request.", []string{"missing-accept-language"}, "headers"},
	{IDUnexpectedClientHints, "non-chromium-with-client-hints", "A Firefox, Safari, iOS, IE or legacy-Edge UA with Sec-CH-UA, which only Chromium sends.", []string{"unexpected-client-hints"}, "headers"},
	{IDPlatformMismatch, "client-hints-platform-mismatch", "Sec-CH-UA-Platform names an OS the User-Agent contradicts.", []string{"platform-mismatch"}, "headers"},
	{IDNavigationAcceptAny, "navigation-accept-any", "A document navigation (Sec-Fetch-Dest: document) with Accept: */*, which no browser sends for a navigation.", []string{"accept-mismatch"}, "headers"},
	{IDNoAccept, "browser-without-accept", "A browser UA GET without an Accept header (browsers always send one outside WebSocket upgrades).", []string{"accept-mismatch"}, "headers"},
	{IDHTTP10Browser, "browser-http10", "A browser UA over HTTP/1.0, which no current browser speaks.", []string{"http10-browser"}, "headers"},
	{IDHeaderOrder, "header-order-mismatch", "The header order contradicts the order the claimed browser family sends.", []string{"header-order"}, "headers"},
	{IDClientHintsVersion, "client-hints-version-mismatch", "Sec-CH-UA's Chromium version differs from the User-Agent's Chrome version (a changed UA over a real engine).", []string{"client-hints-mismatch"}, "headers"},

	{IDJA4Mismatch, "ja4-mismatch", "A browser User-Agent over the TLS stack (JA4) of a non-browser client such as curl, Go or Python.", []string{"ja4-mismatch", "spoofed-browser"}, "tls"},
}

// Lookup returns the catalogue entry for id.
func Lookup(id int) (Detection, bool) {
	i := slices.IndexFunc(Catalogue, func(d Detection) bool { return d.ID == id })
	if i < 0 {
		return Detection{}, false
	}
	return Catalogue[i], true
}

// categoryDetection maps a UA category to its detection ID.
var categoryDetection = map[Category]int{
	CategoryUnclassified: IDKnownBot, CategoryHTTPLibrary: IDHTTPLibrary, CategoryHeadless: IDHeadless,
	CategoryScraper: IDScraper, CategorySEO: IDSEO, CategoryMonitoring: IDMonitoring, CategoryFeed: IDFeed,
	CategoryArchiver: IDArchiver, CategorySecurityScanner: IDSecurityScanner, CategoryAITraining: IDAITraining,
	CategoryAISearch: IDAISearch, CategoryAIUser: IDAIUser, CategorySearch: IDSearch, CategorySocial: IDSocial,
}

// DetectionFor returns the detection ID for a UA category.
func DetectionFor(c Category) int { return categoryDetection[c] }

func mustLookup(id int) Detection {
	d, ok := Lookup(id)
	if !ok {
		panic(fmt.Sprintf("heuristics: detection %d is not in the catalogue", id))
	}
	return d
}
