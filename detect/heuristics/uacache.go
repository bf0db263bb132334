package heuristics

import (
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/botwarden/botwarden/detect/heuristics/useragent"
)

// uaInfo is everything the engine derives from the user-agent string alone.
type uaInfo struct {
	match UAMatch
	agent useragent.Agent
}

// uaCache remembers uaInfo per user-agent string. Real traffic repeats a few
// thousand UAs, and classifying one (an Aho-Corasick pass plus the candidate
// regexes and the parse) costs orders of magnitude more than a lookup
// (BenchmarkClassifyUA). The
// LRU bounds memory; a flood of unique UAs (an attacker randomising the
// header) only costs the miss path it would cost without a cache. A nil
// cache (size 0) computes every time.
type uaCache struct{ lru *lru.Cache[string, uaInfo] }

func newUACache(capacity int) (*uaCache, error) {
	if capacity <= 0 {
		return nil, nil
	}
	c, err := lru.New[string, uaInfo](capacity)
	if err != nil {
		return nil, err
	}
	return &uaCache{lru: c}, nil
}

// get returns the cached info for ua, computing and storing it on a miss.
func (c *uaCache) get(ua string, compute func(string) uaInfo) uaInfo {
	if c == nil {
		return compute(ua)
	}
	if info, ok := c.lru.Get(ua); ok {
		return info
	}
	info := compute(ua)
	// Copy the key: the request's header string may be part of a large buffer.
	c.lru.Add(strings.Clone(ua), info)
	return info
}
