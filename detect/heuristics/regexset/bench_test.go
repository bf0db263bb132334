package regexset

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
)

// benchSet compiles the Crawler-Detect crawler and isbot patterns the UA
// database embeds (the two largest real sets this package serves).
func benchSet(b *testing.B) *Set {
	b.Helper()
	f, err := os.Open("../data/crawler-detect/raw_Crawlers.txt")
	if err != nil {
		b.Skipf("embedded UA data not found beside the package: %v", err)
	}
	defer f.Close()
	var exprs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			exprs = append(exprs, l)
		}
	}
	raw, err := os.ReadFile("../data/isbot/patterns.json")
	if err != nil {
		b.Fatal(err)
	}
	var isbot []string
	if err := json.Unmarshal(raw, &isbot); err != nil {
		b.Fatal(err)
	}
	return Compile(append(exprs, isbot...))
}

// BenchmarkMatchAll runs the set on a browser, a crawler and a library UA;
// baseline only folds the input, the first step of every call, so the
// ratio shows what the prefilter and the regexps add.
func BenchmarkMatchAll(b *testing.B) {
	s := benchSet(b)
	for _, ua := range []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"python-requests/2.32.3",
	} {
		name := ua[:min(24, len(ua))]
		b.Run(name+"/baseline-fold", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = Fold(buf[:0], ua)
			}
		})
		b.Run(name+"/MatchAll", func(b *testing.B) {
			b.ReportAllocs()
			var dst []int
			for b.Loop() {
				dst = s.MatchAll(ua, dst[:0])
			}
		})
		b.Run(name+"/FindLeftmost", func(b *testing.B) {
			b.ReportAllocs()
			var dst []Span
			for b.Loop() {
				dst = s.FindLeftmost(ua, dst[:0])
			}
		})
	}
}
