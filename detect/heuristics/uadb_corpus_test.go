package heuristics

import (
	"path/filepath"
	"strings"
	"testing"
)

// yamlListItems reads the "  - value" items of isbot's fixture files (a
// name: list mapping); values may be quoted.
func yamlListItems(t testing.TB, path string) []string {
	t.Helper()
	var out []string
	for _, l := range fileLines(t, path) {
		if !strings.HasPrefix(l, "- ") {
			continue
		}
		v := strings.TrimSpace(strings.TrimPrefix(l, "- "))
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = strings.ReplaceAll(v[1:len(v)-1], `\"`, `"`)
		}
		out = append(out, v)
	}
	return out
}

// TestUADBCorpora checks the database against both libraries' fixtures,
// each pattern source also against the other library's fixtures.
func TestUADBCorpora(t *testing.T) {
	dir := sharedData(t)
	db, err := LoadUADB(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("UA database: %s; prefilter memory %d KiB", db.Stats(), db.MemoryBytes()>>10)
	corpora := []struct {
		name   string
		uas    []string
		bots   bool
		target float64 // bots: minimum share matched by any list; browsers: maximum share certain
	}{
		{"crawler-detect crawlers", fileLines(t, filepath.Join(dir, "ua/crawler-detect/tests_data_user_agent_crawlers.txt")), true, 0.99},
		{"isbot crawlers", yamlListItems(t, filepath.Join(dir, "ua/isbot/crawlers.yml")), true, 0.98},
		{"crawler-detect devices", fileLines(t, filepath.Join(dir, "ua/crawler-detect/tests_devices_2018-05-16.txt")), false, 0.005},
		{"isbot browsers", yamlListItems(t, filepath.Join(dir, "ua/isbot/browsers.yml")), false, 0.005},
	}
	for _, c := range corpora {
		perSource := map[PatternSource]int{}
		matched, certain := 0, 0
		var examples []string
		for _, ua := range c.uas {
			m := db.Classify(truncateUTF8(ua, 1024))
			if m.Certain {
				certain++
			}
			if m.Bot {
				matched++
				for _, s := range sourceNames {
					if m.Sources&s.s != 0 {
						perSource[s.s]++
					}
				}
			}
			if (c.bots && !m.Bot || !c.bots && m.Certain) && len(examples) < 8 {
				examples = append(examples, ua+"  ["+m.Source.String()+": "+m.Pattern+"]")
			}
		}
		share := float64(matched) / float64(len(c.uas))
		if !c.bots {
			share = float64(certain) / float64(len(c.uas))
		}
		t.Logf("%-24s %5d UAs, matched %5d, certain %5d (%.2f%%); per source: cd %d, isbot %d, crs %d, ai %d", c.name, len(c.uas), matched, certain, 100*share,
			perSource[SourceCrawlerDetect], perSource[SourceIsbot], perSource[SourceCRS], perSource[SourceAIRobots])
		if c.bots && share < c.target || !c.bots && share > c.target {
			t.Errorf("%s: matched %.2f%%, target %s %.1f%%; e.g.\n  %s", c.name, 100*share, map[bool]string{true: ">=", false: "<="}[c.bots], 100*c.target, strings.Join(examples, "\n  "))
		} else if len(examples) > 0 {
			t.Logf("  misses, e.g.\n  %s", strings.Join(examples, "\n  "))
		}
	}
}
