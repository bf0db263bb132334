package heuristics

import (
	"fmt"
	"testing"
)

func TestUACacheBoundsAndAnswers(t *testing.T) {
	calls := 0
	compute := func(ua string) uaInfo {
		calls++
		return uaInfo{match: UAMatch{Bot: ua == "bot", Pattern: ua}}
	}
	c := newUACache(64)
	for range 3 {
		if got := c.get("bot", compute); !got.match.Bot || got.match.Pattern != "bot" {
			t.Fatalf("wrong info: %+v", got)
		}
	}
	if calls != 1 {
		t.Fatalf("computed %d times for one UA, want 1", calls)
	}
	// A flood of distinct UAs never grows a shard beyond two generations.
	for i := range 10000 {
		ua := fmt.Sprintf("ua-%d", i)
		if got := c.get(ua, compute); got.match.Pattern != ua {
			t.Fatalf("cache answered %q for %q", got.match.Pattern, ua)
		}
	}
	for i := range c.shards {
		s := &c.shards[i]
		if len(s.cur) > c.perShard || len(s.prev) > c.perShard {
			t.Fatalf("shard %d holds %d+%d entries, cap %d", i, len(s.cur), len(s.prev), c.perShard)
		}
	}
	// Disabled cache always computes.
	var off *uaCache
	calls = 0
	off.get("x", compute)
	off.get("x", compute)
	if calls != 2 {
		t.Fatalf("disabled cache: %d calls", calls)
	}
}
