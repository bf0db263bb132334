package behavior

import (
	"math"
	"math/bits"
)

// counts are one window's counters of a key. Distinct counts use small
// bitmaps (linear counting, the small-range estimator of HyperLogLog):
// 64 or 128 bits estimate up to a few hundred distinct values, which is all
// a detector threshold needs, in 8–16 bytes.
type counts struct {
	reqs, pages, assets, c4xx uint16
	loginFail, challenge      uint16
	robots, anomalies         uint16
	paths                     [2]uint64
	uas, ips, accts           uint64
}

func sat16(x uint16) uint16 {
	if x == math.MaxUint16 {
		return x
	}
	return x + 1
}

// state is everything tracked about one key: fixed size, no pointers, so a
// million of them in one slice cost the garbage collector nothing.
type state struct {
	key       uint64 // hash of kind+key; 0 = free slot
	lastMs    int64  // time of the last event (ms)
	lastPgMs  int64  // time of the last non-asset event (ms), for timing
	cur, prev counts
	epoch     uint32 // window index of cur
	sec       uint32 // the second secN counts
	secN      uint16
	gapN      uint16
	gapMean   float32 // exponentially weighted inter-arrival mean (ms)
	gapVar    float32 // and variance
	risk      float32 // decays with the half-life from lastMs
	seqTmpl   uint32
	seqLast   uint32
	seqRun    uint16
	tags      uint16 // detectors that fired while the risk lasted
	pubTags   uint16
	pubScore  uint8
	kind      uint8
	ref       bool // CLOCK reference bit
	robotsTxt bool // fetched /robots.txt (and so knows the rules)
	pubUntil  int64
}

// advance moves the window to the one containing ms and returns the weight
// of the previous window in the sliding estimate (1 at the start of the
// current window, 0 at its end).
func (s *state) advance(ms int64, windowMs int64) float64 {
	if ms < 0 {
		ms = 0
	}
	e := uint32(ms / windowMs)
	switch {
	case e == s.epoch+1:
		s.prev, s.cur = s.cur, counts{}
		s.epoch = e
	case e > s.epoch+1:
		s.prev, s.cur = counts{}, counts{}
		s.epoch = e
	}
	if e < s.epoch { // out of order: count it in the current window
		return 1
	}
	return 1 - float64(ms%windowMs)/float64(windowMs)
}

// addBit records hash h in a 64-bit distinct counter.
func addBit(b *uint64, h uint64) { *b |= 1 << (h >> 58) }

// addBit128 records hash h in a 128-bit distinct counter.
func addBit128(b *[2]uint64, h uint64) { b[h>>63] |= 1 << ((h >> 57) & 63) }

// linearCount estimates the number of distinct values set in m bits with
// the given number of ones: n = -m·ln(zeros/m). A full bitmap returns m·ln(m).
func linearCount(ones, m int) float64 {
	zeros := m - ones
	if zeros <= 0 {
		return float64(m) * math.Log(float64(m))
	}
	return -float64(m) * math.Log(float64(zeros)/float64(m))
}

// The estimates by number of ones, computed once: the detectors read them
// on every event, and a logarithm per read was the analysis's hottest spot.
var linear64, linear128 = linearTable(64), linearTable(128)

func linearTable(m int) []float64 {
	t := make([]float64, m+1)
	for ones := range t {
		t[ones] = linearCount(ones, m)
	}
	return t
}

func distinct64(a, b uint64) float64 { return linear64[bits.OnesCount64(a|b)] }

func distinct128(a, b [2]uint64) float64 {
	return linear128[bits.OnesCount64(a[0]|b[0])+bits.OnesCount64(a[1]|b[1])]
}
