// Package ratelimit holds rate limiters for the policy's rate_limit action:
// the Limiter interface (small enough for a shared backend such as Redis to
// implement later) and Local, an in-process, sharded token-bucket limiter with
// bounded memory.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limit allows Rate events per Period on average, with bursts of up to Burst
// events (the bucket's capacity). Burst 0 means Burst = Rate.
type Limit struct {
	Rate   int           `yaml:"requests"`
	Period time.Duration `yaml:"period"`
	Burst  int           `yaml:"burst"`
}

// Bounds that keep the bucket arithmetic (nanoseconds in an int64) exact.
const (
	MaxPeriod = 24 * time.Hour
	MaxBurst  = 100_000
)

// Validate reports whether l can be enforced; errors name the field.
func (l Limit) Validate() error {
	var errs []error
	if l.Rate < 1 {
		errs = append(errs, fmt.Errorf("requests: must be at least 1, got %d", l.Rate))
	}
	if l.Period <= 0 || l.Period > MaxPeriod {
		errs = append(errs, fmt.Errorf("period: must be in (0, %s], got %s", MaxPeriod, l.Period))
	} else if l.Rate >= 1 && time.Duration(l.Rate) > l.Period {
		errs = append(errs, fmt.Errorf("requests: %d per %s is more than one per nanosecond", l.Rate, l.Period))
	}
	if l.Burst < 0 || l.Burst > MaxBurst {
		errs = append(errs, fmt.Errorf("burst: must be in [0, %d], got %d", MaxBurst, l.Burst))
	}
	return errors.Join(errs...)
}

// interval is the time one token takes to refill.
func (l Limit) interval() int64 { return int64(l.Period) / int64(l.Rate) }

// capacity is the bucket size.
func (l Limit) capacity() int64 {
	if l.Burst > 0 {
		return int64(l.Burst)
	}
	return int64(l.Rate)
}

// String renders l for logs: "10/1m0s burst 20".
func (l Limit) String() string {
	return fmt.Sprintf("%d/%s burst %d", l.Rate, l.Period, l.capacity())
}

// Result is a limiter's answer for one event.
type Result struct {
	Allowed bool
	// Remaining is how many more events the key may send right now.
	Remaining int
	// RetryAfter is how long until the next event would be allowed (0 when
	// Allowed).
	RetryAfter time.Duration
}

// Limiter counts events per key. Implementations must be safe for concurrent
// use. An error means the limiter could not decide (a shared backend was
// unreachable); callers fail open and count it. now is passed in so that
// callers (and tests) control the clock.
type Limiter interface {
	Allow(ctx context.Context, key string, limit Limit, now time.Time) (Result, error)
}
