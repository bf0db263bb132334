package heuristics

import (
	"hash/maphash"
	"sync"

	"github.com/botwarden/botwarden/detect/heuristics/useragent"
)

// uaInfo is everything the engine derives from the user-agent string alone.
type uaInfo struct {
	match UAMatch
	agent useragent.Agent
}

// uaCache remembers uaInfo per user-agent string. Real traffic repeats a few
// thousand UAs, and classifying one (an Aho-Corasick pass plus the candidate
// regexes and the parse) costs 2–10 µs while a lookup costs tens of ns.
//
// Each shard keeps two generations: lookups check the current map, then the
// previous one (promoting the hit); when the current map is full it becomes
// the previous one and a fresh map starts. Memory is bounded by two full
// generations, recently used UAs survive a rotation, and a flood of unique
// UAs (an attacker randomising the header) only costs the miss path it would
// cost without a cache.
type uaCache struct {
	seed     maphash.Seed
	perShard int
	shards   [uaCacheShards]uaShard
}

const uaCacheShards = 16

type uaShard struct {
	mu        sync.RWMutex
	cur, prev map[string]uaInfo
}

// newUACache holds up to about 2×capacity entries; capacity 0 disables it.
func newUACache(capacity int) *uaCache {
	if capacity <= 0 {
		return nil
	}
	c := &uaCache{seed: maphash.MakeSeed(), perShard: max(1, capacity/uaCacheShards)}
	for i := range c.shards {
		c.shards[i].cur = make(map[string]uaInfo)
	}
	return c
}

// get returns the cached info for ua, computing and storing it on a miss.
func (c *uaCache) get(ua string, compute func(string) uaInfo) uaInfo {
	if c == nil {
		return compute(ua)
	}
	s := &c.shards[maphash.String(c.seed, ua)%uaCacheShards]
	s.mu.RLock()
	info, inCur := s.cur[ua]
	inPrev := false
	if !inCur {
		info, inPrev = s.prev[ua]
	}
	s.mu.RUnlock()
	if inCur {
		return info
	}
	if !inPrev {
		info = compute(ua)
	}
	// Store (or promote from the previous generation) a copy of the key:
	// the request's header string may be part of a large buffer.
	key := string([]byte(ua))
	s.mu.Lock()
	if len(s.cur) >= c.perShard {
		s.prev, s.cur = s.cur, make(map[string]uaInfo, c.perShard)
	}
	s.cur[key] = info
	s.mu.Unlock()
	return info
}
