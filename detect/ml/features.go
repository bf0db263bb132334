package ml

import (
	"fmt"
	"slices"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics"
	"github.com/botwarden/botwarden/detect/heuristics/useragent"
	"github.com/botwarden/botwarden/detect/network"
	"github.com/botwarden/botwarden/detect/session"
)

// Current releases the version-age features compare against: the newest
// versions in the header-generator browser list (reference data headers/,
// 2026: Firefox 151, Safari 26) and the Debian chromium package of the
// build environment (156). A UA years behind these is more often a stale
// bot string than a person; one ahead of them is made up.
var currentRelease = map[useragent.Engine]int{
	useragent.EngineBlink:  156,
	useragent.EngineGecko:  151,
	useragent.EngineWebKit: 26,
}

// featureNames lists the features in vector order. Appending is fine;
// reordering or renaming invalidates trained models (Model.Features is
// checked against this list on load).
var featureNames = []string{
	// user agent
	"ua_empty", "ua_not_mozilla", "ua_short", "ua_long", "ua_has_url", "ua_has_email", "ua_bot_word",
	"fam_chrome", "fam_edge", "fam_firefox", "fam_safari", "fam_opera", "fam_other_chromium", "fam_legacy", "fam_other", "fam_headless", "fam_unknown",
	"ua_webview", "ua_mobile",
	"ver_recent", "ver_old", "ver_ancient", "ver_future",
	// header presence
	"h_accept", "h_accept_language", "h_accept_encoding", "h_sec_ch_ua", "h_sec_fetch", "h_upgrade_insecure",
	"h_referer", "h_cookie", "h_connection", "h_cache_control", "h_origin", "h_dnt", "h_priority", "h_from",
	"h_x_requested_with", "h_te", "h_pragma", "header_count",
	// header values
	"accept_html", "accept_any_only", "accept_json", "accept_image", "accept_other",
	"ae_br", "ae_zstd", "ae_plain", "al_qvalues", "al_single",
	"ch_brand_matches", "order_inverted",
	// protocol and TLS
	"proto_10", "proto_11", "proto_2", "proto_3", "https",
	"tls_browser", "tls_library", "tls_unknown", "tls_no_h2",
	// path and method
	"path_static", "path_html", "path_api", "path_login", "path_robots", "path_suspicious", "path_query",
	"m_get", "m_post", "m_head", "m_other",
	// network (from the verdict, when the network engine ran before)
	"ip_datacenter", "ip_private_relay",
	// context (appended in 2026.12): what the network engine found beyond
	// datacenter, the claimed browser against where and how it connects,
	// the session, and the client's pace over the last minute.
	"ip_cloud", "ip_vpn", "dc_browser", "ver_lagging", "ja4_family_mismatch",
	"sess_none_deep", "sess_foreign", "pace_burst_5", "pace_minute_12", "pace_minute_30", "prefix_minute_60",
	// A browser's headers weigh towards "human" from a home address and far
	// less from a datacenter one, where most browser-looking traffic is
	// automation: these are those headers again, on datacenter requests
	// only, so the regression can weigh them apart.
	"dc_x_accept_language", "dc_x_al_qvalues", "dc_x_accept_encoding", "dc_x_sec_fetch", "dc_x_upgrade_insecure",
	"dc_x_cookie", "dc_x_referer", "dc_x_ae_br", "dc_x_tls_browser",
}

// baseFeatures is the length of the 2026.08 vector (UA, headers,
// protocol, TLS, path, datacenter, Private Relay): a model with only those
// weights still scores, and the benchmarks compare against it.
var baseFeatures = slices.Index(featureNames, "ip_private_relay") + 1

// NumFeatures is the length of a feature vector.
var NumFeatures = len(featureNames)

// FeatureNames returns the feature names in vector order.
func FeatureNames() []string { return append([]string(nil), featureNames...) }

// extractor computes feature vectors. It deliberately does not consult the
// UA pattern lists: those are the heuristics engine's evidence, and keeping
// them out makes the model a judge of request structure (headers, protocol,
// TLS, path) that generalises to bots no list names, and keeps its held-out
// figures free of the lists' own fixtures.
type extractor struct {
	ja4 *heuristics.JA4Table
	// uas caches what the features derive from the UA alone (the parse and
	// the lower-cased word searches): real traffic repeats a few thousand
	// UAs and the derivation costs more than the rest of the vector.
	uas *lru.Cache[string, uaFacts]
}

// uaCacheSize bounds the cached UAs. A flood of unique UAs only costs the
// miss path plus an eviction.
const uaCacheSize = 4096

func newExtractor() (*extractor, error) {
	t, err := heuristics.NewJA4Table(heuristics.DefaultJA4)
	if err != nil {
		return nil, err
	}
	uas, err := lru.New[string, uaFacts](uaCacheSize)
	if err != nil {
		return nil, fmt.Errorf("ua cache: %w", err)
	}
	return &extractor{ja4: t, uas: uas}, nil
}

// uaFacts is what the features take from the user agent string alone.
type uaFacts struct {
	agent                  useragent.Agent
	hasURL, hasEmail, bots bool
}

func deriveUAFacts(ua string) uaFacts {
	lua := strings.ToLower(ua)
	return uaFacts{
		agent:    useragent.Parse(ua),
		hasURL:   strings.Contains(lua, "http") || strings.Contains(lua, "www."),
		hasEmail: strings.Contains(ua, "@") || strings.Contains(lua, "(at)"),
		bots:     strings.Contains(lua, "bot") || strings.Contains(lua, "crawl") || strings.Contains(lua, "spider") || strings.Contains(lua, "scan") || strings.Contains(lua, "fetch"),
	}
}

// uaFacts returns the cached facts for ua, deriving them on a miss. The key
// is copied: the header string may be part of a large buffer.
func (ex *extractor) uaFacts(ua string) uaFacts {
	if f, ok := ex.uas.Get(ua); ok {
		return f
	}
	f := deriveUAFacts(ua)
	ex.uas.Add(strings.Clone(ua), f)
	return f
}

// maxFeatureUA bounds the UA the features look at (the heuristics flag
// longer ones).
const maxFeatureUA = 1024

// Context is what the engine knows about a request beyond the request
// itself and the verdict: the client's recent pace, counted in HTML page
// views (this one included). Examples carry it for training.
type Context struct {
	// Burst is the client's page views in the last 10–20 s, Minute in the
	// last minute; the client is its session, else its address and UA.
	Burst, Minute uint32
	// PrefixMinute is the page views of the client's /24 (IPv6 /48) in the
	// last minute.
	PrefixMinute uint32
	// pagesAsClient is the address + UA's page views in the minute, for
	// the js_detection rule (not a feature).
	pagesAsClient uint32
}

// features fills x (len NumFeatures) for r; v supplies what earlier engines
// found (network type, session tags), c the client's pace. It returns the
// number of features written, which a test holds equal to NumFeatures.
func (ex *extractor) features(r *detect.Request, v *detect.Verdict, c Context, x []float64) int {
	clear(x)
	i := 0
	set := func(b bool) {
		if b {
			x[i] = 1
		}
		i++
	}
	h := r.Headers
	ua := h.Get("user-agent")
	if len(ua) > maxFeatureUA {
		ua = ua[:maxFeatureUA]
	}
	uf := ex.uaFacts(ua)
	a := uf.agent

	set(ua == "")
	set(ua != "" && !a.Mozilla)
	set(ua != "" && len(ua) < 40)
	set(len(ua) > 300)
	set(uf.hasURL)
	set(uf.hasEmail)
	set(uf.bots)

	f := a.Family
	set(f == useragent.FamilyChrome)
	set(f == useragent.FamilyEdge)
	set(f == useragent.FamilyFirefox)
	set(f == useragent.FamilySafari)
	set(f == useragent.FamilyOpera)
	set(f == useragent.FamilySamsung || f == useragent.FamilyYandex)
	set(f == useragent.FamilyIE || f == useragent.FamilyEdgeLegacy || f == useragent.FamilyOperaPresto)
	set(f == useragent.FamilyOther)
	set(f == useragent.FamilyHeadless)
	set(f == useragent.FamilyUnknown && ua != "")
	set(a.WebView)
	set(a.Mobile)

	recent, old, ancient, future := versionAge(a)
	set(recent)
	set(old)
	set(ancient)
	set(future)

	set(h.Has("accept"))
	set(h.Has("accept-language"))
	set(h.Has("accept-encoding"))
	set(h.Has("sec-ch-ua"))
	set(h.Has("sec-fetch-site") || h.Has("sec-fetch-mode") || h.Has("sec-fetch-dest"))
	set(h.Has("upgrade-insecure-requests"))
	set(h.Has("referer"))
	set(h.Has("cookie"))
	set(h.Has("connection"))
	set(h.Has("cache-control"))
	set(h.Has("origin"))
	set(h.Has("dnt"))
	set(h.Has("priority"))
	set(h.Has("from"))
	set(h.Has("x-requested-with"))
	set(h.Has("te"))
	set(h.Has("pragma"))
	x[i] = min(float64(len(h)), 20) / 20
	i++

	accept := h.Get("accept")
	html := strings.Contains(accept, "text/html")
	anyOnly := strings.TrimSpace(accept) == "*/*"
	json := strings.Contains(accept, "application/json")
	image := strings.HasPrefix(accept, "image/")
	set(html)
	set(anyOnly)
	set(json)
	set(image)
	set(accept != "" && !html && !anyOnly && !json && !image)

	ae := h.Get("accept-encoding")
	set(strings.Contains(ae, "br"))
	set(strings.Contains(ae, "zstd"))
	set(ae != "" && !strings.Contains(ae, "br"))
	al := h.Get("accept-language")
	set(strings.Contains(al, ";q="))
	set(al != "" && !strings.ContainsAny(al, ",;"))

	set(brandMatches(h.Get("sec-ch-ua"), a))
	set(orderInverted(r.HeaderOrder))

	set(r.Protocol == "HTTP/1.0")
	set(r.Protocol == "HTTP/1.1")
	set(r.Protocol == "HTTP/2")
	set(r.Protocol == "HTTP/3")
	set(strings.EqualFold(r.Scheme, "https"))

	ja4 := r.JA4()
	entry, known := ex.ja4.Lookup(ja4)
	set(known && entry.Browser)
	set(known && !entry.Browser)
	set(ja4 != "" && !known)
	set(len(ja4) >= 10 && ja4[8:10] != "h2" && ja4[8:10] != "h3")

	pc := classifyPath(r.PathOnly())
	set(pc == pathStatic)
	set(pc == pathHTML)
	set(pc == pathAPI)
	set(pc == pathLogin)
	set(pc == pathRobots)
	set(pc == pathSuspicious)
	set(strings.Contains(r.Path, "?"))

	set(r.Method == "GET" || r.Method == "")
	set(r.Method == "POST")
	set(r.Method == "HEAD")
	set(r.Method != "" && r.Method != "GET" && r.Method != "POST" && r.Method != "HEAD")

	dc := v != nil && v.IP.Datacenter
	set(dc)
	set(v != nil && v.IP.PrivateRelay)

	// context
	set(v != nil && hasTagPrefix(v.Tags, network.TagCloudPrefix))
	set(v != nil && v.HasTag(network.TagVPN))
	browser := mainstreamBrowser(f)
	set(dc && browser)
	set(lagging(a))
	set(known && familyMismatch(entry, f))
	page := isPage(r, pc)
	set(page && r.Path != "/" && !h.Has("cookie") && !h.Has("referer"))
	set(v != nil && v.HasTag(session.TagForeignSession))
	set(c.Burst >= 5)
	set(c.Minute >= 12)
	set(c.Minute >= 30)
	set(c.PrefixMinute >= 60)
	for _, f := range dcCrossed {
		set(dc && x[f] != 0)
	}
	return i
}

// dcCrossed are the positions of the features the dc_x_* ones repeat.
var dcCrossed = func() []int {
	var out []int
	for _, n := range []string{"h_accept_language", "al_qvalues", "h_accept_encoding", "h_sec_fetch", "h_upgrade_insecure", "h_cookie", "h_referer", "ae_br", "tls_browser"} {
		i := slices.Index(featureNames, n)
		if i < 0 {
			panic("ml: dcCrossed names unknown feature " + n)
		}
		out = append(out, i)
	}
	return out
}()

func hasTagPrefix(tags []string, prefix string) bool {
	for _, t := range tags {
		if strings.HasPrefix(t, prefix) {
			return true
		}
	}
	return false
}

// mainstreamBrowser: the families people browse with (and stealth clients
// claim).
func mainstreamBrowser(f useragent.Family) bool {
	switch f {
	case useragent.FamilyChrome, useragent.FamilyEdge, useragent.FamilyFirefox, useragent.FamilySafari,
		useragent.FamilyOpera, useragent.FamilySamsung, useragent.FamilyYandex:
		return true
	}
	return false
}

// lagging: a Chromium or Firefox more than two releases but less than a
// year behind. Both update themselves within weeks, so a person is rarely
// there for long; a scraper that copied a UA string once stays there.
func lagging(a useragent.Agent) bool {
	ver := a.Major
	if a.Engine == useragent.EngineBlink {
		ver = a.ChromiumMajor
	} else if a.Engine != useragent.EngineGecko {
		return false
	}
	cur, ok := currentRelease[a.Engine]
	return ok && ver > 0 && cur-ver > 2 && cur-ver <= 12
}

// familyMismatch: the TLS stack is a known one and not the one the claimed
// browser uses (Chromium's handshake under a Firefox or Safari UA, a
// library's under any browser's).
func familyMismatch(e heuristics.JA4Entry, f useragent.Family) bool {
	if !mainstreamBrowser(f) {
		return false
	}
	if !e.Browser {
		return true
	}
	return e.Stack == "chromium" && (f == useragent.FamilyFirefox || f == useragent.FamilySafari)
}

// isPage reports an HTML page view: a GET for a document, not an asset or
// API call. The pace features count these.
func isPage(r *detect.Request, pc pathClass) bool {
	if r.Method != "GET" && r.Method != "" {
		return false
	}
	if pc != pathHTML && pc != pathLogin {
		return false
	}
	if d := r.Headers.Get("sec-fetch-dest"); d != "" {
		return d == "document"
	}
	return strings.Contains(r.Headers.Get("accept"), "text/html")
}

// versionAge buckets how far the claimed engine version is behind the
// current release: recent (about a year), old, ancient, or in the future.
func versionAge(a useragent.Agent) (recent, old, ancient, future bool) {
	cur, ok := currentRelease[a.Engine]
	ver := a.Major
	if a.Engine == useragent.EngineBlink {
		ver = a.ChromiumMajor
	}
	if !ok || ver == 0 {
		return false, false, a.Engine == useragent.EngineTrident || a.Engine == useragent.EnginePresto || a.Engine == useragent.EngineEdgeHTML, false
	}
	yearly := 12 // Chromium and Firefox ship about 12 majors a year
	if a.Engine == useragent.EngineWebKit {
		yearly = 1
	}
	age := cur - ver
	switch {
	case age < -2*yearly/12-1:
		return false, false, false, true
	case age <= yearly:
		return true, false, false, false
	case age <= 4*yearly:
		return false, true, false, false
	}
	return false, false, true, false
}

// brandMatches reports whether Sec-CH-UA names the brand the UA claims.
func brandMatches(chua string, a useragent.Agent) bool {
	if chua == "" {
		return false
	}
	switch a.Family {
	case useragent.FamilyChrome:
		return strings.Contains(chua, `"Google Chrome"`) || strings.Contains(chua, `"Chromium"`)
	case useragent.FamilyEdge:
		return strings.Contains(chua, `"Microsoft Edge"`)
	case useragent.FamilyOpera:
		return strings.Contains(chua, `"Opera"`)
	case useragent.FamilyYandex:
		return strings.Contains(chua, `"Yandex"`) || strings.Contains(chua, `"YaBrowser"`)
	}
	return strings.Contains(chua, `"Chromium"`)
}

// orderInverted reports the two orderings every browser shares and many
// libraries break: User-Agent before Accept-Language, and Accept-Encoding
// before Accept-Language... except Firefox, which sends Accept-Language
// first. So only the first is used.
func orderInverted(order []string) bool {
	ua, al := -1, -1
	for i, n := range order {
		switch strings.ToLower(n) {
		case "user-agent":
			ua = i
		case "accept-language":
			al = i
		}
	}
	return ua >= 0 && al >= 0 && al < ua
}

type pathClass uint8

const (
	pathHTML pathClass = iota
	pathStatic
	pathAPI
	pathLogin
	pathRobots
	pathSuspicious
)

var staticExt = []string{".js", ".css", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".woff", ".woff2", ".ttf", ".webp", ".avif", ".mp4", ".webm", ".map", ".mjs"}

// classifyPath sorts a path (without query) into the classes the features
// use; suspicious are the probes of vulnerability scanners.
func classifyPath(p string) pathClass {
	lp := strings.ToLower(p)
	switch {
	case strings.Contains(lp, "/.env") || strings.Contains(lp, "/.git") || strings.Contains(lp, "/wp-") ||
		strings.Contains(lp, "/cgi-bin") || strings.Contains(lp, "phpmyadmin") || strings.HasSuffix(lp, ".php") ||
		strings.Contains(lp, "/../") || strings.Contains(lp, "/etc/passwd"):
		return pathSuspicious
	case lp == "/robots.txt" || strings.HasPrefix(lp, "/sitemap") || strings.HasPrefix(lp, "/.well-known/") ||
		strings.HasSuffix(lp, ".xml") || strings.HasSuffix(lp, ".rss") || strings.Contains(lp, "/feed"):
		return pathRobots
	case strings.HasPrefix(lp, "/api/") || strings.HasPrefix(lp, "/graphql") || strings.HasSuffix(lp, ".json"):
		return pathAPI
	case strings.Contains(lp, "login") || strings.Contains(lp, "signin") || strings.Contains(lp, "/auth") || strings.Contains(lp, "/account"):
		return pathLogin
	}
	for _, ext := range staticExt {
		if strings.HasSuffix(lp, ext) {
			return pathStatic
		}
	}
	return pathHTML
}
