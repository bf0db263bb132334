package regexset

import (
	"unicode"
	"unicode/utf8"
)

// Fold appends to dst the case-folded form of s used by the literal
// prefilter: ASCII letters become lower case, and every other rune becomes
// the canonical member of its simple-fold orbit (lower-case ASCII when the
// orbit holds one, so KELVIN SIGN folds to 'k' and LONG S to 's', exactly as
// RE2's (?i) matching treats them). Literals and inputs folded this way agree
// whenever a case-insensitive regexp match exists, which is what makes the
// prefilter exact.
func Fold(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		dst = utf8.AppendRune(dst, foldRune(r))
	}
	return dst
}

// foldRune maps r to the canonical member of its case-fold orbit.
func foldRune(r rune) rune {
	best := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < best {
			best = f
		}
	}
	if 'A' <= best && best <= 'Z' {
		best += 'a' - 'A'
	}
	return best
}

// FoldString is Fold for a string result.
func FoldString(s string) string { return string(Fold(nil, s)) }
