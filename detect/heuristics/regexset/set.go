// Package regexset matches one input against many RE2 patterns at once.
//
// Running a thousand regexps per request is what the UA database must not
// do, and Go's regexp has no DFA that would make one giant alternation cheap.
// So each pattern is reduced to a set of literals of which at least one must
// occur in any match (derived from its syntax tree, see requiredLiterals);
// one Aho-Corasick pass over the case-folded input yields the few candidate
// patterns, and only those run their compiled regexp. Patterns from which no
// useful literal can be derived are tried through one combined regexp first,
// and individually only when it matched.
//
// All patterns are matched case-insensitively, as Crawler-Detect, isbot and
// the OWASP CRS match user agents.
package regexset

import (
	"fmt"
	"math/bits"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
)

// Set is a compiled pattern set. It is safe for concurrent use.
type Set struct {
	exprs  []string
	res    []*regexp.Regexp // nil for rejected patterns
	exact  []bool           // the pattern is one literal: a prefilter hit is a match
	ac     *automaton
	always []int32        // patterns without a prefilter
	anyRe  *regexp.Regexp // alternation of the always patterns, nil if none
	pool   sync.Pool      // *scratch
	// Rejected lists the patterns that could not be compiled as RE2 (for
	// example look-around), in input order.
	Rejected []Rejected
}

// Rejected is a pattern the set left out.
type Rejected struct {
	Index int
	Expr  string
	Err   error
}

type scratch struct {
	folded []byte
	seen   []uint64
}

// Compile builds a set from exprs; Set indexes are positions in exprs.
// Patterns RE2 cannot compile are skipped and listed in Rejected.
func Compile(exprs []string) *Set {
	s := &Set{
		exprs: exprs,
		res:   make([]*regexp.Regexp, len(exprs)),
		exact: make([]bool, len(exprs)),
	}
	var lits []string
	var owner []int32
	var always []string
	for i, e := range exprs {
		re, err := regexp.Compile("(?i:" + e + ")")
		if err != nil {
			s.Rejected = append(s.Rejected, Rejected{Index: i, Expr: e, Err: err})
			continue
		}
		s.res[i] = re
		tree, err := syntax.Parse(e, syntax.Perl|syntax.FoldCase)
		if err != nil {
			// Compile succeeded, so this cannot happen; stay conservative.
			s.always = append(s.always, int32(i))
			always = append(always, "(?i:"+e+")")
			continue
		}
		set := requiredLiterals(tree)
		if set == nil {
			s.always = append(s.always, int32(i))
			always = append(always, "(?i:"+e+")")
			continue
		}
		s.exact[i] = tree.Op == syntax.OpLiteral
		for _, l := range set {
			lits = append(lits, l)
			owner = append(owner, int32(i))
		}
	}
	s.ac = newAutomaton(lits, owner)
	if len(always) > 0 {
		// Each part compiled on its own above, so the union compiles too.
		s.anyRe = regexp.MustCompile(strings.Join(always, "|"))
	}
	words := (len(exprs) + 63) / 64
	s.pool.New = func() any { return &scratch{seen: make([]uint64, words)} }
	return s
}

// Len returns the number of patterns given to Compile.
func (s *Set) Len() int { return len(s.exprs) }

// Expr returns pattern i as given.
func (s *Set) Expr(i int) string { return s.exprs[i] }

// Regexp returns the compiled (case-insensitive) pattern i, nil if rejected.
func (s *Set) Regexp(i int) *regexp.Regexp { return s.res[i] }

// Prefiltered returns how many patterns have a literal prefilter and how
// many must be tried on every input.
func (s *Set) Prefiltered() (withLiteral, always int) {
	return len(s.exprs) - len(s.Rejected) - len(s.always), len(s.always)
}

// MemoryBytes estimates the memory held by the prefilter automaton.
func (s *Set) MemoryBytes() int { return s.ac.size() }

// Candidates appends to dst, in ascending order, the indexes of patterns that
// may match input: those whose literal occurs and those without a literal.
// Candidates that are single literals are already known to match.
func (s *Set) Candidates(input string, dst []int) []int {
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	return s.candidates(input, sc, dst)
}

func (s *Set) candidates(input string, sc *scratch, dst []int) []int {
	sc.folded = Fold(sc.folded[:0], input)
	clear(sc.seen)
	any := false
	s.ac.scan(sc.folded, func(p int32) {
		sc.seen[p>>6] |= 1 << (p & 63)
		any = true
	})
	if s.anyRe != nil && s.anyRe.MatchString(input) {
		for _, p := range s.always {
			sc.seen[p>>6] |= 1 << (p & 63)
		}
		any = true
	}
	if !any {
		return dst
	}
	for w, word := range sc.seen {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			dst = append(dst, w*64+b)
		}
	}
	return dst
}

// MatchAll appends to dst, in ascending order, the indexes of all patterns
// that match input.
func (s *Set) MatchAll(input string, dst []int) []int {
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	start := len(dst)
	dst = s.candidates(input, sc, dst)
	out := dst[:start]
	for _, i := range dst[start:] {
		if s.exact[i] || s.res[i].MatchString(input) {
			out = append(out, i)
		}
	}
	return out
}

// Match reports whether any pattern matches input.
func (s *Set) Match(input string) bool {
	var buf [16]int
	return len(s.MatchAll(input, buf[:0])) > 0
}

// String describes the set for logs.
func (s *Set) String() string {
	lit, always := s.Prefiltered()
	return fmt.Sprintf("regexset: %d patterns (%d prefiltered, %d always tried, %d rejected)", len(s.exprs), lit, always, len(s.Rejected))
}
