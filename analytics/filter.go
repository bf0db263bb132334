package analytics

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dim is a record attribute that filters select on and top-N lists count.
type Dim string

// The attributes, by the names the filter language, the API and the CLI use.
const (
	DimCategory    Dim = "category"
	DimSource      Dim = "source"
	DimAction      Dim = "action"
	DimEnforced    Dim = "enforced_action"
	DimMode        Dim = "mode"
	DimRule        Dim = "rule"
	DimHost        Dim = "host"
	DimPath        Dim = "path"
	DimMethod      Dim = "method"
	DimUserAgent   Dim = "user_agent"
	DimIP          Dim = "ip"
	DimPrefix      Dim = "prefix"
	DimASN         Dim = "asn"
	DimCountry     Dim = "country"
	DimJA4         Dim = "ja4"
	DimTag         Dim = "tag"
	DimDetectionID Dim = "detection_id"
	DimVerifiedBot Dim = "verified_bot"
	DimVerifiedCat Dim = "verified_category"
	DimAICategory  Dim = "ai_category"
	DimStatus      Dim = "status"
	DimSession     Dim = "session"
	DimRef         Dim = "ray_id"
	DimScore       Dim = "score"
	dimKindString      = 0
	dimKindInt         = 1
	dimKindList        = 2
	dimKindIntList     = 3
)

// dimSpec says where an attribute lives in the store and how it reads in
// the policy language.
type dimSpec struct {
	col    string // column in the events table
	kind   int
	rollup bool // kept in the hourly rollups too
}

var dimSpecs = map[Dim]dimSpec{
	DimCategory: {"cat", dimKindString, true}, DimSource: {"src", dimKindString, true},
	DimAction: {"action", dimKindString, true}, DimEnforced: {"enforced", dimKindString, true},
	DimMode: {"mode", dimKindString, true}, DimRule: {"rule", dimKindString, false},
	DimHost: {"host", dimKindString, false}, DimPath: {"path", dimKindString, false},
	DimMethod: {"method", dimKindString, false}, DimUserAgent: {"ua", dimKindString, false},
	DimIP: {"ip", dimKindString, false}, DimPrefix: {"net", dimKindString, false},
	DimASN: {"asn", dimKindInt, false}, DimCountry: {"country", dimKindString, false},
	DimJA4: {"ja4", dimKindString, false}, DimTag: {"tags", dimKindList, false},
	DimDetectionID: {"dids", dimKindIntList, false}, DimVerifiedBot: {"vbot", dimKindString, false},
	DimVerifiedCat: {"vcat", dimKindString, false}, DimAICategory: {"aicat", dimKindString, false},
	DimStatus: {"status", dimKindInt, false}, DimSession: {"session", dimKindString, false},
	DimRef: {"ref", dimKindString, false}, DimScore: {"score", dimKindInt, true},
}

// Dims lists every attribute name, sorted (for help texts and errors).
func Dims() []string {
	out := make([]string, 0, len(dimSpecs))
	for d := range dimSpecs {
		out = append(out, string(d))
	}
	slices.Sort(out)
	return out
}

// ParseDim checks an attribute name.
func ParseDim(s string) (Dim, error) {
	if _, ok := dimSpecs[Dim(s)]; !ok {
		return "", fmt.Errorf("unknown attribute %q (one of %s)", s, strings.Join(Dims(), ", "))
	}
	return Dim(s), nil
}

// Filter selects records. It is written as URL query parameters, the one
// filter language of the API, the CLI and the dashboard's URLs:
//
//	since=1h  or  from=2026-12-01T00:00:00Z&to=...   (RFC 3339 or unix seconds)
//	score=1-29  score_below=30  score_above=29
//	path_prefix=/api/
//	<attribute>=<value>   any attribute of Dims; repeated = any of them
//
// Different attributes must all match.
type Filter struct {
	From, To   time.Time
	ScoreMin   int // inclusive, 0 = no lower bound
	ScoreMax   int // inclusive, 0 = no upper bound
	PathPrefix string
	Match      map[Dim][]string
}

// Limits of the filter language: a filter is read from the network.
const (
	MaxRange       = 31 * 24 * time.Hour
	maxFilterValue = 1024
	maxFilterTerms = 64
)

// ParseFilter reads a filter from query parameters; keys it does not know
// are an error naming them, and so are malformed values. now anchors
// relative ranges; the default range is the last hour.
func ParseFilter(q url.Values, now time.Time) (Filter, error) {
	f := Filter{To: now, From: now.Add(-time.Hour)}
	terms := 0
	for key, vals := range q {
		switch key {
		case "since", "from", "to", "score", "score_below", "score_above", "path_prefix":
			if len(vals) != 1 {
				return Filter{}, fmt.Errorf("%s: given %d times, at most once", key, len(vals))
			}
		}
		for _, v := range vals {
			terms++
			if terms > maxFilterTerms {
				return Filter{}, fmt.Errorf("filter: more than %d terms", maxFilterTerms)
			}
			if len(v) > maxFilterValue {
				return Filter{}, fmt.Errorf("%s: value longer than %d bytes", key, maxFilterValue)
			}
		}
	}
	if s := q.Get("since"); s != "" {
		if q.Has("from") {
			return Filter{}, fmt.Errorf("since: give since or from, not both")
		}
		d, err := parseSince(s)
		if err != nil {
			return Filter{}, fmt.Errorf("since: %w", err)
		}
		f.From = now.Add(-d)
	}
	if s := q.Get("to"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			return Filter{}, fmt.Errorf("to: %w", err)
		}
		f.To = t
		if !q.Has("since") && !q.Has("from") {
			f.From = t.Add(-time.Hour)
		} else if q.Has("since") {
			d, _ := parseSince(q.Get("since"))
			f.From = t.Add(-d)
		}
	}
	if s := q.Get("from"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			return Filter{}, fmt.Errorf("from: %w", err)
		}
		f.From = t
	}
	if !f.From.Before(f.To) {
		return Filter{}, fmt.Errorf("from: must be before to (%s >= %s)", f.From.Format(time.RFC3339), f.To.Format(time.RFC3339))
	}
	if f.To.Sub(f.From) > MaxRange {
		return Filter{}, fmt.Errorf("from: range longer than %s", MaxRange)
	}
	if s := q.Get("score"); s != "" {
		lo, hi, ok := strings.Cut(s, "-")
		var err error
		if f.ScoreMin, err = parseScore(lo); err != nil {
			return Filter{}, fmt.Errorf("score: %w", err)
		}
		f.ScoreMax = f.ScoreMin
		if ok {
			if f.ScoreMax, err = parseScore(hi); err != nil {
				return Filter{}, fmt.Errorf("score: %w", err)
			}
		}
	}
	if s := q.Get("score_below"); s != "" {
		n, err := parseScore(s)
		if err != nil || n < 2 {
			return Filter{}, fmt.Errorf("score_below: want 2-99, got %q", s)
		}
		f.ScoreMax = n - 1
		if f.ScoreMin == 0 {
			f.ScoreMin = 1 // 0 is "not computed", not a low score
		}
	}
	if s := q.Get("score_above"); s != "" {
		n, err := parseScore(s)
		if err != nil || n > 98 {
			return Filter{}, fmt.Errorf("score_above: want 0-98, got %q", s)
		}
		f.ScoreMin = n + 1
	}
	if f.ScoreMax != 0 && f.ScoreMin > f.ScoreMax {
		return Filter{}, fmt.Errorf("score: lower bound %d above upper bound %d", f.ScoreMin, f.ScoreMax)
	}
	f.PathPrefix = q.Get("path_prefix")

	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first bad key is always the same one
	for _, key := range keys {
		switch key {
		case "since", "from", "to", "score", "score_below", "score_above", "path_prefix":
			continue
		}
		d := Dim(key)
		spec, ok := dimSpecs[d]
		if !ok || d == DimScore {
			return Filter{}, fmt.Errorf("%s: unknown filter field (score, score_below, score_above, since, from, to, path_prefix or an attribute: %s)", key, strings.Join(Dims(), ", "))
		}
		for _, v := range q[key] {
			if err := checkValue(d, spec, v); err != nil {
				return Filter{}, fmt.Errorf("%s: %w", key, err)
			}
		}
		if f.Match == nil {
			f.Match = map[Dim][]string{}
		}
		f.Match[d] = slices.Clone(q[key])
	}
	return f, nil
}

func checkValue(d Dim, spec dimSpec, v string) error {
	switch {
	case spec.kind == dimKindInt || spec.kind == dimKindIntList:
		if _, err := strconv.ParseInt(v, 10, 32); err != nil {
			return fmt.Errorf("want an integer, got %q", v)
		}
	case d == DimIP:
		if _, err := netip.ParseAddr(v); err != nil {
			return fmt.Errorf("want an IP address, got %q", v)
		}
	case d == DimPrefix:
		p, err := netip.ParsePrefix(v)
		if err != nil || p != p.Masked() {
			return fmt.Errorf("want a network like 192.0.2.0/24, got %q", v)
		}
	}
	return nil
}

func parseScore(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 99 {
		return 0, fmt.Errorf("want 0-99, got %q", s)
	}
	return n, nil
}

// parseSince reads a duration, with "d" for days as the dashboard offers.
func parseSince(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive duration like 30m, 1h or 7d, got %q", s)
	}
	if d > MaxRange {
		return 0, fmt.Errorf("longer than %s", MaxRange)
	}
	return d, nil
}

func parseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 1<<35 {
			return time.Time{}, fmt.Errorf("unix seconds out of range: %d", n)
		}
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339 or unix seconds, got %q", s)
	}
	return t, nil
}

// Values writes the filter back as query parameters (absolute times), so
// that a link made from it selects the same records.
func (f Filter) Values() url.Values {
	q := url.Values{}
	q.Set("from", f.From.UTC().Format(time.RFC3339))
	q.Set("to", f.To.UTC().Format(time.RFC3339))
	switch {
	case f.ScoreMin != 0 || f.ScoreMax != 0:
		hi := f.ScoreMax
		if hi == 0 {
			hi = 99
		}
		q.Set("score", fmt.Sprintf("%d-%d", f.ScoreMin, hi))
	}
	if f.PathPrefix != "" {
		q.Set("path_prefix", f.PathPrefix)
	}
	for d, vs := range f.Match {
		for _, v := range vs {
			q.Add(string(d), v)
		}
	}
	return q
}

// rollupOnly reports whether the filter reads only attributes the hourly
// rollups keep, so that rolled-up hours can answer it.
func (f Filter) rollupOnly() bool {
	if f.PathPrefix != "" {
		return false
	}
	for d := range f.Match {
		if !dimSpecs[d].rollup {
			return false
		}
	}
	return true
}
