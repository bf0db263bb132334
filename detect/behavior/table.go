package behavior

// table holds the states of one worker: a slice of fixed-size states, an
// index from key hash to slot, and CLOCK eviction (a second-chance
// approximation of LRU) once max slots are in use. Only its worker touches
// it, so it has no lock.
type table struct {
	slots     []state
	index     map[uint64]uint32
	max       int
	hand      int
	evictions uint64
}

func newTable(max int) *table {
	return &table{index: make(map[uint64]uint32, min(max, 1<<16)), max: max}
}

// get returns the state of key, creating it (and possibly evicting the
// least recently used one) when absent. The pointer is valid until the
// next get.
func (t *table) get(key uint64) (s *state, fresh bool) {
	if i, ok := t.index[key]; ok {
		s = &t.slots[i]
		s.ref = true
		return s, false
	}
	var i int
	if len(t.slots) < t.max {
		t.slots = append(t.slots, state{})
		i = len(t.slots) - 1
	} else {
		i = t.evict()
	}
	t.slots[i] = state{key: key, ref: true}
	t.index[key] = uint32(i)
	return &t.slots[i], true
}

// evict frees the first slot whose reference bit is clear, clearing the
// bits it passes: keys used since the hand last passed get a second chance.
func (t *table) evict() int {
	for {
		i := t.hand
		t.hand++
		if t.hand == len(t.slots) {
			t.hand = 0
		}
		s := &t.slots[i]
		if s.ref {
			s.ref = false
			continue
		}
		delete(t.index, s.key)
		t.evictions++
		return i
	}
}

func (t *table) len() int { return len(t.index) }
