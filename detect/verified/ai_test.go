package verified

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

func TestAIFunctionMapping(t *testing.T) {
	c, err := DefaultAICatalogue()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Agents) < 150 {
		t.Fatalf("only %d agents", len(c.Agents))
	}
	// The mapping of every distinct function text, for review (go test -v).
	byFunc := map[string]map[string]bool{}
	for _, a := range c.Agents {
		if byFunc[a.Function] == nil {
			byFunc[a.Function] = map[string]bool{}
		}
		byFunc[a.Function][a.Category] = true
	}
	funcs := make([]string, 0, len(byFunc))
	for f := range byFunc {
		funcs = append(funcs, f)
	}
	sort.Strings(funcs)
	for _, f := range funcs {
		var cats []string
		for c := range byFunc[f] {
			cats = append(cats, c)
		}
		sort.Strings(cats)
		t.Logf("%-14s ← %.90q", strings.Join(cats, ","), f)
	}

	want := map[string]string{
		"GPTBot": AICrawler, "ClaudeBot": AICrawler, "CCBot": AICrawler, "Bytespider": AICrawler,
		"Google-Extended": AICrawler, "meta-externalagent": AICrawler, "Amazonbot": AICrawler,
		"OAI-SearchBot": AISearch, "PerplexityBot": AISearch, "Claude-SearchBot": AISearch,
		"meta-webindexer": AISearch, "iaskspider/2.0": AISearch, "PetalBot": AISearch,
		"ChatGPT-User": AIAssistant, "Perplexity-User": AIAssistant, "Claude-User": AIAssistant,
		"MistralAI-User/1.0": AIAssistant, "DuckAssistBot": AIAssistant, "cohere-ai": AIAssistant,
		"Google-Firebase": AIAssistant, "ChatGPT Agent": AIAssistant,
	}
	got := map[string]AIAgent{}
	for _, a := range c.Agents {
		got[a.Name] = a
	}
	for name, cat := range want {
		a, ok := got[name]
		if !ok {
			t.Errorf("%s missing from the catalogue", name)
			continue
		}
		if a.Category != cat {
			t.Errorf("%s (function %q): category %s, want %s", name, a.Function, a.Category, cat)
		}
		if a.Excluded != "" {
			t.Errorf("%s excluded: %s", name, a.Excluded)
		}
	}
	for _, name := range []string{"Applebot", "facebookexternalhit", "Code", "Spider", "OpenAI", "Scrapy"} {
		if got[name].Excluded == "" {
			t.Errorf("%s should be excluded", name)
		}
	}
	if got["GPTBot"].Operator != "OpenAI" {
		t.Errorf("operator %q: markdown link not removed", got["GPTBot"].Operator)
	}
	if !strings.HasPrefix(c.Source, "ai-robots-txt/ai.robots.txt@738c80df") {
		t.Errorf("source %q", c.Source)
	}
}

func TestParseAICatalogueRejects(t *testing.T) {
	for _, in := range []string{"", "[]", "{}", `{"x":1}`} {
		if _, err := ParseAICatalogue([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func ExampleAITag() {
	fmt.Println(AITag(AICrawler), AITag(AISearch), AITag(AIAssistant))
	// Output: ai-crawler ai-search ai-assistant
}
