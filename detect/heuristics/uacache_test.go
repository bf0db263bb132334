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
	c, err := newUACache(64)
	if err != nil {
		t.Fatal(err)
	}
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
	if n := c.lru.Len(); n > 64 {
		t.Fatalf("cache holds %d entries, cap 64", n)
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
