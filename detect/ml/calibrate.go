package ml

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Calibration is an isotonic map from the regression's p(bot) to the share
// of bots observed at that value: breakpoints (Raw[i], Bot[i]), increasing
// in both, with linear interpolation between them and the end values held
// beyond. A logistic regression over correlated binary features is well
// ordered but over-confident (it counts the same evidence twice); the map
// keeps the order and fixes the scale, so that a score band means what it
// says ("score 10–19: about 85% of such requests are bots").
type Calibration struct {
	Raw []float64 `json:"raw"`
	Bot []float64 `json:"bot"`
}

func (c Calibration) validate() error {
	if len(c.Raw) != len(c.Bot) {
		return fmt.Errorf("calibration: %d raw values for %d bot shares", len(c.Raw), len(c.Bot))
	}
	for i := range c.Raw {
		if math.IsNaN(c.Raw[i]) || math.IsNaN(c.Bot[i]) || c.Bot[i] < 0 || c.Bot[i] > 1 || c.Raw[i] < 0 || c.Raw[i] > 1 {
			return fmt.Errorf("calibration: breakpoint %d (%v, %v) outside [0,1]", i, c.Raw[i], c.Bot[i])
		}
		if i > 0 && (c.Raw[i] < c.Raw[i-1] || c.Bot[i] < c.Bot[i-1]) {
			return errors.New("calibration: breakpoints are not increasing")
		}
	}
	return nil
}

// apply maps a raw p(bot); an empty calibration is the identity.
func (c Calibration) apply(p float64) float64 {
	n := len(c.Raw)
	switch {
	case n == 0:
		return p
	case p <= c.Raw[0]:
		return c.Bot[0]
	case p >= c.Raw[n-1]:
		return c.Bot[n-1]
	}
	i := sort.SearchFloat64s(c.Raw, p) // c.Raw[i-1] < p <= c.Raw[i]
	lo, hi := c.Raw[i-1], c.Raw[i]
	if hi == lo {
		return c.Bot[i]
	}
	t := (p - lo) / (hi - lo)
	return c.Bot[i-1] + t*(c.Bot[i]-c.Bot[i-1])
}

// fitIsotonic fits the calibration to raw values p with labels y (1 = bot)
// and weights w by pool-adjacent-violators: the non-decreasing step
// function closest to the labels in weighted squared error. Each pooled
// block becomes one breakpoint at its weighted mean raw value.
func fitIsotonic(p, y, w []float64) Calibration {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	type block struct{ sw, sy, sp float64 }
	var st []block
	for _, i := range idx {
		b := block{w[i], w[i] * y[i], w[i] * p[i]}
		for len(st) > 0 && st[len(st)-1].sy/st[len(st)-1].sw >= b.sy/b.sw {
			top := st[len(st)-1]
			st = st[:len(st)-1]
			b = block{top.sw + b.sw, top.sy + b.sy, top.sp + b.sp}
		}
		st = append(st, b)
	}
	var c Calibration
	for _, b := range st {
		raw, bot := b.sp/b.sw, b.sy/b.sw
		if n := len(c.Raw); n > 0 && raw <= c.Raw[n-1] {
			raw = math.Nextafter(c.Raw[n-1], 2) // equal means of distinct blocks: keep the order strict
		}
		c.Raw = append(c.Raw, min(raw, 1))
		c.Bot = append(c.Bot, bot)
	}
	return c
}
