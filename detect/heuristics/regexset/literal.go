package regexset

import (
	"regexp/syntax"
	"strings"
)

// minLiteral is the shortest literal worth a prefilter entry: shorter ones
// (a digit, a slash) occur in almost every input and would send the pattern
// to its regexp on every call anyway.
const minLiteral = 3

// maxAlternatives bounds the literal set of one pattern.
const maxAlternatives = 64

// requiredLiterals returns folded strings at least one of which occurs in
// every input that re matches (case-insensitively), or nil when no such set
// with literals of at least minLiteral bytes can be derived. The result is
// conservative: nil is always safe.
func requiredLiterals(re *syntax.Regexp) []string {
	set := required(re)
	if len(set) == 0 || quality(set) < minLiteral {
		return nil
	}
	return set
}

// literalPrefix returns the folded literal every match of re starts with
// (its leading run of literals), and whether re is free of empty-width
// assertions, so that a match can be tried anchored at an occurrence of
// that literal in a substring without changing its meaning.
func literalPrefix(re *syntax.Regexp) (string, bool) {
	if hasAssertion(re) {
		return "", false
	}
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	var run strings.Builder
	for _, sub := range subs {
		lit, ok := singleLiteral(sub)
		if !ok {
			break
		}
		run.WriteString(lit)
	}
	return run.String(), run.Len() >= minLiteral
}

func hasAssertion(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, sub := range re.Sub {
		if hasAssertion(sub) {
			return true
		}
	}
	return false
}

func quality(set []string) int {
	if len(set) == 0 {
		return 0
	}
	q := len(set[0])
	for _, s := range set[1:] {
		q = min(q, len(s))
	}
	return q
}

func required(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		return []string{FoldString(string(re.Rune))}
	case syntax.OpCapture:
		return required(re.Sub[0])
	case syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
		return nil
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			s := required(sub)
			if len(s) == 0 || quality(s) < minLiteral {
				return nil
			}
			out = append(out, s...)
			if len(out) > maxAlternatives {
				return nil
			}
		}
		return dedupe(out)
	case syntax.OpConcat:
		return requiredConcat(re.Sub)
	}
	return nil
}

// requiredConcat picks the best literal set among the parts of a
// concatenation, joining runs of adjacent plain literals first so that
// "foo" "[.]" "bar" style sequences keep their longest run.
func requiredConcat(subs []*syntax.Regexp) []string {
	var best []string
	consider := func(s []string) {
		if len(s) == 0 {
			return
		}
		if best == nil || quality(s) > quality(best) || quality(s) == quality(best) && len(s) < len(best) {
			best = s
		}
	}
	var run strings.Builder
	flush := func() {
		if run.Len() > 0 {
			consider([]string{run.String()})
			run.Reset()
		}
	}
	for _, sub := range subs {
		if lit, ok := singleLiteral(sub); ok {
			run.WriteString(lit)
			continue
		}
		if zeroWidth(sub) {
			// Anchors and word boundaries do not break a literal run.
			continue
		}
		flush()
		consider(required(sub))
	}
	flush()
	return best
}

// singleLiteral reports whether re matches exactly one folded string: a
// literal, or a character class whose members all fold to one byte sequence
// (e.g. [Kk] or an escaped dot).
func singleLiteral(re *syntax.Regexp) (string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return FoldString(string(re.Rune)), true
	case syntax.OpCharClass:
		var only string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				f := FoldString(string(r))
				if only == "" {
					only = f
				} else if f != only {
					return "", false
				}
				if re.Rune[i+1]-re.Rune[i] > 8 {
					return "", false
				}
			}
		}
		return only, only != ""
	case syntax.OpCapture:
		return singleLiteral(re.Sub[0])
	}
	return "", false
}

func zeroWidth(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpEmptyMatch:
		return true
	}
	return false
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
