package analytics

import (
	"fmt"
	"strconv"
	"strings"
)

// celField is how an attribute reads in the policy language; "" means the
// attribute is an outcome of the policy (action, rule), not an input of it,
// and has no expression.
var celField = map[Dim]string{
	DimCategory: "bot.category", DimSource: "bot.source", DimHost: "http.host", DimPath: "http.path",
	DimMethod: "http.method", DimUserAgent: "http.user_agent", DimIP: "ip.src", DimASN: "ip.asn",
	DimCountry: "ip.country", DimJA4: "bot.ja4", DimTag: "bot.tags", DimDetectionID: "bot.detection_ids",
	DimVerifiedBot: "bot.verified_bot", DimVerifiedCat: "bot.verified_category", DimAICategory: "bot.ai_category",
	DimPrefix: "ip.src",
}

// quote writes s as a CEL string literal (CEL accepts Go's escapes).
func quote(s string) string { return strconv.Quote(s) }

// Expression returns the policy expression (CEL over the policy's own
// fields) that selects the same traffic as f, and the filter terms it
// cannot express (time range, action, rule, ...: they describe when or what
// was decided, not the request).
func (f Filter) Expression() (string, []string) {
	var terms, skipped []string
	switch {
	case f.ScoreMin > 0 && f.ScoreMax > 0 && f.ScoreMin == f.ScoreMax:
		terms = append(terms, fmt.Sprintf("bot.score == %d", f.ScoreMin))
	default:
		if f.ScoreMin > 0 {
			terms = append(terms, fmt.Sprintf("bot.score >= %d", f.ScoreMin))
		}
		if f.ScoreMax > 0 {
			terms = append(terms, fmt.Sprintf("bot.score <= %d", f.ScoreMax))
		}
	}
	if f.PathPrefix != "" {
		terms = append(terms, "http.path.startsWith("+quote(f.PathPrefix)+")")
	}
	for _, d := range sortedDims(f.Match) {
		field, ok := celField[d]
		if !ok {
			skipped = append(skipped, string(d))
			continue
		}
		var alts []string
		for _, v := range f.Match[d] {
			switch d {
			case DimTag:
				alts = append(alts, quote(v)+" in "+field)
			case DimDetectionID:
				alts = append(alts, v+" in "+field)
			case DimASN:
				alts = append(alts, field+" == "+v)
			case DimPrefix:
				alts = append(alts, "ip.in_cidr("+field+", ["+quote(v)+"])")
			default:
				alts = append(alts, field+" == "+quote(v))
			}
		}
		if len(alts) == 1 {
			terms = append(terms, alts[0])
		} else {
			terms = append(terms, "("+strings.Join(alts, " || ")+")")
		}
	}
	if len(terms) == 0 {
		return "true", skipped
	}
	return strings.Join(terms, " && "), skipped
}
