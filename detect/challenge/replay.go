package challenge

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ReplayStore remembers used tickets until they expire, so that each
// challenge answer counts once. Several replicas need a shared
// implementation (Redis SET NX with an expiry); Memory serves one process.
type ReplayStore interface {
	// Use marks id as used until expiry. It reports false when id was
	// already used. An error means the store could not say; the caller
	// then refuses the submission (a replay must never pass for lack of
	// a store).
	Use(ctx context.Context, id string, expiry time.Time) (fresh bool, err error)
}

// ErrReplayFull is returned when Memory holds capacity unexpired entries.
var ErrReplayFull = errors.New("replay store full")

// Memory is an in-process ReplayStore with a capacity bound. Expired
// entries are swept when the map reaches capacity, and at most every
// sweepEvery otherwise, so memory stays proportional to the tickets used
// within one ticket lifetime.
type Memory struct {
	mu        sync.Mutex
	used      map[string]time.Time
	capacity  int
	lastSweep time.Time
	now       func() time.Time
}

const sweepEvery = time.Minute

// NewMemory returns a Memory holding at most capacity entries.
func NewMemory(capacity int) *Memory {
	return &Memory{used: make(map[string]time.Time), capacity: max(capacity, 1), now: time.Now}
}

// Use implements ReplayStore.
func (m *Memory) Use(_ context.Context, id string, expiry time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if exp, ok := m.used[id]; ok && now.Before(exp) {
		return false, nil
	}
	if len(m.used) >= m.capacity || now.Sub(m.lastSweep) > sweepEvery {
		m.sweep(now)
	}
	if len(m.used) >= m.capacity {
		return false, ErrReplayFull
	}
	m.used[id] = expiry
	return true, nil
}

func (m *Memory) sweep(now time.Time) {
	for id, exp := range m.used {
		if !now.Before(exp) {
			delete(m.used, id)
		}
	}
	m.lastSweep = now
}

// Len returns the number of remembered entries.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.used)
}
