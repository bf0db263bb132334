package heuristics

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite data/categories.tsv from ../shared/data")

// sharedData returns ../shared/data as seen from this package, or skips.
func sharedData(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not found at %s (tests read it from ../shared beside the repository): %v", dir, err)
	}
	return dir
}

func fileLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// fixtureCategory maps Crawler-Detect's fixture folder names to ours.
func fixtureCategory(name string) Category {
	if name == "security" {
		return CategorySecurityScanner
	}
	return Category(name)
}

// keywords is the second tier for patterns no fixture matched: words in the
// pattern text that name the kind of tool. Checked in order; generic crawler
// words (bot, crawl, spider) deliberately name nothing.
var keywords = []struct {
	words []string
	cat   Category
}{
	{[]string{"headless", "phantomjs", "puppeteer", "playwright", "selenium", "webdriver", "slimerjs"}, CategoryHeadless},
	{[]string{"scan", "vuln", "security", "pentest", "exploit"}, CategorySecurityScanner},
	{[]string{"monitor", "uptime", "pingdom", "statuscake", "health", "status"}, CategoryMonitoring},
	{[]string{"rss", "feed", "podcast", "atom"}, CategoryFeed},
	{[]string{"archive", "wayback", "heritrix"}, CategoryArchiver},
	{[]string{"seo", "backlink", "serp", "rank"}, CategorySEO},
	{[]string{"preview", "facebook", "twitter", "slack", "whatsapp", "telegram", "discord", "linkedin", "pinterest", "skype"}, CategorySocial},
	{[]string{"scrap", "extract", "harvest", "grab"}, CategoryScraper},
	{[]string{"curl", "wget", "python", "java", "perl", "ruby", "php", "golang", "go-http", "http", "client", "lib", "request", "fetch", "node", "axios"}, CategoryHTTPLibrary},
}

func keywordCategory(pattern string) (Category, string) {
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
	dir := sharedData(t)
	// Build the database without categories, so defaults are visible.
	db, err := LoadUADB(nil)
	if err != nil {
		t.Fatal(err)
	}
	catDir := filepath.Join(dir, "ua", "crawler-detect", "categories")
	entries, err := os.ReadDir(catDir)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		src     PatternSource
		pattern string
	}
	votes := map[key]map[Category]int{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".txt") {
			continue
		}
		cat := fixtureCategory(strings.TrimSuffix(e.Name(), ".txt"))
		if !cat.valid() {
			t.Fatalf("fixture %s: no such category", e.Name())
		}
		for _, ua := range fileLines(t, filepath.Join(catDir, e.Name())) {
			db.each(ua, func(meta patternMeta, pattern string) {
				k := key{meta.source, pattern}
				if votes[k] == nil {
					votes[k] = map[Category]int{}
				}
				votes[k][cat]++
			})
		}
	}
	defaults := db.defaultCategories()
	var lines []string
	for _, d := range defaults {
		k := key{d.source, d.pattern}
		cat, evidence := d.category, "no fixture matched: source default"
		if cat == CategoryUnclassified {
			if c, kw := keywordCategory(d.pattern); c != "" {
				cat, evidence = c, "no fixture matched: keyword "+kw
			}
		}
		if v := votes[k]; len(v) > 0 {
			total, top, topCat := 0, 0, Category("")
			var parts []string
			for c, n := range v {
				total += n
				if n > top || n == top && c.rank() < topCat.rank() {
					top, topCat = n, c
				}
				parts = append(parts, fmt.Sprintf("%s:%d", c, n))
			}
			sort.Strings(parts)
			evidence = "fixtures " + strings.Join(parts, " ")
			if float64(top) >= majorityShare*float64(total) {
				cat = topCat
			} else {
				cat = CategoryUnclassified
			}
		}
		lines = append(lines, fmt.Sprintf("%s\t%s\t%s\t%s", cat, d.source, d.pattern, evidence))
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
