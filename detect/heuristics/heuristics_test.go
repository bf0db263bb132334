package heuristics_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics"
	"github.com/botwarden/botwarden/detect/ml/corpus"
)

const (
	uaChrome    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36"
	uaChromeMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/146.0.0.0 Safari/537.36"
	uaAndroid   = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Mobile Safari/537.36"
	uaEdge      = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36 Edg/147.0.0.0"
	uaFirefox   = "Mozilla/5.0 (X11; Linux x86_64; rv:150.0) Gecko/20100101 Firefox/150.0"
	uaSafari    = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.4 Safari/605.1.15"
	uaIPhone    = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
	uaIE11      = "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko"
	uaChrome66  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/66.0.3359.181 Safari/537.36"
	uaWebView   = "Mozilla/5.0 (Linux; Android 12; Pixel 6 Build/SD1A.210817.036; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.43 Mobile Safari/537.36"
)

func newEngine(t testing.TB, mod func(*heuristics.Config)) *heuristics.Engine {
	t.Helper()
	cfg := heuristics.DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	e, err := heuristics.New(cfg, zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var shared *heuristics.Engine

func engine(t testing.TB) *heuristics.Engine {
	if shared == nil {
		shared = newEngine(t, nil)
	}
	return shared
}

// browser returns the request the browser sends (from the corpus profiles).
func browser(ua string, kind corpus.Kind) *detect.Request {
	e := corpus.BrowserRequest(1, ua, kind)
	r := e.Request()
	r.Scheme, r.Protocol = "https", "HTTP/2"
	r.HeaderOrder = e.HeaderOrder
	return r
}

// botReq returns the request tool sends with ua.
func botReq(seed uint64, ua string, tool corpus.Tool) *detect.Request {
	e := corpus.BotRequest(seed, ua, tool)
	return e.Request()
}

func evaluate(t testing.TB, e *heuristics.Engine, r *detect.Request) *detect.Verdict {
	t.Helper()
	v := &detect.Verdict{}
	if err := e.Evaluate(context.Background(), r, v); err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	return v
}

func without(r *detect.Request, names ...string) *detect.Request {
	for _, n := range names {
		delete(r.Headers, n)
		r.HeaderOrder = slices.DeleteFunc(slices.Clone(r.HeaderOrder), func(s string) bool { return s == n })
	}
	return r
}

func with(r *detect.Request, kv ...string) *detect.Request {
	for i := 0; i+1 < len(kv); i += 2 {
		r.Headers[kv[i]] = kv[i+1]
	}
	return r
}

// TestBrowsersPass: real browsers' requests, every kind, old and new, over
// HTTPS and HTTP, trigger no detection.
func TestBrowsersPass(t *testing.T) {
	e := engine(t)
	for _, ua := range []string{uaChrome, uaChromeMac, uaAndroid, uaEdge, uaFirefox, uaSafari, uaIPhone, uaIE11, uaChrome66, uaWebView} {
		for _, kind := range corpus.Kinds {
			for _, scheme := range []string{"https", "http"} {
				r := browser(ua, kind)
				r.Scheme = scheme
				if v := evaluate(t, e, r); v.Score != 0 {
					t.Errorf("%s %s over %s: score %d, detections %v, tags %v\nheaders %v", ua, kind, scheme, v.Score, v.DetectionIDs, v.Tags, r.Headers)
				}
			}
		}
	}
}

// TestRules checks each detection of the catalogue fires on the input it is
// made for, and only the expected IDs fire.
func TestRules(t *testing.T) {
	tests := []struct {
		name string
		req  func() *detect.Request
		want []int
	}{
		{"empty UA", func() *detect.Request { return without(browser(uaChrome, corpus.KindNavigate), "user-agent") }, []int{heuristics.IDEmptyUA}},
		{"oversized UA", func() *detect.Request {
			return with(browser(uaFirefox, corpus.KindNavigate), "user-agent", uaFirefox+strings.Repeat(" x", 600))
		}, []int{heuristics.IDOversizedUA}},
		{"control characters", func() *detect.Request {
			return with(browser(uaFirefox, corpus.KindNavigate), "user-agent", uaFirefox+"\x00\x07")
		}, []int{heuristics.IDMalformedUA}},
		{"invalid UTF-8", func() *detect.Request {
			return with(browser(uaFirefox, corpus.KindNavigate), "user-agent", "Mozilla/5.0 \xff\xfe")
		}, []int{heuristics.IDMalformedUA}},
		{"curl", func() *detect.Request { return botReq(1, "curl/8.5.0", corpus.ToolCurl) }, []int{heuristics.IDHTTPLibrary}},
		{"python-requests", func() *detect.Request {
			return botReq(1, "python-requests/2.32.3", corpus.ToolRequests)
		}, []int{heuristics.IDHTTPLibrary}},
		{"headless chrome UA", func() *detect.Request {
			r := browser(uaChrome, corpus.KindNavigate)
			return with(r, "user-agent", strings.Replace(uaChrome, "Chrome/", "HeadlessChrome/", 1))
		}, []int{heuristics.IDHeadless}},
		{"GPTBot", func() *detect.Request {
			return botReq(1, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", corpus.ToolCrawler)
		}, []int{heuristics.IDAITraining}},
		{"ChatGPT-User", func() *detect.Request {
			return botReq(1, "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot", corpus.ToolCrawler)
		}, []int{heuristics.IDAIUser}},
		{"sqlmap", func() *detect.Request {
			return botReq(1, "sqlmap/1.8.2#stable (https://sqlmap.org)", corpus.ToolScanner)
		}, []int{heuristics.IDSecurityScanner}},
		{"from header", func() *detect.Request {
			return with(browser(uaFirefox, corpus.KindNavigate), "from", "bot@example.org")
		}, []int{heuristics.IDFromHeader}},
		{"HeadlessChrome brand", func() *detect.Request {
			return with(browser(uaChrome, corpus.KindNavigate), "sec-ch-ua", `"HeadlessChrome";v="147", "Chromium";v="147", "Not.A/Brand";v="99"`)
		}, []int{heuristics.IDHeadlessCHUA}},
		{"chrome without client hints", func() *detect.Request {
			return without(browser(uaChrome, corpus.KindNavigate), "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform")
		}, []int{heuristics.IDChromiumNoClientHints}},
		{"edge without sec-fetch", func() *detect.Request {
			return without(browser(uaEdge, corpus.KindXHR), "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest")
		}, []int{heuristics.IDChromiumNoSecFetch}},
		{"firefox without sec-fetch", func() *detect.Request {
			return without(browser(uaFirefox, corpus.KindNavigate), "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user")
		}, []int{heuristics.IDChromiumNoSecFetch}},
		{"chrome without accept-language", func() *detect.Request {
			return without(browser(uaChrome, corpus.KindSubresource), "accept-language")
		}, []int{heuristics.IDNoAcceptLanguage}},
		{"IE without accept-language", func() *detect.Request { return without(browser(uaIE11, corpus.KindNavigate), "accept-language") }, []int{heuristics.IDNoAcceptLanguage}},
		{"firefox with client hints", func() *detect.Request {
			return with(browser(uaFirefox, corpus.KindNavigate), "sec-ch-ua", `"Chromium";v="147"`)
		}, []int{heuristics.IDUnexpectedClientHints}},
		{"safari with client hints", func() *detect.Request {
			return with(browser(uaIPhone, corpus.KindNavigate), "sec-ch-ua", `"Chromium";v="147"`)
		}, []int{heuristics.IDUnexpectedClientHints}},
		{"platform mismatch", func() *detect.Request {
			return with(browser(uaChrome, corpus.KindNavigate), "sec-ch-ua-platform", `"macOS"`)
		}, []int{heuristics.IDPlatformMismatch}},
		{"duplicate platform headers", func() *detect.Request {
			return with(browser(uaChrome, corpus.KindNavigate), "sec-ch-ua-platform", `"Windows","macOS"`)
		}, []int{heuristics.IDPlatformMismatch}},
		{"navigation with */*", func() *detect.Request { return with(browser(uaChrome, corpus.KindNavigate), "accept", "*/*") }, []int{heuristics.IDNavigationAcceptAny}},
		{"browser without accept", func() *detect.Request { return without(browser(uaSafari, corpus.KindNavigate), "accept") }, []int{heuristics.IDNoAccept}},
		{"HTTP/1.0 browser", func() *detect.Request {
			r := browser(uaFirefox, corpus.KindNavigate)
			r.Protocol = "HTTP/1.0"
			return r
		}, []int{heuristics.IDHTTP10Browser}},
		{"header order", func() *detect.Request {
			r := browser(uaChrome, corpus.KindNavigate)
			r.HeaderOrder = []string{"user-agent", "accept-language", "accept-encoding", "accept", "sec-ch-ua", "sec-fetch-site"}
			return r
		}, []int{heuristics.IDHeaderOrder}},
		{"client hints version", func() *detect.Request {
			return with(browser(uaChrome, corpus.KindNavigate), "sec-ch-ua", `"Chromium";v="120", "Google Chrome";v="120", "Not.A/Brand";v="99"`)
		}, []int{heuristics.IDClientHintsVersion}},
		{"browser UA over curl's TLS", func() *detect.Request {
			return with(browser(uaChrome, corpus.KindNavigate), detect.HeaderJA4, "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6")
		}, []int{heuristics.IDJA4Mismatch}},
		{"browser UA over Go's TLS to an IP", func() *detect.Request {
			return with(browser(uaFirefox, corpus.KindNavigate), detect.HeaderJA4, "t13i1312h2_f57a46bbacb6_ab7e3b40a677")
		}, []int{heuristics.IDJA4Mismatch}},
	}
	covered := map[int]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := evaluate(t, engine(t), tt.req())
			if !slices.Equal(v.DetectionIDs, tt.want) {
				t.Errorf("detections %v, want %v (tags %v)", v.DetectionIDs, tt.want, v.Tags)
			}
			if v.Score != detect.ScoreAutomated || v.Source != detect.SourceHeuristics {
				t.Errorf("score %d from %s, want 1 from heuristics", v.Score, v.Source)
			}
			for _, id := range tt.want {
				d, _ := heuristics.Lookup(id)
				for _, tag := range d.Tags {
					if !v.HasTag(tag) {
						t.Errorf("tag %q of detection %d missing: %v", tag, id, v.Tags)
					}
				}
				covered[id] = true
			}
		})
	}
	// Every catalogue entry but the category IDs covered by TestCategoryIDs
	// has a rule test here.
	for _, d := range heuristics.Catalogue {
		if !covered[d.ID] && d.Family != "user-agent" {
			t.Errorf("detection %d (%s) has no rule test", d.ID, d.Name)
		}
	}
}

// TestCategoryIDs: every UA category's detection fires on a fixture of that
// category.
func TestCategoryIDs(t *testing.T) {
	e := engine(t)
	uas := map[heuristics.Category]string{
		heuristics.CategoryHTTPLibrary:     "Go-http-client/1.1",
		heuristics.CategoryHeadless:        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/113.0.5672.63 Safari/537.36",
		heuristics.CategoryScraper:         "Scrapy/2.11.2 (+https://scrapy.org)",
		heuristics.CategorySEO:             "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
		heuristics.CategoryMonitoring:      "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
		heuristics.CategoryFeed:            "Feedly/1.0 (+http://www.feedly.com/fetcher.html; like FeedFetcher-Google)",
		heuristics.CategoryArchiver:        "Mozilla/5.0 (compatible; archive.org_bot +http://www.archive.org/details/archive.org_bot)",
		heuristics.CategorySecurityScanner: "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
		heuristics.CategoryAITraining:      "CCBot/2.0 (https://commoncrawl.org/faq/)",
		heuristics.CategoryAISearch:        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot)",
		heuristics.CategoryAIUser:          "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; +https://perplexity.ai/perplexity-user)",
		heuristics.CategorySearch:          "Mozilla/5.0 (compatible; MojeekBot/0.11; +https://www.mojeek.com/bot.html)",
		heuristics.CategorySocial:          "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
		heuristics.CategoryUnclassified:    "Mozilla/5.0 (compatible; SomeNewCrawlerBot/1.0)",
	}
	for cat, ua := range uas {
		m := e.UADB().Classify(ua)
		if m.Category != cat {
			t.Errorf("%s: category %q (%s: %s), want %q", ua, m.Category, m.Source, m.Pattern, cat)
			continue
		}
		if !m.Certain {
			t.Logf("%s: matched by %s only (not certain): left to the ML score", ua, m.Sources)
			continue
		}
		v := evaluate(t, e, &detect.Request{Method: "GET", Headers: detect.Headers{"user-agent": ua}})
		if !slices.Contains(v.DetectionIDs, heuristics.DetectionFor(cat)) {
			t.Errorf("%s: detections %v, want %d", ua, v.DetectionIDs, heuristics.DetectionFor(cat))
		}
	}
}

func TestDisabledDetections(t *testing.T) {
	e := newEngine(t, func(c *heuristics.Config) { c.DisabledDetections = []int{heuristics.IDNoAcceptLanguage} })
	if v := evaluate(t, e, without(browser(uaChrome, corpus.KindNavigate), "accept-language")); v.Score != 0 {
		t.Errorf("disabled detection fired: %v", v.DetectionIDs)
	}
}

func TestExtraPatternsAndJA4(t *testing.T) {
	e := newEngine(t, func(c *heuristics.Config) {
		c.ExtraPatterns = []heuristics.ExtraPattern{{Pattern: `^AcmeMonitor/\d`, Category: heuristics.CategoryMonitoring}}
		c.JA4Fingerprints = []heuristics.JA4Entry{{JA4: "t13d1715h2_5b57614c22b0", Stack: "acme-scraper", Source: "ops"}}
	})
	v := evaluate(t, e, &detect.Request{Headers: detect.Headers{"user-agent": "AcmeMonitor/2.1"}})
	if !slices.Equal(v.DetectionIDs, []int{heuristics.IDMonitoring}) {
		t.Errorf("extra pattern: detections %v", v.DetectionIDs)
	}
	v = evaluate(t, e, with(browser(uaFirefox, corpus.KindNavigate), detect.HeaderJA4, "t13d1715h2_5b57614c22b0_3cbfd9057e0d"))
	if !slices.Equal(v.DetectionIDs, []int{heuristics.IDJA4Mismatch}) || !v.HasTag("tls-acme-scraper") {
		t.Errorf("configured JA4 prefix: detections %v tags %v", v.DetectionIDs, v.Tags)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*heuristics.Config)
		want string
	}{
		{"defaults", func(*heuristics.Config) {}, ""},
		{"ua cap", func(c *heuristics.Config) { c.MaxUALength = 10 }, "max_ua_length"},
		{"ja4 shape", func(c *heuristics.Config) { c.JA4Fingerprints = []heuristics.JA4Entry{{JA4: "nope", Stack: "x"}} }, "ja4_fingerprints[0].ja4"},
		{"ja4 stack", func(c *heuristics.Config) {
			c.JA4Fingerprints = []heuristics.JA4Entry{{JA4: "t13d1516h2_8daaf6152771"}}
		}, "ja4_fingerprints[0].stack"},
		{"category", func(c *heuristics.Config) {
			c.ExtraPatterns = []heuristics.ExtraPattern{{Pattern: "x", Category: "robots"}}
		}, "extra_patterns[0].category"},
		{"bad regexp", func(c *heuristics.Config) {
			c.ExtraPatterns = []heuristics.ExtraPattern{{Pattern: "(?<!x)y", Category: heuristics.CategorySEO}}
		}, "extra_patterns[0]"},
		{"detection", func(c *heuristics.Config) { c.DisabledDetections = []int{42} }, "disabled_detections[0]"},
	}
	for _, tt := range tests {
		cfg := heuristics.DefaultConfig()
		tt.mod(&cfg)
		err := cfg.Validate()
		if err == nil {
			_, err = heuristics.New(cfg, zerolog.Nop(), nil)
		}
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
		}
	}
}

// TestCatalogue: IDs are unique, in the engine's range, and described.
func TestCatalogue(t *testing.T) {
	seen := map[int]bool{}
	names := map[string]bool{}
	for _, d := range heuristics.Catalogue {
		if seen[d.ID] || names[d.Name] {
			t.Errorf("duplicate detection %d %s", d.ID, d.Name)
		}
		seen[d.ID], names[d.Name] = true, true
		if d.ID < 10000 || d.ID > 10999 || d.Description == "" || len(d.Tags) == 0 || d.Family == "" {
			t.Errorf("incomplete or out-of-range detection %+v", d)
		}
	}
	for _, c := range heuristics.Categories() {
		if _, ok := heuristics.Lookup(heuristics.DetectionFor(c)); !ok {
			t.Errorf("category %s has no detection", c)
		}
	}
}

// TestBadInput: hostile user agents and headers always give a verdict.
func TestBadInput(t *testing.T) {
	e := engine(t)
	for name, r := range map[string]*detect.Request{
		"10 KiB UA":          {Headers: detect.Headers{"user-agent": strings.Repeat("Mozilla/5.0 ", 900)}},
		"binary UA":          {Headers: detect.Headers{"user-agent": "\x00\x01\x02\xff\xfe\x80"}},
		"control chars":      {Headers: detect.Headers{"user-agent": "Mozilla/5.0\r\n(X11)\x1b[31m"}},
		"nil headers":        {},
		"duplicate UAs":      {Headers: detect.Headers{"user-agent": uaChrome + "," + "curl/8.5.0"}},
		"contradicting dups": {Scheme: "https", Headers: detect.Headers{"user-agent": uaChrome, "sec-ch-ua": `"Chromium";v="147","Chromium";v="99"`, "sec-ch-ua-platform": `"Windows","Linux"`, "accept": "*/*,text/html"}},
		"garbage sec-ch-ua":  {Scheme: "https", Headers: detect.Headers{"user-agent": uaChrome, "sec-ch-ua": `"Chromium";v="`, "accept-language": "en"}},
		"huge version":       {Headers: detect.Headers{"user-agent": "Mozilla/5.0 Chrome/99999999999999999999999 Safari/1 AppleWebKit/1", "sec-ch-ua": `"Chromium";v="99999999999999999999"`}},
		"garbage JA4":        {Headers: detect.Headers{"user-agent": uaChrome, detect.HeaderJA4: strings.Repeat("_", 300)}},
	} {
		t.Run(name, func(t *testing.T) {
			v := evaluate(t, e, r)
			t.Logf("score %d detections %v", v.Score, v.DetectionIDs)
		})
	}
	v := evaluate(t, e, &detect.Request{Headers: detect.Headers{"user-agent": strings.Repeat("a", 10<<10)}})
	if !slices.Contains(v.DetectionIDs, heuristics.IDOversizedUA) {
		t.Errorf("10 KiB UA: detections %v, want %d", v.DetectionIDs, heuristics.IDOversizedUA)
	}
}

func FuzzClassifyUA(f *testing.F) {
	for _, s := range []string{uaChrome, uaIPhone, "curl/8.5.0", "", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "\xff\x00", strings.Repeat("bot", 400)} {
		f.Add(s, "")
	}
	f.Add(uaChrome, `"Chromium";v="147"`)
	e := newEngine(f, nil)
	f.Fuzz(func(t *testing.T, ua, chua string) {
		m := e.UADB().Classify(ua)
		if m.Certain && !m.Bot || m.Bot && m.Category == "" {
			t.Fatalf("inconsistent match %+v for %q", m, ua)
		}
		r := &detect.Request{Method: "GET", Scheme: "https", Protocol: "HTTP/2", Headers: detect.Headers{"user-agent": ua, "sec-ch-ua": chua, "sec-ch-ua-platform": chua}, HeaderOrder: []string{"sec-ch-ua", "user-agent"}}
		v := evaluate(t, e, r)
		if len(v.DetectionIDs) > 0 && v.Score != detect.ScoreAutomated {
			t.Fatalf("detections %v but score %d", v.DetectionIDs, v.Score)
		}
	})
}
