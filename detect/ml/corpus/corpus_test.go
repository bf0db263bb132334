package corpus_test

import (
	"strings"
	"testing"

	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/detect/ml/corpus"
	"github.com/botwarden/botwarden/internal/refdata"
)

func TestEvalSets(t *testing.T) {
	c, err := corpus.Load(refdata.Require(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CDCrawlers) != 3720 || len(c.CDDevices) != 21622 || len(c.IsbotBrowsers) != 555 || len(c.IsbotCrawlers) != 626 {
		t.Errorf("corpus sizes: cd crawlers %d, devices %d, isbot browsers %d, crawlers %d", len(c.CDCrawlers), len(c.CDDevices), len(c.IsbotBrowsers), len(c.IsbotCrawlers))
	}
	a, b := c.EvalSets(7), c.EvalSets(7)
	for i, s := range a {
		if len(s.Examples) == 0 {
			t.Errorf("%s: empty", s.Name)
		}
		for j := range s.Examples {
			e := &s.Examples[j]
			if (e.Label == ml.LabelBot) != s.Bots || e.Headers["user-agent"] == "" && !strings.Contains(s.Name, "devices") {
				t.Fatalf("%s: example %d mislabelled or without UA: %+v", s.Name, j, e)
			}
			if e.Headers["user-agent"] != b[i].Examples[j].Headers["user-agent"] || e.Path != b[i].Examples[j].Path {
				t.Fatalf("%s: generation is not deterministic", s.Name)
			}
		}
	}
}

func TestBrowserProfiles(t *testing.T) {
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36"
	old := "Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/66.0.3359.181 Safari/537.36"
	for seed := uint64(0); seed < 50; seed++ {
		e := corpus.BrowserRequest(seed, chrome, corpus.KindNavigate)
		https := e.Scheme == "https"
		if _, ok := e.Headers["sec-ch-ua"]; ok != https {
			t.Errorf("Chrome 147 over %s: sec-ch-ua present=%v", e.Scheme, ok)
		}
		if e.Headers["sec-fetch-dest"] != map[bool]string{true: "document", false: ""}[https] {
			t.Errorf("Chrome 147 navigation over %s: sec-fetch-dest %q", e.Scheme, e.Headers["sec-fetch-dest"])
		}
		o := corpus.BrowserRequest(seed, old, corpus.KindNavigate)
		if _, ok := o.Headers["sec-ch-ua"]; ok {
			t.Error("Chrome 66 sent sec-ch-ua")
		}
		if o.Headers["accept-language"] == "" || o.Headers["accept"] == "" {
			t.Error("Chrome 66 without accept or accept-language")
		}
	}
}
