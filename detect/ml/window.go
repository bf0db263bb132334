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
// over-counts (by the collisions of the least-loaded row). An over-count
// reads as a faster pace, so it would push people on a busy site towards
// the challenge: the sketch is wide enough for a busy replica's minute of
// page views (hundreds of thousands) and counts with the conservative
// update (only the cells at the key's current minimum grow), which keeps
// collisions from adding up across rows.
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
	sketchRows  = 4
	sketchWidth = 1 << 16 // per row; 4×65536×6 uint32 = 6 MiB per window
)

type slot struct {
	epoch atomic.Int64 // slot index since the Unix epoch this slot holds
	cells [sketchRows][sketchWidth]atomic.Uint32
}

func newPageWindow() *pageWindow { return &pageWindow{seed: maphash.MakeSeed()} }

// cells returns the sketch positions of a key hashed with w.seed: one per
// row by double hashing (Kirsch–Mitzenmacher), h1 + r·h2, from the two
// halves of the 64-bit hash; h2 is odd so the rows never coincide.
func cells(h uint64) [sketchRows]uint32 {
	h1, h2 := uint32(h), uint32(h>>32)|1
	var c [sketchRows]uint32
	for r := range c {
		c[r] = (h1 + uint32(r)*h2) % sketchWidth
	}
	return c
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

// add counts one page view of the key hashed to h at now, with the
// conservative update: only the cells that hold the key's current estimate
// grow. Adds that race on the same cells (one client's parallel requests)
// may each move a different row, so a view can go uncounted: an
// under-count of a few in thousands under contention, which a lock per
// page view on the hot path would cost more to avoid than it is worth.
// An add that finds none of its cells still at the estimate it read
// retries, so a view is never dropped for want of a cell.
func (w *pageWindow) add(h uint64, now time.Time) {
	s := w.current(now)
	c := cells(h)
	for {
		est := s.cells[0][c[0]].Load()
		for r := 1; r < sketchRows; r++ {
			est = min(est, s.cells[r][c[r]].Load())
		}
		grew := false
		for r, i := range c {
			if s.cells[r][i].CompareAndSwap(est, est+1) {
				grew = true
			}
		}
		if grew {
			return
		}
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
