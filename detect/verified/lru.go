package verified

import (
	"container/list"
	"time"
)

// lru is a size-bounded cache whose entries also expire. It is not safe for
// concurrent use; the owner locks.
type lru[K comparable, V any] struct {
	max int
	ll  *list.List // front = most recently used
	m   map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
	exp time.Time
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, ll: list.New(), m: make(map[K]*list.Element)}
}

// get returns the live value for k; an expired entry is removed.
func (c *lru[K, V]) get(k K, now time.Time) (V, bool) {
	var zero V
	el, ok := c.m[k]
	if !ok {
		return zero, false
	}
	e := el.Value.(*lruEntry[K, V])
	if !now.Before(e.exp) {
		c.ll.Remove(el)
		delete(c.m, k)
		return zero, false
	}
	c.ll.MoveToFront(el)
	return e.val, true
}

// put stores v for k until exp, evicting the least recently used entry
// when full.
func (c *lru[K, V]) put(k K, v V, exp time.Time) {
	if el, ok := c.m[k]; ok {
		e := el.Value.(*lruEntry[K, V])
		e.val, e.exp = v, exp
		c.ll.MoveToFront(el)
		return
	}
	c.m[k] = c.ll.PushFront(&lruEntry[K, V]{key: k, val: v, exp: exp})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*lruEntry[K, V]).key)
	}
}

func (c *lru[K, V]) len() int { return c.ll.Len() }
