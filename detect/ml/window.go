package ml

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// pageWindow counts HTML page views per key (a session, a client, an
// address prefix) over the last minute, in slots of slotWidth, with a
// count-min sketch: fixed memory whatever the number of clients, no lock
// and no allocation on the hot path, and an error that only ever
// over-counts (by the collisions of the least-loaded row).
//
// Why page views and not requests: one page a person opens brings its
// assets and API calls along, but people read pages for seconds, while a
// crawler asks for the next page at once. The model reads the counts of
// the last slot (a burst) and of the whole window (a pace).
type pageWindow struct {
	seed  maphash.Seed
	slots [windowSlots]slot
	mu    sync.Mutex // serialises rotation only
}

const (
	slotWidth   = 10 * time.Second
	windowSlots = 6 // one minute
	sketchRows  = 2
	sketchWidth = 1 << 14 // per row; 2×16384×6 uint32 = 768 KiB per window
)

type slot struct {
	epoch atomic.Int64 // slot index since the Unix epoch this slot holds
	cells [sketchRows][sketchWidth]atomic.Uint32
}

func newPageWindow() *pageWindow { return &pageWindow{seed: maphash.MakeSeed()} }

// cells returns the sketch positions of a key hashed with w.seed.
func cells(h uint64) [sketchRows]uint32 {
	return [sketchRows]uint32{uint32(h) % sketchWidth, uint32(h>>32) % sketchWidth}
}

// current returns the slot for time now, clearing it first when it still
// holds an older epoch.
func (w *pageWindow) current(now time.Time) *slot {
	ep := now.UnixNano() / int64(slotWidth)
	s := &w.slots[ep%windowSlots]
	if s.epoch.Load() == ep {
		return s
	}
	w.mu.Lock()
	if s.epoch.Load() != ep {
		for r := range s.cells {
			for i := range s.cells[r] {
				s.cells[r][i].Store(0)
			}
		}
		s.epoch.Store(ep)
	}
	w.mu.Unlock()
	return s
}

// add counts one page view of the key hashed to h at now.
func (w *pageWindow) add(h uint64, now time.Time) {
	s := w.current(now)
	c := cells(h)
	for r, i := range c {
		s.cells[r][i].Add(1)
	}
}

// counts returns the page views of the key hashed to h in the slot of now
// and the one before (burst: the last 10–20 s) and in the whole window
// (minute).
func (w *pageWindow) counts(h uint64, now time.Time) (burst, minute uint32) {
	ep := now.UnixNano() / int64(slotWidth)
	c := cells(h)
	for k := range w.slots {
		s := &w.slots[k]
		e := s.epoch.Load()
		if e > ep || e <= ep-windowSlots {
			continue
		}
		n := s.cells[0][c[0]].Load()
		for r := 1; r < sketchRows; r++ {
			n = min(n, s.cells[r][c[r]].Load())
		}
		minute += n
		if e >= ep-1 {
			burst += n
		}
	}
	return burst, minute
}
