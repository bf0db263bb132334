package verified

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Verified-bot categories (detect.Verdict.VerifiedCategory, policy
// bot.verified_category). They are Cloudflare's verified-bot categories in
// snake case; CategoryLabel gives Cloudflare's exact spelling for exports.
const (
	CategorySearchEngine    = "search_engine"
	CategoryAICrawler       = "ai_crawler"
	CategoryAISearch        = "ai_search"
	CategoryAIAssistant     = "ai_assistant"
	CategoryMonitoring      = "monitoring"
	CategoryFeedFetcher     = "feed_fetcher"
	CategorySocialPreview   = "social_preview"
	CategoryArchiver        = "archiver"
	CategoryAdvertising     = "advertising"
	CategoryAccessibility   = "accessibility"
	CategoryAcademic        = "academic_research"
	CategoryAggregator      = "aggregator"
	CategorySEO             = "seo"
	CategorySecurity        = "security"
	CategorySocialMarketing = "social_media_marketing"
	CategoryWebhooks        = "webhooks"
	CategoryOther           = "other"
)

// categoryLabels maps our category names to Cloudflare's
// cf.verified_bot_category strings (reference/commercial.md §1.6).
var categoryLabels = map[string]string{
	CategoryAcademic:        "Academic Research",
	CategoryAccessibility:   "Accessibility",
	CategoryAdvertising:     "Advertising & Marketing",
	CategoryAggregator:      "Aggregator",
	CategoryAIAssistant:     "AI Assistant",
	CategoryAICrawler:       "AI Crawler",
	CategoryAISearch:        "AI Search",
	CategoryArchiver:        "Archiver",
	CategoryFeedFetcher:     "Feed Fetcher",
	CategoryMonitoring:      "Monitoring & Analytics",
	CategorySocialPreview:   "Page Preview",
	CategorySearchEngine:    "Search Engine Crawler",
	CategorySEO:             "Search Engine Optimization",
	CategorySecurity:        "Security",
	CategorySocialMarketing: "Social Media Marketing",
	CategoryWebhooks:        "Webhooks",
	CategoryOther:           "Other",
}

// Categories returns every valid category name, sorted.
func Categories() []string {
	out := make([]string, 0, len(categoryLabels))
	for c := range categoryLabels {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// CategoryLabel returns Cloudflare's spelling of category c ("" if unknown).
func CategoryLabel(c string) string { return categoryLabels[c] }

// Detection IDs owned by this package (range 2000–2999).
const (
	// IDVerifiedRanges: the UA claims a bot and the client address is in
	// that bot's published ranges.
	IDVerifiedRanges = 2001
	// IDVerifiedFCrDNS: the UA claims a bot and forward-confirmed reverse
	// DNS puts the address under one of the operator's documented domains.
	IDVerifiedFCrDNS = 2002
	// IDSpoofedRanges: the UA claims a bot whose operator publishes ranges
	// but documents no reverse-DNS check, from an address outside them.
	IDSpoofedRanges = 2010
	// IDSpoofedFCrDNS: the UA claims a bot from outside its ranges and
	// forward-confirmed reverse DNS failed (no PTR, PTR outside the
	// operator's domains, or forward lookup not back to the address).
	IDSpoofedFCrDNS = 2011
)

// DetectionIDs describes every detection ID this package emits, for the
// central catalogue.
var DetectionIDs = map[int]string{
	IDVerifiedRanges: "verified bot: user agent claims a known bot and the address is in its operator's published ranges",
	IDVerifiedFCrDNS: "verified bot: user agent claims a known bot and forward-confirmed reverse DNS is under its operator's domain",
	IDSpoofedRanges:  "spoofed bot: user agent claims a bot that only comes from published ranges, from an address outside them",
	IDSpoofedFCrDNS:  "spoofed bot: user agent claims a bot from outside its ranges and forward-confirmed reverse DNS failed",
}

// Bot is one verifiable crawler or fetcher.
type Bot struct {
	// ID is short, lower-case and tag-safe: it appears in verdicts
	// (VerifiedBot) and tags (spoofed-<id>, unverified-<id>).
	ID       string `yaml:"id"`
	Operator string `yaml:"operator"`
	Category string `yaml:"category"`
	// Tokens are the names whose presence in a user agent claims this bot,
	// matched case-insensitively on word boundaries: a token "googlebot"
	// matches "Googlebot/2.1" and "Googlebot-Image/1.0" but not
	// "NotGooglebot". Tokens may span words ("updown.io" matches "updown.io
	// daemon"). Keep them specific: a token that a human's browser or app
	// sends (the Yandex app says "YandexSearch") would get humans tagged
	// spoofed.
	Tokens []string `yaml:"tokens"`
	// Sets name the range sets (embedded snapshot or ranges file) holding
	// the addresses the operator publishes for this bot.
	Sets []string `yaml:"sets"`
	// Prefixes are extra CIDRs (for bots defined in the configuration).
	Prefixes []string `yaml:"prefixes"`
	// RDNS are the domains a forward-confirmed PTR name must be in
	// ("googlebot.com" accepts crawl-1-2-3-4.googlebot.com). Empty when the
	// operator documents no reverse-DNS verification: then an address
	// outside Sets is a spoof at once.
	RDNS []string `yaml:"rdns"`
	// Docs is the operator's page describing the bot and its verification.
	Docs string `yaml:"docs"`
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,40}$`)

// Validate checks a bot definition; errors name the field.
func (b Bot) Validate() error {
	if !idRE.MatchString(b.ID) {
		return fmt.Errorf("id %q: want 1-41 lower-case letters, digits, '.', '_' or '-'", b.ID)
	}
	if _, ok := categoryLabels[b.Category]; !ok {
		return fmt.Errorf("bot %s: category %q: want one of %s", b.ID, b.Category, strings.Join(Categories(), ", "))
	}
	if len(b.Tokens) == 0 {
		return fmt.Errorf("bot %s: tokens: at least one user-agent token is required", b.ID)
	}
	for _, t := range b.Tokens {
		if phraseWords(t) == nil {
			return fmt.Errorf("bot %s: tokens: %q: want 1-%d words of ASCII letters and digits, each at most %d long", b.ID, t, maxPhraseWords, maxWordLen)
		}
	}
	if len(b.Sets) == 0 && len(b.Prefixes) == 0 && len(b.RDNS) == 0 {
		return fmt.Errorf("bot %s: one of sets, prefixes or rdns is required (nothing to verify against)", b.ID)
	}
	for _, d := range b.RDNS {
		if d == "" || strings.Trim(d, ".") != d || strings.ContainsAny(d, " */") {
			return fmt.Errorf("bot %s: rdns: %q is not a domain name", b.ID, d)
		}
	}
	return nil
}

// Official documentation, cited per bot.
const (
	docGoogle     = "https://developers.google.com/search/docs/crawling-indexing/verifying-googlebot"
	docGoogleList = "https://developers.google.com/search/docs/crawling-indexing/google-common-crawlers"
	docBing       = "https://www.bing.com/webmasters/help/how-to-verify-bingbot-3905dc26"
	docOpenAI     = "https://platform.openai.com/docs/bots"
	docPerplexity = "https://docs.perplexity.ai/guides/bots"
	docDDG        = "https://duckduckgo.com/duckduckgo-help-pages/results/duckduckbot"
	docDDGAssist  = "https://duckduckgo.com/duckduckgo-help-pages/results/duckassistbot"
	docApple      = "https://support.apple.com/en-us/119829"
	docCCBot      = "https://commoncrawl.org/ccbot"
	docMeta       = "https://developers.facebook.com/docs/sharing/webmasters/web-crawlers"
	docYandex     = "https://yandex.com/support/webmaster/robot-workings/check-yandex-robots.html"
	docBaidu      = "https://help.baidu.com/question?prod_id=99&class=476&id=2996"
	docAmazon     = "https://developer.amazon.com/amazonbot"
)

// Google's three crawler groups each have their own list and PTR mask
// (docGoogle): common crawlers crawl-*.googlebot.com / geo-crawl-*.geo.googlebot.com
// (googlebot.json), special-case crawlers rate-limited-proxy-*.google.com
// (special-crawlers.json), user-triggered fetchers *.gae.googleusercontent.com
// or google-proxy-*.google.com (user-triggered-fetchers*.json). The general
// googleusercontent.com domain is deliberately NOT accepted for Googlebot:
// every Google Cloud VM has a forward-confirming PTR under it.
var (
	rdnsGoogleCrawler = []string{"googlebot.com", "google.com"}
	rdnsGoogleSpecial = []string{"google.com"}
	rdnsGoogleFetcher = []string{"google.com", "gae.googleusercontent.com"}
	setsGoogleFetcher = []string{"google-fetchers", "google-fetchers-gcp"}
)

// yandexTokens are Yandex's robot names (docYandex lists them). Not a bare
// "yandex": the Yandex apps used by people send "YandexSearch/…".
var yandexTokens = []string{
	"yandexbot", "yandexmobilebot", "yandeximages", "yandexvideo", "yandexvideoparser",
	"yandexmedia", "yandexaccessibilitybot", "yandexrenderresourcesbot", "yandexadnet",
	"yandexblogs", "yandexfavicons", "yandexwebmaster", "yandexpagechecker", "yandexmarket",
	"yandexnews", "yandexdirect", "yandexdirectdyn", "yadirectfetcher", "yandexmetrika",
	"yandexcalendar", "yandexsitelinks", "yandexspravbot", "yandextracker", "yandexadditional",
	"yandexadditionalbot", "yandexontodb", "yandexontodbapi", "yandexcombot", "yandexvertis",
	"yandexmedianabot", "yandexscreenshotbot", "yandexsearchshop", "yandexverticals",
	"yandexfordomain", "yandeximageresizer",
}

// builtinBots is the catalogue. Order matters only for reporting.
var builtinBots = []Bot{
	{ID: "googlebot", Operator: "Google", Category: CategorySearchEngine,
		Tokens: []string{"googlebot", "storebot-google", "google-inspectiontool"},
		Sets:   []string{"google-crawlers"}, RDNS: rdnsGoogleCrawler, Docs: docGoogle},
	{ID: "googleother", Operator: "Google", Category: CategoryOther,
		Tokens: []string{"googleother", "google-cloudvertexbot"},
		Sets:   []string{"google-crawlers"}, RDNS: rdnsGoogleCrawler, Docs: docGoogleList},
	{ID: "google-special", Operator: "Google", Category: CategoryAdvertising,
		Tokens: []string{"adsbot-google", "mediapartners-google", "apis-google", "google-safety"},
		Sets:   []string{"google-special-crawlers"}, RDNS: rdnsGoogleSpecial, Docs: docGoogle},
	{ID: "feedfetcher-google", Operator: "Google", Category: CategoryFeedFetcher,
		Tokens: []string{"feedfetcher-google", "googleproducer"},
		Sets:   setsGoogleFetcher, RDNS: rdnsGoogleFetcher, Docs: docGoogle},
	{ID: "google-read-aloud", Operator: "Google", Category: CategoryAccessibility,
		Tokens: []string{"google-read-aloud"},
		Sets:   setsGoogleFetcher, RDNS: rdnsGoogleFetcher, Docs: docGoogle},
	{ID: "google-site-verification", Operator: "Google", Category: CategoryWebhooks,
		Tokens: []string{"google-site-verification"},
		Sets:   setsGoogleFetcher, RDNS: rdnsGoogleFetcher, Docs: docGoogle},
	{ID: "google-notebooklm", Operator: "Google", Category: CategoryAIAssistant,
		Tokens: []string{"google-notebooklm"},
		Sets:   setsGoogleFetcher, RDNS: rdnsGoogleFetcher, Docs: docGoogle},
	{ID: "bingbot", Operator: "Microsoft", Category: CategorySearchEngine,
		Tokens: []string{"bingbot", "adidxbot", "bingpreview", "msnbot"},
		Sets:   []string{"bingbot"}, RDNS: []string{"search.msn.com"}, Docs: docBing},
	{ID: "gptbot", Operator: "OpenAI", Category: CategoryAICrawler,
		Tokens: []string{"gptbot"}, Sets: []string{"openai-gptbot", "openai"}, Docs: docOpenAI},
	{ID: "oai-searchbot", Operator: "OpenAI", Category: CategoryAISearch,
		Tokens: []string{"oai-searchbot"}, Sets: []string{"openai-searchbot", "openai"}, Docs: docOpenAI},
	{ID: "chatgpt-user", Operator: "OpenAI", Category: CategoryAIAssistant,
		Tokens: []string{"chatgpt-user"}, Sets: []string{"openai-chatgpt-user", "openai"}, Docs: docOpenAI},
	{ID: "perplexitybot", Operator: "Perplexity", Category: CategoryAISearch,
		Tokens: []string{"perplexitybot"}, Sets: []string{"perplexitybot", "perplexity"}, Docs: docPerplexity},
	{ID: "perplexity-user", Operator: "Perplexity", Category: CategoryAIAssistant,
		Tokens: []string{"perplexity-user"}, Sets: []string{"perplexity-user", "perplexity"}, Docs: docPerplexity},
	{ID: "duckduckbot", Operator: "DuckDuckGo", Category: CategorySearchEngine,
		Tokens: []string{"duckduckbot"}, Sets: []string{"duckduckbot"}, Docs: docDDG},
	{ID: "duckassistbot", Operator: "DuckDuckGo", Category: CategoryAIAssistant,
		Tokens: []string{"duckassistbot"}, Sets: []string{"duckassistbot"}, Docs: docDDGAssist},
	{ID: "applebot", Operator: "Apple", Category: CategorySearchEngine,
		Tokens: []string{"applebot"}, Sets: []string{"applebot"}, RDNS: []string{"applebot.apple.com"}, Docs: docApple},
	{ID: "ccbot", Operator: "Common Crawl", Category: CategoryAICrawler,
		Tokens: []string{"ccbot"}, Sets: []string{"ccbot"}, Docs: docCCBot},
	{ID: "amazonbot", Operator: "Amazon", Category: CategoryAICrawler,
		Tokens: []string{"amazonbot"}, RDNS: []string{"crawl.amazonbot.amazon"}, Docs: docAmazon},
	{ID: "facebookexternalhit", Operator: "Meta", Category: CategorySocialPreview,
		Tokens: []string{"facebookexternalhit", "facebookcatalog"}, Sets: []string{"facebook"}, Docs: docMeta},
	{ID: "meta-externalagent", Operator: "Meta", Category: CategoryAICrawler,
		Tokens: []string{"meta-externalagent"}, Sets: []string{"facebook"}, Docs: docMeta},
	{ID: "meta-externalfetcher", Operator: "Meta", Category: CategoryAIAssistant,
		Tokens: []string{"meta-externalfetcher"}, Sets: []string{"facebook"}, Docs: docMeta},
	{ID: "twitterbot", Operator: "X", Category: CategorySocialPreview,
		Tokens: []string{"twitterbot"}, Sets: []string{"twitter"},
		Docs: "https://developer.x.com/en/docs/x-for-websites/cards/guides/troubleshooting-cards"},
	{ID: "telegrambot", Operator: "Telegram", Category: CategorySocialPreview,
		Tokens: []string{"telegrambot"}, Sets: []string{"telegram"}, RDNS: []string{"ptr.telegram.org"},
		Docs: "https://core.telegram.org/resources/cidr.txt"},
	{ID: "yandexbot", Operator: "Yandex", Category: CategorySearchEngine,
		Tokens: yandexTokens, RDNS: []string{"yandex.ru", "yandex.net", "yandex.com"}, Docs: docYandex},
	{ID: "baiduspider", Operator: "Baidu", Category: CategorySearchEngine,
		Tokens: []string{"baiduspider", "baiduspider-render", "baiduspider-image"}, RDNS: []string{"baidu.com", "baidu.jp"}, Docs: docBaidu},
	{ID: "mistralai-user", Operator: "Mistral AI", Category: CategoryAIAssistant,
		Tokens: []string{"mistralai-user"}, Sets: []string{"mistralai-user"}, Docs: "https://docs.mistral.ai/robots/"},
	{ID: "kagibot", Operator: "Kagi", Category: CategorySearchEngine,
		Tokens: []string{"kagibot"}, Sets: []string{"kagibot"}, Docs: "https://kagi.com/bot"},
	{ID: "mojeekbot", Operator: "Mojeek", Category: CategorySearchEngine,
		Tokens: []string{"mojeekbot"}, Sets: []string{"mojeekbot"}, Docs: "https://www.mojeek.com/bot.html"},
	{ID: "qwantbot", Operator: "Qwant", Category: CategorySearchEngine,
		Tokens: []string{"qwantbot", "qwantify"}, Sets: []string{"qwantbot"}, Docs: "https://help.qwant.com/bot/"},
	{ID: "marginalia", Operator: "Marginalia Search", Category: CategorySearchEngine,
		Tokens: []string{"search.marginalia.nu"}, Sets: []string{"marginalia"}, Docs: "https://www.marginalia.nu/marginalia-search/for-webmasters/"},
	{ID: "archive-org", Operator: "Internet Archive", Category: CategoryArchiver,
		Tokens: []string{"archive.org_bot"}, Sets: []string{"internet-archive"}, Docs: "https://archive.org/details/archive.org_bot"},
	{ID: "pingdom", Operator: "SolarWinds Pingdom", Category: CategoryMonitoring,
		Tokens: []string{"pingdom", "pingdompagespeed", "pingdomtms", "pingbot"}, Sets: []string{"pingdom"},
		Docs: "https://documentation.solarwinds.com/en/success_center/pingdom/content/topics/pingdom-probe-servers-ip-addresses.htm"},
	{ID: "statuscake", Operator: "StatusCake", Category: CategoryMonitoring,
		Tokens: []string{"statuscake"}, Sets: []string{"statuscake"}, Docs: "https://www.statuscake.com/kb/knowledge-base/what-are-your-ips/"},
	{ID: "uptimerobot", Operator: "UptimeRobot", Category: CategoryMonitoring,
		Tokens: []string{"uptimerobot"}, Sets: []string{"uptimerobot"}, Docs: "https://uptimerobot.com/help/locations/"},
	{ID: "updown", Operator: "updown.io", Category: CategoryMonitoring,
		Tokens: []string{"updown.io"}, Sets: []string{"updown"}, Docs: "https://updown.io/about"},
}

// Builtin returns a copy of the built-in catalogue.
func Builtin() []Bot {
	out := make([]Bot, len(builtinBots))
	copy(out, builtinBots)
	return out
}
