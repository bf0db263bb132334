package heuristics_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/detect/heuristics"
	"github.com/botwarden/botwarden/detect/ml/corpus"
)

var update = flag.Bool("update", false, "rewrite data/categories.tsv from ../shared/data")

// corpora loads ../shared/data through the corpus package, or skips.
func corpora(t testing.TB) *corpus.Corpora {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not found at %s (tests read it from ../shared beside the repository): %v", dir, err)
	}
	c, err := corpus.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fixtureCategory maps Crawler-Detect's fixture folder names to ours.
func fixtureCategory(name string) heuristics.Category {
	if name == "security" {
		return heuristics.CategorySecurityScanner
	}
	return heuristics.Category(name)
}

// keywords is the second tier for patterns no fixture matched: words in the
// pattern text that name the kind of tool. Checked in order; generic crawler
// words (bot, crawl, spider) deliberately name nothing.
var keywords = []struct {
	words []string
	cat   heuristics.Category
}{
	{[]string{"headless", "phantomjs", "puppeteer", "playwright", "selenium", "webdriver", "slimerjs"}, heuristics.CategoryHeadless},
	{[]string{"scan", "vuln", "security", "pentest", "exploit"}, heuristics.CategorySecurityScanner},
	{[]string{"monitor", "uptime", "pingdom", "statuscake", "health", "status"}, heuristics.CategoryMonitoring},
	{[]string{"rss", "feed", "podcast", "atom"}, heuristics.CategoryFeed},
	{[]string{"archive", "wayback", "heritrix"}, heuristics.CategoryArchiver},
	{[]string{"seo", "backlink", "serp", "rank"}, heuristics.CategorySEO},
	{[]string{"preview", "facebook", "twitter", "slack", "whatsapp", "telegram", "discord", "linkedin", "pinterest", "skype"}, heuristics.CategorySocial},
	{[]string{"scrap", "extract", "harvest", "grab"}, heuristics.CategoryScraper},
	{[]string{"curl", "wget", "python", "java", "perl", "ruby", "php", "golang", "go-http", "http", "client", "lib", "request", "fetch", "node", "axios"}, heuristics.CategoryHTTPLibrary},
}

func keywordCategory(pattern string) (heuristics.Category, string) {
	p := strings.ToLower(pattern)
	// A URL inside a pattern says nothing about the tool.
	p = strings.NewReplacer(`https:\/\/`, "", `http:\/\/`, "", "https://", "", "http://", "").Replace(p)
	for _, k := range keywords {
		for _, w := range k.words {
			if strings.Contains(p, w) {
				return k.cat, w
			}
		}
	}
	return "", ""
}

// majorityShare is how much of a pattern's fixture matches one category
// must hold for the pattern to take that category; below it the pattern is
// generic ("bot", "crawl", "spider") and stays unclassified.
const majorityShare = 0.6

// TestCategories derives each pattern's category from Crawler-Detect's
// categorised fixtures: a pattern takes the category that at least
// majorityShare of the fixture UAs it matches belong to; a pattern that
// matches no fixture keeps its source's default (security-scanner for the
// CRS list, the stated function for ai.robots.txt, unclassified otherwise).
// With -update it rewrites data/categories.tsv; without, it checks that the
// embedded file is what the fixtures give.
func TestCategories(t *testing.T) {
	c := corpora(t)
	// Build the database without categories, so defaults are visible.
	db, err := heuristics.LoadUADB(nil)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		src     heuristics.PatternSource
		pattern string
	}
	votes := map[key]map[heuristics.Category]int{}
	for _, name := range c.CategoryNames() {
		cat := fixtureCategory(name)
		if !cat.Valid() {
			t.Fatalf("fixture %s: no such category", name)
		}
		for _, ua := range c.CDCategory[name] {
			heuristics.EachMatch(db, ua, func(m heuristics.PatternMatch) {
				k := key{m.Source, m.Pattern}
				if votes[k] == nil {
					votes[k] = map[heuristics.Category]int{}
				}
				votes[k][cat]++
			})
		}
	}
	var lines []string
	for _, d := range heuristics.DefaultCategories(db) {
		source, pattern, cat := d.Fields()
		k := key{source, pattern}
		evidence := "no fixture matched: source default"
		if cat == heuristics.CategoryUnclassified {
			if c, kw := keywordCategory(pattern); c != "" {
				cat, evidence = c, "no fixture matched: keyword "+kw
			}
		}
		if v := votes[k]; len(v) > 0 {
			total, top, topCat := 0, 0, heuristics.Category("")
			var parts []string
			for c, n := range v {
				total += n
				if n > top || n == top && c.Rank() < topCat.Rank() {
					top, topCat = n, c
				}
				parts = append(parts, fmt.Sprintf("%s:%d", c, n))
			}
			sort.Strings(parts)
			evidence = "fixtures " + strings.Join(parts, " ")
			if float64(top) >= majorityShare*float64(total) {
				cat = topCat
			} else {
				cat = heuristics.CategoryUnclassified
			}
		}
		lines = append(lines, fmt.Sprintf("%s\t%s\t%s\t%s", cat, source, pattern, evidence))
	}
	out := "# category\tsource\tpattern\tevidence (generated by TestCategories -update; see README.md)\n" + strings.Join(lines, "\n") + "\n"
	path := filepath.Join("data", "categories.tsv")
	if *update {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (run go test -run TestCategories -update)", path, err)
	}
	if string(have) != out {
		t.Errorf("%s is stale: run go test ./detect/heuristics -run TestCategories -update", path)
	}
}
