package challenge

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botwarden/botwarden/internal/redistest"
)

// redisServer starts Debian's redis-server on a free loopback port.
func redisServer(t *testing.T) *redis.Client {
	t.Helper()
	c := redistest.Start(t).Client()
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisReplay(t *testing.T) {
	c := redisServer(t)
	ctx := context.Background()
	// Two replicas sharing one Redis.
	a, b := NewRedis(c, "bw:replay:", 0), NewRedis(c, "bw:replay:", 0)
	if ok, err := a.Use(ctx, "t1", time.Now().Add(2*time.Second)); !ok || err != nil {
		t.Fatalf("first use: %v %v", ok, err)
	}
	if ok, err := b.Use(ctx, "t1", time.Now().Add(2*time.Second)); ok || err != nil {
		t.Fatalf("replay on the other replica: %v %v", ok, err)
	}
	if ttl := c.TTL(ctx, "bw:replay:t1").Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("key TTL %v, want the ticket's remaining life", ttl)
	}
	// The whole flow through a Challenge backed by Redis.
	h := newHarness(t, nil)
	h.c.replay = NewRedis(c, "bw:replay:", 0)
	br := &browser{ip: "192.0.2.1", ua: uaHeadful}
	p := h.challenge(br, "/", "managed_challenge")
	body := answer(p.ticket, solve(p.ticket, p.difficulty), headfulSignals())
	if rec := h.post(br, body, form); rec.Code != 303 {
		t.Fatalf("answer: %d", rec.Code)
	}
	if rec := h.post(br, body, form); rec.Code != 403 {
		t.Fatalf("replay: %d", rec.Code)
	}
	// Redis gone: answers are refused, never let through.
	_ = c.Close()
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond})
	defer dead.Close()
	if ok, err := NewRedis(dead, "x", 200*time.Millisecond).Use(ctx, "t2", time.Now().Add(time.Minute)); ok || err == nil {
		t.Fatalf("unreachable Redis: %v %v", ok, err)
	}
}
