package behavior

import "math"

// Tags the detectors attach to verdicts.
const (
	TagRate          = "high-rate"
	TagBurst         = "burst"
	TagCrawl         = "crawl"
	TagNoAssets      = "no-assets"
	TagProbing       = "probing"
	TagLoginFailures = "credential-stuffing"
	TagAccounts      = "many-accounts"
	TagEnumeration   = "enumeration"
	TagUARotation    = "ua-rotation"
	TagIPRotation    = "ip-rotation"
	TagRegular       = "regular-timing"
	TagChallenge     = "challenge-failures"
	TagRobots        = "robots-disallowed"
	TagAnomaly       = "anomaly"
)

const (
	kSession = 1 << kindSession
	kIP      = 1 << kindIP
	kNet     = 1 << kindNet
	kJA4     = 1 << kindJA4
	kClient  = kSession | kIP
	kAll     = kSession | kIP | kNet | kJA4
)

// view is what a detector reads: a key's state after the current event.
type view struct {
	s    *state
	o    *obs
	w    float64 // weight of the previous window
	kind uint8
}

// sum is the sliding-window estimate of a counter.
func (v *view) sum(f func(*counts) uint16) float64 {
	return float64(f(&v.s.cur)) + v.w*float64(f(&v.s.prev))
}

// detector is one behavioural signal: a measure compared with its Rule.
type detector struct {
	tag     string
	kinds   uint8 // key kinds it applies to
	rule    func(*DetectorsConfig) Rule
	measure func(v *view, d *DetectorsConfig) float64
}

// detectors, in tag-bit order (a state's tags field has bit i for
// detectors[i]; the anomaly tag is the last bit).
var detectors = []detector{
	{TagRate, kAll &^ kJA4, func(d *DetectorsConfig) Rule { return d.Rate },
		func(v *view, _ *DetectorsConfig) float64 { return v.sum(func(c *counts) uint16 { return c.reqs }) }},
	{TagBurst, kClient, func(d *DetectorsConfig) Rule { return d.Burst },
		func(v *view, _ *DetectorsConfig) float64 {
			if uint32(v.o.ms/1000) != v.s.sec {
				return 0
			}
			return float64(v.s.secN)
		}},
	{TagCrawl, kClient, func(d *DetectorsConfig) Rule { return d.Crawl },
		func(v *view, _ *DetectorsConfig) float64 {
			return math.Round(distinct128(v.s.cur.paths, v.s.prev.paths))
		}},
	{TagNoAssets, kClient, func(d *DetectorsConfig) Rule { return d.NoAssets },
		func(v *view, _ *DetectorsConfig) float64 {
			pages := v.sum(func(c *counts) uint16 { return c.pages })
			if assets := v.sum(func(c *counts) uint16 { return c.assets }); assets*10 > pages {
				return 0
			}
			return pages
		}},
	{TagProbing, kAll &^ kJA4, func(d *DetectorsConfig) Rule { return d.Probing },
		func(v *view, _ *DetectorsConfig) float64 {
			errs := v.sum(func(c *counts) uint16 { return c.c4xx })
			if errs*2 < v.sum(func(c *counts) uint16 { return c.reqs }) {
				return 0 // mostly successful traffic: broken links, not probing
			}
			return errs
		}},
	{TagLoginFailures, kAll, func(d *DetectorsConfig) Rule { return d.LoginFailures },
		func(v *view, _ *DetectorsConfig) float64 { return v.sum(func(c *counts) uint16 { return c.loginFail }) }},
	{TagAccounts, kAll, func(d *DetectorsConfig) Rule { return d.Accounts },
		func(v *view, _ *DetectorsConfig) float64 {
			return math.Round(distinct64(v.s.cur.accts, v.s.prev.accts))
		}},
	{TagEnumeration, kClient, func(d *DetectorsConfig) Rule { return d.Enumeration },
		func(v *view, _ *DetectorsConfig) float64 {
			if v.s.seqRun == 0 {
				return 0
			}
			return float64(v.s.seqRun) + 1
		}},
	{TagUARotation, kClient, func(d *DetectorsConfig) Rule { return d.UARotation },
		func(v *view, _ *DetectorsConfig) float64 { return math.Round(distinct64(v.s.cur.uas, v.s.prev.uas)) }},
	{TagIPRotation, kSession, func(d *DetectorsConfig) Rule { return d.IPRotation },
		func(v *view, _ *DetectorsConfig) float64 { return math.Round(distinct64(v.s.cur.ips, v.s.prev.ips)) }},
	{TagRegular, kClient, func(d *DetectorsConfig) Rule { return d.Regular },
		func(v *view, d *DetectorsConfig) float64 {
			s := v.s
			// Below 5 ms the gaps are parallel fetches, not a rhythm.
			if s.gapN < 2 || s.gapMean < 5 {
				return 0
			}
			if cv := math.Sqrt(float64(s.gapVar)) / float64(s.gapMean); cv > d.RegularMaxCV {
				return 0
			}
			return float64(s.gapN)
		}},
	{TagChallenge, kClient, func(d *DetectorsConfig) Rule { return d.Challenge },
		func(v *view, _ *DetectorsConfig) float64 { return v.sum(func(c *counts) uint16 { return c.challenge }) }},
	{TagRobots, kClient, func(d *DetectorsConfig) Rule { return d.Robots },
		func(v *view, _ *DetectorsConfig) float64 {
			hits := v.sum(func(c *counts) uint16 { return c.robots })
			// Humans follow links into disallowed areas (carts, search);
			// a client that read robots.txt, or fetches pages without
			// their assets, is a crawler ignoring the rules.
			pages := v.sum(func(c *counts) uint16 { return c.pages })
			if !v.s.robotsTxt && v.sum(func(c *counts) uint16 { return c.assets })*10 > pages {
				return 0
			}
			return hits
		}},
}

var anomalyBit = uint16(1) << len(detectors)

// tagNames lists the tags of a bitset in detector order.
func tagNames(bits uint16) []string {
	var out []string
	for i, d := range detectors {
		if bits&(1<<i) != 0 {
			out = append(out, d.tag)
		}
	}
	if bits&anomalyBit != 0 {
		out = append(out, TagAnomaly)
	}
	return out
}

// evaluate runs every detector applying to v's kind and returns the
// evidence now (risk points), the tags that fired, and whether one of them
// is certain. Network and JA4 keys aggregate many clients: their
// thresholds are scaled by NetFactor and they need NetMinIPs addresses.
func evaluate(v *view, d *DetectorsConfig) (risk float64, fired uint16, certain bool) {
	factor := 1.0
	if v.kind == kindNet || v.kind == kindJA4 {
		if math.Round(distinct64(v.s.cur.ips, v.s.prev.ips)) < d.NetMinIPs {
			return 0, 0, false
		}
		factor = d.NetFactor
	}
	for i, det := range detectors {
		if det.kinds&(1<<v.kind) == 0 {
			continue
		}
		r := det.rule(d)
		if !r.Enabled {
			continue
		}
		m := det.measure(v, d)
		if m < r.Threshold*factor {
			continue
		}
		fired |= 1 << i
		risk += float64(r.Risk)
		if r.Certain > 0 && m >= r.Certain*factor {
			certain = true
		}
	}
	return risk, fired, certain
}
