package reputation

import "context"

// Store keeps verdicts by key until they expire. Implementations must be safe
// for concurrent use. Get is on the ext_authz hot path: it must answer from
// memory or within the caller's context deadline.
type Store interface {
	// Get appends to dst the unexpired verdicts stored under keys (empty
	// keys are skipped) and returns it. Missing keys are not an error.
	Get(ctx context.Context, keys []string, dst []Verdict) ([]Verdict, error)
	// Put stores v under v.Key until v.Expiry, replacing what was there.
	Put(ctx context.Context, v Verdict) error
}
