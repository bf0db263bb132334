package headerclient

import (
	"fmt"
	"strings"
	"time"
)

// Result is one crawl's outcome, for the per-client report.
type Result struct {
	Client, Stack string
	Visits        []Visit
	Verdicts      []Verdict // parallel to Visits (zero where none was logged)
	// StoppedAt is the 1-based request that was first challenged or
	// blocked (0: never); PagesBeforeStop the site's pages served before it.
	StoppedAt       int
	PagesBeforeStop int
	// Pages is every site page it got, stopped or not.
	Pages int
}

// Summarize pairs the visits with their logged verdicts, waiting up to
// wait for entries still in flight (the access log is written when a
// response ends).
func Summarize(client, stack string, visits []Visit, rec *Recorder, wait time.Duration) Result {
	r := Result{Client: client, Stack: stack, Visits: visits, Verdicts: make([]Verdict, len(visits))}
	deadline := time.Now().Add(wait)
	for i, v := range visits {
		for {
			got, ok := rec.Of(v.Path)
			if ok || time.Now().After(deadline) {
				r.Verdicts[i] = got
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		switch v.Outcome {
		case "page":
			r.Pages++
			if r.StoppedAt == 0 {
				r.PagesBeforeStop++
			}
		case "challenged", "blocked":
			if r.StoppedAt == 0 {
				r.StoppedAt = i + 1
			}
		}
	}
	return r
}

// Stop says how the crawl was first stopped: the outcome and the rule.
func (r Result) Stop() string {
	if r.StoppedAt == 0 {
		return "not stopped"
	}
	v := r.Verdicts[r.StoppedAt-1]
	return fmt.Sprintf("%s at request %d by %q (score %d, %s, tags %v)",
		r.Visits[r.StoppedAt-1].Outcome, r.StoppedAt, v.Rule, v.Score, v.Source, v.Tags)
}

// Scores are the bot scores of each request, in order.
func (r Result) Scores() []int {
	out := make([]int, len(r.Verdicts))
	for i, v := range r.Verdicts {
		out[i] = v.Score
	}
	return out
}

func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s through %s: %d pages served before stopped, %s; %d of %d requests got a page; scores %v\n",
		r.Client, r.Stack, r.PagesBeforeStop, r.Stop(), r.Pages, len(r.Visits), r.Scores())
	for i, v := range r.Visits {
		vd := r.Verdicts[i]
		fmt.Fprintf(&b, "  %2d %s %-14s %3d %-10s action %-16s rule %-40q score %2d (%s) tags %v client %s\n",
			i+1, v.At.Format("15:04:05.000"), v.Path, v.Status, v.Outcome, vd.Action, vd.Rule, vd.Score, vd.Source, vd.Tags, vd.Client)
	}
	return b.String()
}
