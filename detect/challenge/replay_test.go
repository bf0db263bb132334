package challenge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/botwarden/botwarden/internal/configtest"
)

func TestMemoryReplay(t *testing.T) {
	now := t0
	m := NewMemory(2)
	m.now = func() time.Time { return now }
	ctx := context.Background()
	use := func(id string, ttl time.Duration) (bool, error) { return m.Use(ctx, id, now.Add(ttl)) }

	if ok, err := use("a", time.Minute); !ok || err != nil {
		t.Fatalf("first use: %v %v", ok, err)
	}
	if ok, _ := use("a", time.Minute); ok {
		t.Fatal("second use accepted")
	}
	if ok, _ := use("b", 10*time.Second); !ok {
		t.Fatal("b refused")
	}
	// Full: a third id is refused with an error, never silently accepted.
	if ok, err := use("c", time.Minute); ok || !errors.Is(err, ErrReplayFull) {
		t.Fatalf("full store: %v %v", ok, err)
	}
	// Once b expires it is swept and room is made.
	now = now.Add(11 * time.Second)
	if ok, err := use("c", time.Minute); !ok || err != nil {
		t.Fatalf("after expiry: %v %v", ok, err)
	}
	if m.Len() != 2 {
		t.Fatalf("Len = %d", m.Len())
	}
	if ok, _ := use("a", time.Minute); ok {
		t.Fatal("a accepted again before it expired")
	}
}

func TestStoreErrorRefuses(t *testing.T) {
	h := newHarness(t, nil)
	h.c.replay = failingStore{}
	b := &browser{ip: "192.0.2.1", ua: uaHeadful}
	p := h.challenge(b, "/", "managed_challenge")
	rec := h.post(b, answer(p.ticket, solve(p.ticket, p.difficulty), headfulSignals()), form)
	if rec.Code != 503 || len(rec.Result().Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("store error: %d %s", rec.Code, rec.Body)
	}
}

type failingStore struct{}

func (failingStore) Use(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("redis: connection refused")
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mut   func(c *Config)
		field string
	}{
		{"defaults", func(*Config) {}, ""},
		{"prefix slash", func(c *Config) { c.Prefix = "/x/" }, "prefix"},
		{"prefix relative", func(c *Config) { c.Prefix = "x" }, "prefix"},
		{"status redirect", func(c *Config) { c.Status = 302 }, "status"},
		{"difficulty", func(c *Config) { c.Difficulty = 0 }, "difficulty"},
		{"difficulty > max", func(c *Config) { c.Difficulty = 30 }, "difficulty"},
		{"max difficulty", func(c *Config) { c.MaxDifficulty = 40 }, "max_difficulty"},
		{"ticket ttl", func(c *Config) { c.TicketTTL = time.Second }, "ticket_ttl"},
		{"nojs wait", func(c *Config) { c.NoJSWait = time.Hour }, "nojs_wait"},
		{"attempts", func(c *Config) { c.MaxAttempts = 0 }, "max_attempts"},
		{"failed ttl", func(c *Config) { c.FailedTTL = 0 }, "failed_ttl"},
		{"fail weight", func(c *Config) { c.FailWeight = 0 }, "fail_weight"},
		{"body", func(c *Config) { c.MaxBodyBytes = 10 }, "max_body_bytes"},
		{"return path", func(c *Config) { c.MaxReturnPath = 0 }, "max_return_path"},
		{"secret short", func(c *Config) { c.Secrets = []string{"c2hvcnQ="} }, "secrets[0]"},
		{"secret junk", func(c *Config) { c.Secrets = []string{"!!"} }, "secrets[0]"},
		{"replay", func(c *Config) { c.ReplayCapacity = 0 }, "replay_capacity"},
	} {
		t.Run(tc.name, func(t *testing.T) { configtest.Check(t, DefaultConfig(), tc.mut, tc.field) })
	}
}

func TestSecretRotation(t *testing.T) {
	old := "b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZC1zZWNyZXQtb2xkLXNlY3JldA=="
	cur := "Y3VycmVudC1zZWNyZXQtY3VycmVudC1zZWNyZXQtY3VycmVudC1zZWNy"
	h := newHarness(t, func(c *Config) { c.Secrets = []string{old} })
	b := &browser{ip: "192.0.2.1", ua: uaHeadful}
	p := h.challenge(b, "/", "managed_challenge")
	// Rotate: the new secret signs, the old one still verifies.
	secrets, err := Config{Secrets: []string{cur, old}}.secrets()
	if err != nil {
		t.Fatal(err)
	}
	h.c.sign = signer{secrets}
	if rec := h.post(b, answer(p.ticket, solve(p.ticket, p.difficulty), headfulSignals()), form); rec.Code != 303 {
		t.Fatalf("ticket signed before rotation: %d %s", rec.Code, rec.Body)
	}
	h.c.sign = signer{secrets[:1]}
	p2 := h.challenge(b, "/", "managed_challenge")
	h.c.sign = signer{secrets[1:]}
	if rec := h.post(b, answer(p2.ticket, solve(p2.ticket, p2.difficulty), headfulSignals()), form); rec.Code != 400 {
		t.Fatalf("retired secret still verifies: %d", rec.Code)
	}
}
