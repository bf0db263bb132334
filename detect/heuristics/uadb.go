package heuristics

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/botwarden/botwarden/detect/heuristics/regexset"
)

//go:embed data
var dataFS embed.FS

// Category is the kind of automation a user agent belongs to.
type Category string

const (
	CategoryHTTPLibrary     Category = "http-library"
	CategoryHeadless        Category = "headless"
	CategoryScraper         Category = "scraper"
	CategorySEO             Category = "seo"
	CategoryMonitoring      Category = "monitoring"
	CategoryFeed            Category = "feed"
	CategoryArchiver        Category = "archiver"
	CategorySecurityScanner Category = "security-scanner"
	CategoryAITraining      Category = "ai-training"
	CategoryAISearch        Category = "ai-search"
	CategoryAIUser          Category = "ai-user"
	CategorySearch          Category = "search"
	CategorySocial          Category = "social"
	// CategoryUnclassified is a known-bot pattern whose kind the fixtures
	// do not tell (generic patterns such as "bot" or "crawl").
	CategoryUnclassified Category = "bot"
)

// categoryPriority decides between the categories of several matching
// patterns: the more specific kinds first (a UA naming both an AI agent and
// a generic library is the agent).
var categoryPriority = []Category{
	CategoryAIUser, CategoryAISearch, CategoryAITraining, CategorySecurityScanner,
	CategoryHeadless, CategoryMonitoring, CategoryFeed, CategoryArchiver,
	CategorySEO, CategorySocial, CategorySearch, CategoryScraper,
	CategoryHTTPLibrary, CategoryUnclassified,
}

// Categories lists every category, most specific first.
func Categories() []Category { return slices.Clone(categoryPriority) }

// AI reports whether c is one of the AI crawler categories.
func (c Category) AI() bool {
	return c == CategoryAITraining || c == CategoryAISearch || c == CategoryAIUser
}

func (c Category) valid() bool { return slices.Contains(categoryPriority, c) }

func (c Category) rank() int {
	if i := slices.Index(categoryPriority, c); i >= 0 {
		return i
	}
	return len(categoryPriority)
}

// PatternSource names the list a pattern came from.
type PatternSource uint8

const (
	SourceCrawlerDetect PatternSource = 1 << iota
	SourceIsbot
	SourceCRS
	SourceAIRobots
	SourceConfig
)

var sourceNames = []struct {
	s    PatternSource
	name string
}{
	{SourceCrawlerDetect, "crawler-detect"}, {SourceIsbot, "isbot"}, {SourceCRS, "crs"},
	{SourceAIRobots, "ai.robots.txt"}, {SourceConfig, "config"},
}

// String names the sources in s, joined with "+".
func (s PatternSource) String() string {
	var parts []string
	for _, n := range sourceNames {
		if s&n.s != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, "+")
}

// ParsePatternSource is the inverse of String for one source.
func ParsePatternSource(name string) (PatternSource, bool) {
	for _, n := range sourceNames {
		if n.name == name {
			return n.s, true
		}
	}
	return 0, false
}

// UAMatch is what the database says about one user agent.
type UAMatch struct {
	// Bot is true when any pattern matched.
	Bot bool
	// Certain is true when the match is corroborated: a curated list (the
	// CRS scanner list, ai.robots.txt, operator patterns) matched, or both
	// general-purpose libraries (Crawler-Detect and isbot) agree. The two
	// libraries disagree on what a browser is (isbot counts Lynx and app
	// webviews as browsers, Crawler-Detect's 2018 device list holds UAs
	// isbot's structural patterns call bots), so one of them alone is
	// evidence for the ML score, not a heuristic verdict.
	Certain  bool
	Category Category
	// Sources are all the lists with a matching pattern.
	Sources PatternSource
	// Pattern and Source are the pattern that decided the category.
	Pattern string
	Source  PatternSource
}

// ExtraPattern is an operator-supplied UA pattern (RE2, case-insensitive).
type ExtraPattern struct {
	Pattern  string   `yaml:"pattern"`
	Category Category `yaml:"category"`
}

type patternMeta struct {
	source   PatternSource
	category Category
}

// UADB is the user-agent database: Crawler-Detect's patterns (applied, as
// Crawler-Detect does, to the UA with its exclusions removed), isbot's
// patterns, the CRS scanner list and ai.robots.txt's agent names (applied
// to the whole UA), each pattern with a category. Safe for concurrent use.
type UADB struct {
	exclusions *regexset.Set
	stripped   *regexset.Set // Crawler-Detect patterns
	stripMeta  []patternMeta
	full       *regexset.Set // everything else
	fullMeta   []patternMeta

	// Dropped counts the patterns of each source left out because RE2
	// cannot compile them (look-around).
	Dropped map[PatternSource][]string
	// Counts is the number of patterns loaded per source.
	Counts map[PatternSource]int

	pool sync.Pool // *[]int
}

// aiRobotsSkip are ai.robots.txt names too generic to use as UA patterns
// (ordinary words, or app names that are also used by humans' desktop
// apps): they stay in ai.robots.txt's robots.txt but not in our matcher.
var aiRobotsSkip = map[string]bool{
	"Code": true, "Cursor": true, "Devin": true, "Trae": true, "LCC": true, "YaK": true,
	"Spider": true, "Operator": true, "UseAI": true, "Terra Cotta": true,
}

// LoadUADB builds the database from the embedded lists plus extra.
func LoadUADB(extra []ExtraPattern) (*UADB, error) {
	db := &UADB{Dropped: map[PatternSource][]string{}, Counts: map[PatternSource]int{}}
	db.pool.New = func() any { s := make([]int, 0, 16); return &s }

	cats, err := loadCategories()
	if err != nil {
		return nil, err
	}
	category := func(src PatternSource, p string, fallback Category) Category {
		if c, ok := cats[catKey{src, p}]; ok {
			return c
		}
		return fallback
	}

	excl, err := readLines("data/crawler-detect/raw_Exclusions.txt")
	if err != nil {
		return nil, err
	}
	db.exclusions = regexset.Compile(excl)
	if len(db.exclusions.Rejected) > 0 {
		return nil, fmt.Errorf("crawler-detect exclusions: %d patterns are not RE2: %v", len(db.exclusions.Rejected), db.exclusions.Rejected[0].Err)
	}

	cd, err := readLines("data/crawler-detect/raw_Crawlers.txt")
	if err != nil {
		return nil, err
	}
	db.stripped = regexset.Compile(cd)
	for _, p := range cd {
		db.stripMeta = append(db.stripMeta, patternMeta{SourceCrawlerDetect, category(SourceCrawlerDetect, p, CategoryUnclassified)})
	}
	for _, r := range db.stripped.Rejected {
		db.Dropped[SourceCrawlerDetect] = append(db.Dropped[SourceCrawlerDetect], r.Expr)
	}
	db.Counts[SourceCrawlerDetect] = len(cd) - len(db.stripped.Rejected)

	var full []string
	add := func(src PatternSource, p string, c Category) {
		full = append(full, p)
		db.fullMeta = append(db.fullMeta, patternMeta{src, category(src, p, c)})
	}
	ib, err := readJSONStrings("data/isbot/patterns.json")
	if err != nil {
		return nil, err
	}
	for _, p := range ib {
		add(SourceIsbot, p, CategoryUnclassified)
	}
	crs, err := readLines("data/crs/scanners-user-agents.data")
	if err != nil {
		return nil, err
	}
	for _, p := range crs {
		if strings.HasPrefix(p, "#") {
			continue
		}
		// CRS matches these as case-insensitive phrases (@pmFromFile).
		add(SourceCRS, regexp.QuoteMeta(p), CategorySecurityScanner)
	}
	ai, err := loadAIRobots()
	if err != nil {
		return nil, err
	}
	for _, a := range ai {
		add(SourceAIRobots, a.pattern, a.category)
	}
	for i, x := range extra {
		if !x.Category.valid() {
			return nil, fmt.Errorf("extra_patterns[%d]: unknown category %q", i, x.Category)
		}
		if _, err := regexp.Compile(x.Pattern); err != nil {
			return nil, fmt.Errorf("extra_patterns[%d]: %w", i, err)
		}
		full = append(full, x.Pattern)
		db.fullMeta = append(db.fullMeta, patternMeta{SourceConfig, x.Category})
	}
	db.full = regexset.Compile(full)
	for _, r := range db.full.Rejected {
		src := db.fullMeta[r.Index].source
		db.Dropped[src] = append(db.Dropped[src], r.Expr)
	}
	for i, m := range db.fullMeta {
		if db.full.Regexp(i) != nil {
			db.Counts[m.source]++
		}
	}
	return db, nil
}

// Classify looks ua up. The UA should already be truncated to a sane length.
func (db *UADB) Classify(ua string) UAMatch {
	var m UAMatch
	best := len(categoryPriority) + 1
	db.each(ua, func(meta patternMeta, pattern string) {
		m.Bot = true
		m.Sources |= meta.source
		if r := meta.category.rank(); r < best {
			best = r
			m.Category, m.Pattern, m.Source = meta.category, pattern, meta.source
		}
	})
	m.Certain = m.Sources&(SourceCRS|SourceAIRobots|SourceConfig) != 0 ||
		m.Sources&SourceCrawlerDetect != 0 && m.Sources&SourceIsbot != 0
	return m
}

// each calls fn for every pattern that matches ua.
func (db *UADB) each(ua string, fn func(meta patternMeta, pattern string)) {
	bufp := db.pool.Get().(*[]int)
	defer db.pool.Put(bufp)
	if s := db.stripExclusions(ua); s != "" {
		*bufp = db.stripped.MatchAll(s, (*bufp)[:0])
		for _, i := range *bufp {
			fn(db.stripMeta[i], db.stripped.Expr(i))
		}
	}
	*bufp = db.full.MatchAll(ua, (*bufp)[:0])
	for _, i := range *bufp {
		fn(db.fullMeta[i], db.full.Expr(i))
	}
}

// MatchSources reports which pattern sources match ua, for the evaluation's
// per-source tables.
func (db *UADB) MatchSources(ua string) PatternSource { return db.Classify(ua).Sources }

// stripExclusions removes Crawler-Detect's exclusion matches from ua and
// trims it, as Crawler-Detect does before applying its crawler patterns
// (there the exclusions are one alternation replaced left to right, which
// is what FindLeftmost computes).
func (db *UADB) stripExclusions(ua string) string {
	var spansArr [24]regexset.Span
	spans := db.exclusions.FindLeftmost(ua, spansArr[:0])
	if len(spans) == 0 {
		return strings.TrimSpace(ua)
	}
	var buf [512]byte
	b := buf[:0]
	pos := 0
	for _, s := range spans {
		b = append(b, ua[pos:s.Start]...)
		pos = s.End
	}
	b = append(b, ua[pos:]...)
	return strings.TrimSpace(string(b))
}

// Stats summarises the database for logs and the evaluation output.
func (db *UADB) Stats() string {
	var parts []string
	for _, n := range sourceNames {
		if c := db.Counts[n.s]; c > 0 || len(db.Dropped[n.s]) > 0 {
			parts = append(parts, fmt.Sprintf("%s %d (dropped %d non-RE2)", n.name, c, len(db.Dropped[n.s])))
		}
	}
	return strings.Join(parts, ", ")
}

// MemoryBytes estimates the prefilter memory of the database.
func (db *UADB) MemoryBytes() int {
	return db.exclusions.MemoryBytes() + db.stripped.MemoryBytes() + db.full.MemoryBytes()
}

func readLines(name string) ([]string, error) {
	raw, err := dataFS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("embedded %s: %w", name, err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

func readJSONStrings(name string) ([]string, error) {
	raw, err := dataFS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("embedded %s: %w", name, err)
	}
	var out []string
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("embedded %s: %w", name, err)
	}
	return out, nil
}

type aiAgent struct {
	name     string
	pattern  string
	category Category
}

// loadAIRobots turns ai.robots.txt's agent names into word-bounded UA
// patterns, with a category from the agent's stated function.
func loadAIRobots() ([]aiAgent, error) {
	raw, err := dataFS.ReadFile("data/ai-robots-txt/robots.json")
	if err != nil {
		return nil, fmt.Errorf("embedded robots.json: %w", err)
	}
	var agents map[string]struct {
		Function string `json:"function"`
	}
	if err := json.Unmarshal(raw, &agents); err != nil {
		return nil, fmt.Errorf("embedded robots.json: %w", err)
	}
	names := make([]string, 0, len(agents))
	for n := range agents {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []aiAgent
	for _, n := range names {
		if aiRobotsSkip[n] || len(n) < 4 {
			continue
		}
		out = append(out, aiAgent{
			name:     n,
			pattern:  `(?:^|[^a-z0-9])` + regexp.QuoteMeta(n) + `(?:$|[^a-z0-9])`,
			category: aiCategory(agents[n].Function),
		})
	}
	return out, nil
}

// aiCategory maps ai.robots.txt's free-text "function" to a category:
// search wording first (an "AI search assistant" is search), then wording
// about users, assistants, agents or prompts (fetches a person triggered),
// and everything else (training, scraping, datasets) is ai-training.
func aiCategory(function string) Category {
	f := strings.ToLower(function)
	switch {
	case strings.Contains(f, "search"):
		return CategoryAISearch
	case strings.Contains(f, "user"), strings.Contains(f, "assistant"), strings.Contains(f, "agent"),
		strings.Contains(f, "prompt"), strings.Contains(f, "takes action"), strings.Contains(f, "answers"):
		return CategoryAIUser
	}
	return CategoryAITraining
}

type catKey struct {
	src     PatternSource
	pattern string
}

// loadCategories reads data/categories.tsv: category, source, pattern,
// evidence. A missing file (first generation) means no categories.
func loadCategories() (map[catKey]Category, error) {
	raw, err := dataFS.ReadFile("data/categories.tsv")
	if err != nil {
		return map[catKey]Category{}, nil
	}
	out := map[catKey]Category{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	line := 0
	for sc.Scan() {
		line++
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) < 3 {
			return nil, fmt.Errorf("categories.tsv:%d: want category, source, pattern", line)
		}
		c := Category(f[0])
		src, ok := ParsePatternSource(f[1])
		if !c.valid() || !ok {
			return nil, fmt.Errorf("categories.tsv:%d: unknown category %q or source %q", line, f[0], f[1])
		}
		out[catKey{src, f[2]}] = c
	}
	return out, sc.Err()
}

type defaultCategory struct {
	source   PatternSource
	pattern  string
	category Category
}

// defaultCategories lists every loaded pattern with the category its source
// gives it before fixtures are consulted, in load order.
func (db *UADB) defaultCategories() []defaultCategory {
	var out []defaultCategory
	for i, m := range db.stripMeta {
		if db.stripped.Regexp(i) != nil {
			out = append(out, defaultCategory{m.source, db.stripped.Expr(i), CategoryUnclassified})
		}
	}
	ai, _ := loadAIRobots()
	aiCat := map[string]Category{}
	for _, a := range ai {
		aiCat[a.pattern] = a.category
	}
	for i, m := range db.fullMeta {
		if db.full.Regexp(i) == nil || m.source == SourceConfig {
			continue
		}
		c := CategoryUnclassified
		switch m.source {
		case SourceCRS:
			c = CategorySecurityScanner
		case SourceAIRobots:
			c = aiCat[db.full.Expr(i)]
		}
		out = append(out, defaultCategory{m.source, db.full.Expr(i), c})
	}
	return out
}
