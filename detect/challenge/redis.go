package challenge

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a ReplayStore shared by replicas: SET key NX with the ticket's
// expiry, so the first replica to see an answer wins and Redis forgets the
// ticket when it could no longer be used anyway.
type Redis struct {
	client  redis.Cmdable
	prefix  string
	timeout time.Duration
}

// NewRedis returns a Redis replay store on client; keys are prefix+ticket
// id, and each call waits at most timeout (0 means 500 ms) so a stuck Redis
// fails the answer quickly instead of holding the browser.
func NewRedis(client redis.Cmdable, prefix string, timeout time.Duration) *Redis {
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	return &Redis{client: client, prefix: prefix, timeout: timeout}
}

// Use implements ReplayStore.
func (r *Redis) Use(ctx context.Context, id string, expiry time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ttl := max(time.Until(expiry), time.Second)
	ok, err := r.client.SetNX(ctx, r.prefix+id, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("replay store: %w", err)
	}
	return ok, nil
}
