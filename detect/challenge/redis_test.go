package challenge

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer starts Debian's redis-server on a free loopback port, without
// persistence, for the test's lifetime.
func redisServer(t *testing.T) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed (Debian package redis-server); CI installs it")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	t.Cleanup(func() { _ = c.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
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
