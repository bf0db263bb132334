package regexset

import ahocorasick "github.com/petar-dambovaliev/aho-corasick"

// automaton is the literal prefilter, built on petar-dambovaliev/aho-corasick
// (a port of Rust's aho-corasick crate) with standard match semantics, the
// only kind that reports overlapping matches: the prefilter needs every
// pattern whose literal occurs anywhere, not the leftmost-longest hits. The
// DFA form costs memory but keeps a scan at one table lookup per input byte.
type automaton struct {
	ac    ahocorasick.AhoCorasick
	owner []int32 // literal index -> pattern index
	bytes int     // upper bound of the DFA's transition table, see size
}

// newAutomaton builds the automaton for literals (folded); owner[i] is the
// pattern literal i belongs to. Duplicate literals stay separate entries,
// each reported with its own index.
func newAutomaton(literals []string, owner []int32) *automaton {
	b := ahocorasick.NewAhoCorasickBuilder(ahocorasick.Opts{MatchKind: ahocorasick.StandardMatch, DFA: true})
	a := &automaton{ac: b.Build(literals), owner: owner}
	// The library does not report its size. Its DFA has at most one state
	// per literal byte plus three (fail, dead, start), an alphabet of byte
	// classes split at each byte the literals use (at most 2n+1 classes for
	// n distinct bytes), and one 8-byte state ID per state and class.
	var used [256]bool
	states, distinct := 3, 0
	for _, lit := range literals {
		states += len(lit)
		for i := 0; i < len(lit); i++ {
			if !used[lit[i]] {
				used[lit[i]] = true
				distinct++
			}
		}
	}
	a.bytes = states*min(2*distinct+1, 256)*8 + len(owner)*4
	return a
}

// scan feeds folded input through the automaton and calls hit for every
// literal occurrence's pattern (possibly several times for one pattern).
func (a *automaton) scan(folded []byte, hit func(pattern int32)) {
	it := a.ac.IterOverlappingByte(folded)
	for m := it.Next(); m != nil; m = it.Next() {
		hit(a.owner[m.Pattern()])
	}
}

// scanPos is scan that also passes the index of the literal's last byte.
func (a *automaton) scanPos(folded []byte, hit func(pattern int32, end int)) {
	it := a.ac.IterOverlappingByte(folded)
	for m := it.Next(); m != nil; m = it.Next() {
		hit(a.owner[m.Pattern()], m.End()-1) // End is exclusive
	}
}

// size returns an upper bound of the memory held by the automaton in bytes.
func (a *automaton) size() int { return a.bytes }
