package verified

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// AI categories (detect.Verdict.AICategory, policy bot.ai_category).
const (
	// AICrawler collects content in bulk: model training, datasets sold to
	// AI companies, or undocumented purposes.
	AICrawler = CategoryAICrawler
	// AISearch indexes content for an AI search or answer engine.
	AISearch = CategoryAISearch
	// AIAssistant fetches a page because a person asked an assistant or an
	// agent to (user-triggered).
	AIAssistant = CategoryAIAssistant
)

// AITag returns the verdict tag for an AI category: ai-crawler, ai-search,
// ai-assistant.
func AITag(category string) string { return strings.ReplaceAll(category, "_", "-") }

//go:embed data/ai-robots.json
var aiRobotsJSON []byte

// AIAgent is one entry of the AI catalogue.
type AIAgent struct {
	Name     string // the user-agent token, as ai.robots.txt spells it
	Operator string // operator, markdown links removed; "" when unknown
	Function string // ai.robots.txt's "function" text
	Category string // AICrawler, AISearch or AIAssistant
	// Excluded says why the name is not matched ("" when it is).
	Excluded string
}

// aiGroupFunctions maps ai.robots.txt's group labels (its newer entries use
// these as "function") to a category.
var aiGroupFunctions = map[string]string{
	"AI Search Crawlers":     AISearch,
	"AI Assistants":          AIAssistant,
	"AI Agents":              AIAssistant,
	"AI Coding Agents":       AIAssistant,
	"AI Data Scrapers":       AICrawler,
	"AI data scraper":        AICrawler,
	"AI Data Providers":      AICrawler,
	"Undocumented AI Agents": AICrawler,
}

// Older entries describe the function in free text. In order:
//   - a fetch on a person's request ("user-initiated prompts", "based on user
//     prompts", "answers to user queries") → AIAssistant;
//   - anything mentioning search ("Search result generation", "Collects data
//     for AI search", "search engine using generative AI") → AISearch;
//   - everything else describes collection for training, datasets, resale or
//     an unclear purpose ("LLM training.", "Data is sold.", "Unclear at this
//     time.") → AICrawler. TestAIFunctionMapping prints the result for every
//     function string in the snapshot.
var (
	aiUserTriggered = regexp.MustCompile(`(?i)user-initiated|user prompts|user quer|on behalf of`)
	aiSearchWords   = regexp.MustCompile(`(?i)\bsearch`) // not "research"
)

// aiOverrides are per-agent decisions where the function text misleads.
var aiOverrides = map[string]string{
	"meta-webindexer": AISearch,    // Meta AI's search index (Anubis lists it with AI search crawlers)
	"iaskspider":      AISearch,    // iAsk is an AI search engine; it crawls, it does not fetch per prompt
	"iaskbot":         AISearch,    // same operator
	"google-firebase": AIAssistant, // fetches made by apps their users drive
	"semrushbot-swa":  AIAssistant, // checks a page when the site owner asks the writing assistant
	"semrushbot-ocob": AIAssistant, // same, ContentShake
}

// aiExcluded are names the catalogue keeps but does not match, and why.
var aiExcluded = map[string]string{
	"applebot":            "Apple's search crawler (verified as search_engine); the AI-training opt-out is the robots.txt-only token Applebot-Extended",
	"facebookexternalhit": "Meta's link-preview fetcher (verified as social_preview)",
	"code":                "generic word: VS Code and other Electron apps send Code/x.y",
	"cursor":              "generic word: the Cursor editor's own Electron UA",
	"trae":                "generic word: the Trae editor's own Electron UA",
	"devin":               "generic word (a given name)",
	"operator":            "generic word",
	"spider":              "generic word: many search-engine crawlers say \"spider\"",
	"openai":              "generic word: OpenAI's API client libraries say openai-python/x",
	"lcc":                 "three letters; too likely in unrelated user agents",
	"yak":                 "three letters; too likely in unrelated user agents",
	"useai":               "generic word",
	"scrapy":              "general scraping framework, not an AI agent (the heuristics UA database classes it as a scraper)",
}

// AICatalogue finds AI agents in user agents.
type AICatalogue struct {
	Agents []AIAgent
	// Source is the ai.robots.txt commit the catalogue was built from.
	Source string
}

var mdLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// ParseAICatalogue builds the catalogue from ai.robots.txt's robots.json.
func ParseAICatalogue(data []byte) (*AICatalogue, error) {
	var raw map[string]struct {
		Operator string `json:"operator"`
		Function string `json:"function"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("AI catalogue: %w", err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("AI catalogue: no agents")
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	c := &AICatalogue{}
	for _, name := range names {
		e := raw[name]
		a := AIAgent{Name: name, Function: e.Function, Operator: cleanOperator(e.Operator)}
		a.Category = aiCategory(name, e.Function)
		if why, ok := aiExcluded[strings.ToLower(name)]; ok {
			a.Excluded = why
		} else if phraseWords(name) == nil {
			a.Excluded = "name has no matchable words"
		}
		c.Agents = append(c.Agents, a)
	}
	return c, nil
}

func aiCategory(name, function string) string {
	key := strings.ToLower(name)
	if i := strings.IndexByte(key, '/'); i > 0 {
		key = key[:i]
	}
	if c, ok := aiOverrides[key]; ok {
		return c
	}
	if c, ok := aiGroupFunctions[strings.TrimSpace(function)]; ok {
		return c
	}
	switch {
	case aiUserTriggered.MatchString(function):
		return AIAssistant
	case aiSearchWords.MatchString(function):
		return AISearch
	default:
		return AICrawler
	}
}

func cleanOperator(s string) string {
	s = strings.TrimSpace(mdLink.ReplaceAllString(s, "$1"))
	if strings.HasPrefix(strings.ToLower(s), "unclear") || strings.EqualFold(s, "unknown") {
		return ""
	}
	return s
}

var defaultAI = sync.OnceValues(func() (*AICatalogue, error) {
	c, err := ParseAICatalogue(aiRobotsJSON)
	if err != nil {
		return nil, err
	}
	c.Source = "ai-robots-txt/ai.robots.txt@" + strings.TrimSpace(strings.SplitN(aiSourceCommit, "\n", 2)[0])
	return c, nil
})

//go:embed data/SOURCE_COMMIT.ai-robots-txt
var aiSourceCommit string

// DefaultAICatalogue returns the embedded catalogue (built once).
func DefaultAICatalogue() (*AICatalogue, error) { return defaultAI() }
