package regexset

// automaton is a byte-level Aho-Corasick automaton compiled to a dense DFA
// over an alphabet of byte classes: every byte that occurs in no literal
// shares class 0, so the transition table stays small (states × classes)
// and one scan costs one table lookup per input byte.
type automaton struct {
	class    [256]uint16
	nclass   int
	delta    []int32 // state*nclass + class -> next state
	out      []int32 // per state: index into outs of its first output, -1 for none
	outs     []output
	outCount int
}

// output is a linked list of literal hits ending in a state (its own
// literals, then those of its dictionary-suffix states).
type output struct {
	pattern int32 // index of the pattern the literal belongs to
	next    int32 // next output index, -1 at the end
}

type trieNode struct {
	next     map[byte]int32
	fail     int32
	patterns []int32
}

// newAutomaton builds the automaton for literals (folded); owner[i] is the
// pattern literal i belongs to.
func newAutomaton(literals []string, owner []int32) *automaton {
	a := &automaton{}
	// Byte classes: class 0 for bytes no literal uses.
	for _, lit := range literals {
		for i := 0; i < len(lit); i++ {
			b := lit[i]
			if a.class[b] == 0 {
				a.nclass++
				a.class[b] = uint16(a.nclass)
			}
		}
	}
	a.nclass++ // include class 0

	nodes := []trieNode{{next: map[byte]int32{}}}
	for li, lit := range literals {
		s := int32(0)
		for i := 0; i < len(lit); i++ {
			n, ok := nodes[s].next[lit[i]]
			if !ok {
				n = int32(len(nodes))
				nodes = append(nodes, trieNode{next: map[byte]int32{}})
				nodes[s].next[lit[i]] = n
			}
			s = n
		}
		nodes[s].patterns = append(nodes[s].patterns, owner[li])
	}

	// Breadth-first: failure links and the dense transition table.
	a.delta = make([]int32, len(nodes)*a.nclass)
	a.out = make([]int32, len(nodes))
	dictLink := make([]int32, len(nodes)) // nearest proper suffix state with outputs, -1 none
	for i := range dictLink {
		dictLink[i] = -1
	}
	queue := make([]int32, 0, len(nodes))
	for b := 0; b < 256; b++ {
		c := a.class[b]
		if c == 0 {
			continue
		}
		if n, ok := nodes[0].next[byte(b)]; ok {
			a.delta[int(c)] = n
			nodes[n].fail = 0
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := nodes[s].fail
		if len(nodes[f].patterns) > 0 {
			dictLink[s] = f
		} else {
			dictLink[s] = dictLink[f]
		}
		for b := 0; b < 256; b++ {
			c := int(a.class[b])
			if c == 0 {
				continue
			}
			if n, ok := nodes[s].next[byte(b)]; ok {
				nodes[n].fail = a.delta[int(f)*a.nclass+c]
				a.delta[int(s)*a.nclass+c] = n
				queue = append(queue, n)
			} else {
				a.delta[int(s)*a.nclass+c] = a.delta[int(f)*a.nclass+c]
			}
		}
	}

	// Outputs: each state's own patterns, chained to its dictionary suffix.
	for s := range nodes {
		a.out[s] = -1
	}
	// Process in BFS order so dictionary-suffix chains already exist.
	order := make([]int32, 0, len(nodes))
	order = append(order, 0)
	for i := 0; i < len(order); i++ {
		s := order[i]
		for b := 0; b < 256; b++ {
			if n, ok := nodes[s].next[byte(b)]; ok {
				order = append(order, n)
			}
		}
	}
	for _, s := range order {
		tail := int32(-1)
		if d := dictLink[s]; d >= 0 {
			tail = a.out[d]
		}
		head := tail
		for i := len(nodes[s].patterns) - 1; i >= 0; i-- {
			a.outs = append(a.outs, output{pattern: nodes[s].patterns[i], next: head})
			head = int32(len(a.outs) - 1)
		}
		a.out[s] = head
	}
	return a
}

// scan feeds folded input through the automaton and calls hit for every
// literal occurrence's pattern (possibly several times for one pattern).
func (a *automaton) scan(folded []byte, hit func(pattern int32)) {
	s := int32(0)
	for _, b := range folded {
		s = a.delta[int(s)*a.nclass+int(a.class[b])]
		for o := a.out[s]; o >= 0; o = a.outs[o].next {
			hit(a.outs[o].pattern)
		}
	}
}

// scanPos is scan that also passes the index of the literal's last byte.
func (a *automaton) scanPos(folded []byte, hit func(pattern int32, end int)) {
	s := int32(0)
	for i, b := range folded {
		s = a.delta[int(s)*a.nclass+int(a.class[b])]
		for o := a.out[s]; o >= 0; o = a.outs[o].next {
			hit(a.outs[o].pattern, i)
		}
	}
}

// size returns the approximate memory held by the automaton in bytes.
func (a *automaton) size() int {
	return len(a.delta)*4 + len(a.out)*4 + len(a.outs)*8 + 256
}
