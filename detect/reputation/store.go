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

// FeedbackIndex is implemented by stores that can tell cheaply which client
// keys have an operator's verdict under KeyFeedback: the engine then looks
// up the feedback key of those only, and a Check with no report about its
// client costs no more lookups than before feedback existed. Local
// implements it (and cluster/redisrep through its near cache); with a
// store that does not, every client key is looked up twice.
type FeedbackIndex interface {
	HasFeedback(clientKey string) bool
}
