package verified

import (
	"fmt"
	"net/netip"

	"github.com/gaissmai/bart"

	"github.com/botwarden/botwarden/detect/ranges"
)

// rangeTable maps an address to the set of bots whose published ranges
// contain it, as a bit set over the bot table (at most 64 bots).
type rangeTable struct {
	t        *bart.Table[uint64]
	prefixes int
	perBot   []int // prefixes per bot, for reporting
	snap     *ranges.Snapshot
	missing  []string // sets the bots name that no snapshot holds
}

// maxBots is the width of the bot bit set.
const maxBots = 64

func buildTable(bots []Bot, snap *ranges.Snapshot) (*rangeTable, error) {
	if len(bots) > maxBots {
		return nil, fmt.Errorf("at most %d bots can be verified, have %d", maxBots, len(bots))
	}
	rt := &rangeTable{t: new(bart.Table[uint64]), perBot: make([]int, len(bots)), snap: snap}
	seenMissing := map[string]bool{}
	for i, b := range bots {
		bit := uint64(1) << uint(i)
		add := func(p netip.Prefix) {
			rt.t.Modify(ranges.Canonical(p), func(old uint64, _ bool) (uint64, bool) { return old | bit, false })
			rt.perBot[i]++
		}
		for _, set := range b.Sets {
			ps := snap.Prefixes(set)
			if ps == nil && !seenMissing[set] {
				seenMissing[set] = true
				rt.missing = append(rt.missing, set)
			}
			for _, p := range ps {
				add(p)
			}
		}
		for _, s := range b.Prefixes {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("bot %s: prefixes: %w", b.ID, err)
			}
			add(p)
		}
	}
	// A longest-prefix match returns one value: fold every covering
	// prefix's bots into the more specific ones, so that an address in a
	// /27 of bot A inside a /16 of bot B reports both.
	type fold struct {
		p    netip.Prefix
		bits uint64
	}
	var folds []fold
	for p, v := range rt.t.All() {
		acc := v
		for _, sv := range rt.t.Supernets(p) {
			acc |= sv
		}
		if acc != v {
			folds = append(folds, fold{p, acc})
		}
	}
	for _, f := range folds {
		rt.t.Insert(f.p, f.bits)
	}
	rt.prefixes = rt.t.Size()
	return rt, nil
}

// lookup returns the bots whose ranges contain ip (0 for none).
func (rt *rangeTable) lookup(ip netip.Addr) uint64 {
	if !ip.IsValid() {
		return 0
	}
	v, _ := rt.t.Lookup(ip)
	return v
}
