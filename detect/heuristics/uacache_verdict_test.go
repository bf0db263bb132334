package heuristics_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics"
)

// The cached engine must give exactly the uncached verdict, on first sight
// of a UA and on every later one.
func TestUACacheSameVerdicts(t *testing.T) {
	cached, err := heuristics.New(heuristics.DefaultConfig(), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := heuristics.DefaultConfig()
	cfg.UACacheSize = 0
	plain, err := heuristics.New(cfg, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	spoof := chromeRequest()
	delete(spoof.Headers, "sec-ch-ua")
	reqs := []*detect.Request{chromeRequest(), botRequest(), spoof}
	for round := range 3 {
		for i, r := range reqs {
			a, b := &detect.Verdict{}, &detect.Verdict{}
			cached.Evaluate(context.Background(), r, a)
			plain.Evaluate(context.Background(), r, b)
			if fmt.Sprint(a.Score, a.DetectionIDs, a.Tags) != fmt.Sprint(b.Score, b.DetectionIDs, b.Tags) {
				t.Fatalf("round %d request %d: cached %v %v %v, plain %v %v %v", round, i, a.Score, a.DetectionIDs, a.Tags, b.Score, b.DetectionIDs, b.Tags)
			}
		}
	}
}
