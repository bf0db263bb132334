// Package regexset matches one input against many RE2 patterns at once.
//
// Running a thousand regexps per request is what the UA database must not
// do, and Go's regexp has no DFA that would make one giant alternation cheap.
// So each pattern is reduced to a set of literals of which at least one must
// occur in any match (derived from its syntax tree, see requiredLiterals);
// one Aho-Corasick pass over the case-folded input yields the few candidate
// patterns, and only those run their compiled regexp. Patterns from which no
// useful literal can be derived are tried one by one on every input: they
// are few, and most are anchored at the start, where Go's regexp gives up
// after the first position (a combined alternation would lose that and try
// every alternative at every position).
//
// All patterns are matched case-insensitively, as Crawler-Detect, isbot and
// the OWASP CRS match user agents.
package regexset

import (
	"fmt"
	"math/bits"
	"regexp"
	"regexp/syntax"
	"sort"
	"sync"
)

// Set is a compiled pattern set. It is safe for concurrent use.
type Set struct {
	exprs []string
	res   []*regexp.Regexp // nil for rejected patterns
	exact []bool           // the pattern is one literal: a prefilter hit is a match
	// anchored[i] is pattern i compiled as ^(?i:...) when every match
	// starts with its prefilter literal (and it has no assertions): a match
	// can then be tried at each literal occurrence instead of scanning.
	anchored  []*regexp.Regexp
	prefixLen []int // length of that literal
	// assertions[i]: pattern i has ^, $ or \b, so its matches depend on
	// context outside a substring.
	assertions []bool
	ac         *automaton
	always     []int32        // patterns without a prefilter
	anyRe      *regexp.Regexp // alternation of the always patterns, nil if none
	pool       sync.Pool      // *scratch
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
	seen   []uint64 // candidates to confirm with the full regexp
	hit    []uint64 // confirmed matches
	starts []Span   // FindLeftmost: literal occurrences of anchored patterns
	others []Span   // FindLeftmost: other candidates and their next match
}

// Compile builds a set from exprs; Set indexes are positions in exprs.
// Patterns RE2 cannot compile are skipped and listed in Rejected.
func Compile(exprs []string) *Set {
	s := &Set{
		exprs:      exprs,
		res:        make([]*regexp.Regexp, len(exprs)),
		exact:      make([]bool, len(exprs)),
		anchored:   make([]*regexp.Regexp, len(exprs)),
		prefixLen:  make([]int, len(exprs)),
		assertions: make([]bool, len(exprs)),
	}
	var lits []string
	var owner []int32
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
			s.assertions[i] = true
			s.always = append(s.always, int32(i))
			continue
		}
		s.assertions[i] = hasAssertion(tree)
		set := requiredLiterals(tree)
		if set == nil {
			s.always = append(s.always, int32(i))
			continue
		}
		s.exact[i] = tree.Op == syntax.OpLiteral
		if prefix, ok := literalPrefix(tree); ok {
			// Use the prefix itself as the prefilter literal, so that every
			// hit marks a possible match start.
			set = []string{prefix}
			s.anchored[i] = regexp.MustCompile("^(?i:" + e + ")")
			s.prefixLen[i] = len(prefix)
		}
		for _, l := range set {
			lits = append(lits, l)
			owner = append(owner, int32(i))
		}
	}
	s.ac = newAutomaton(lits, owner)
	words := (len(exprs) + 63) / 64
	s.pool.New = func() any { return &scratch{seen: make([]uint64, words), hit: make([]uint64, words)} }
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
	for _, p := range s.always {
		sc.seen[p>>6] |= 1 << (p & 63)
		any = true
	}
	if !any {
		return dst
	}
	return appendBits(dst, sc.seen)
}

// appendBits appends the indexes of the set bits of words, ascending.
func appendBits(dst []int, words []uint64) []int {
	for w, word := range words {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			dst = append(dst, w*64+b)
		}
	}
	return dst
}

// Span is a match: input[Start:End] matched pattern Pattern.
type Span struct {
	Start, End, Pattern int
}

// FindLeftmost appends to dst the non-overlapping matches that one
// alternation of all the patterns (in index order) would find scanning left
// to right, as a regexp ReplaceAll over "p0|p1|..." removes them: at each
// position the leftmost match, ties going to the lower pattern index, the
// scan resuming where the last match ended. Empty matches are skipped.
func (s *Set) FindLeftmost(input string, dst []Span) []Span {
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	ascii := isASCII(input)
	sc.folded = Fold(sc.folded[:0], input)
	clear(sc.seen)
	// Possible starts of the prefix-anchored patterns (ASCII input only:
	// folding keeps ASCII offsets, so a literal ending at folded index e
	// starts at e-len+1 in input too).
	starts := sc.starts[:0]
	s.ac.scanPos(sc.folded, func(p int32, end int) {
		i := int(p)
		if ascii && s.anchored[i] != nil {
			starts = append(starts, Span{Start: end - s.prefixLen[i] + 1, Pattern: i})
			return
		}
		sc.seen[p>>6] |= 1 << (p & 63)
	})
	for _, p := range s.always {
		sc.seen[p>>6] |= 1 << (p & 63)
	}
	sort.Slice(starts, func(a, b int) bool {
		if starts[a].Start != starts[b].Start {
			return starts[a].Start < starts[b].Start
		}
		return starts[a].Pattern < starts[b].Pattern
	})
	// The other candidates are searched from the scan position on.
	others := sc.others[:0]
	for w, word := range sc.seen {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			others = append(others, Span{Start: -1, Pattern: w*64 + b})
		}
	}
	pos, next := 0, 0
	for {
		best := Span{Start: -1}
		for next < len(starts) && starts[next].Start < pos {
			next++
		}
		for k := next; k < len(starts); k++ {
			st := starts[k]
			if best.Start >= 0 && (st.Start > best.Start || st.Start == best.Start && st.Pattern > best.Pattern) {
				break
			}
			if loc := s.anchored[st.Pattern].FindStringIndex(input[st.Start:]); loc != nil && loc[1] > 0 {
				best = Span{st.Start, st.Start + loc[1], st.Pattern}
				break
			}
		}
		for k := range others {
			o := &others[k]
			if o.Start < pos { // recompute this pattern's next match
				o.Start, o.End = s.nextMatch(o.Pattern, input, pos)
			}
			if o.Start >= 0 && (best.Start < 0 || o.Start < best.Start || o.Start == best.Start && o.Pattern < best.Pattern) {
				best = *o
			}
		}
		if best.Start < 0 {
			break
		}
		dst = append(dst, best)
		pos = best.End
	}
	sc.starts, sc.others = starts, others
	return dst
}

// nextMatch returns the first non-empty match of pattern i starting at or
// after pos, or -1. Patterns without assertions are searched in
// input[pos:]; with them the context matters, so their matches in the whole
// input are filtered instead.
func (s *Set) nextMatch(i int, input string, pos int) (int, int) {
	if pos > len(input) {
		return -1, -1
	}
	if !s.assertions[i] {
		for p := pos; p <= len(input); {
			loc := s.res[i].FindStringIndex(input[p:])
			if loc == nil {
				return -1, -1
			}
			if loc[1] > loc[0] {
				return p + loc[0], p + loc[1]
			}
			p += loc[0] + 1 // an empty match: look further
		}
		return -1, -1
	}
	for _, loc := range s.res[i].FindAllStringIndex(input, -1) {
		if loc[0] >= pos && loc[1] > loc[0] {
			return loc[0], loc[1]
		}
	}
	return -1, -1
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// MatchAll appends to dst, in ascending order, the indexes of all patterns
// that match input.
func (s *Set) MatchAll(input string, dst []int) []int {
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	sc.folded = Fold(sc.folded[:0], input)
	clear(sc.seen)
	clear(sc.hit)
	ascii := isASCII(input)
	s.ac.scanPos(sc.folded, func(p int32, end int) {
		w, bit := p>>6, uint64(1)<<(p&63)
		if sc.hit[w]&bit != 0 {
			return // already known to match
		}
		i := int(p)
		switch {
		case s.exact[i]:
			sc.hit[w] |= bit
		case ascii && s.anchored[i] != nil:
			// Try the match where the prefix literal occurs.
			if st := end - s.prefixLen[i] + 1; s.anchored[i].MatchString(input[st:]) {
				sc.hit[w] |= bit
			}
		default:
			sc.seen[w] |= bit
		}
	})
	for _, p := range s.always {
		sc.seen[p>>6] |= 1 << (p & 63)
	}
	for w := range sc.seen {
		word := sc.seen[w] &^ sc.hit[w]
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			if s.res[w*64+b].MatchString(input) {
				sc.hit[w] |= 1 << b
			}
		}
	}
	return appendBits(dst, sc.hit)
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
