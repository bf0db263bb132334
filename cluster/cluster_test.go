package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/cluster"
	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/internal/redistest"
)

func TestConfigErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name  string
		mut   func(*cluster.Config)
		field string
	}{
		{"redis addr", func(c *cluster.Config) { c.RedisAddr = "localhost" }, "redis_addr"},
		{"redis db", func(c *cluster.Config) { c.RedisDB = 99 }, "redis_db"},
		{"nats scheme", func(c *cluster.Config) { c.NATSURL = "http://x:4222" }, "nats_url"},
		{"nats second url", func(c *cluster.Config) { c.NATSURL = "nats://a:4222,bogus" }, "nats_url"},
		{"prefix glob", func(c *cluster.Config) { c.KeyPrefix = "bw*" }, "key_prefix"},
		{"timeout", func(c *cluster.Config) { c.Timeout = 0 }, "timeout"},
		{"readiness", func(c *cluster.Config) { c.Readiness = "maybe" }, "readiness"},
		{"partitions", func(c *cluster.Config) { c.Partitions = 0 }, "partitions"},
		{"ack wait", func(c *cluster.Config) { c.AckWait = time.Millisecond }, "ack_wait"},
		{"stream age", func(c *cluster.Config) { c.StreamMaxAge = time.Minute }, "stream_max_age"},
		{"buffer", func(c *cluster.Config) { c.PublishBuffer = 0 }, "publish_buffer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster.DefaultConfig()
			tt.mut(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tt.field+":") {
				t.Fatalf("Validate() = %v, want an error starting %q", err, tt.field+":")
			}
		})
	}
	if err := cluster.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	keys := `[{"id":1,"secret":"` + strings.Repeat("Q", 43) + `="}]`
	env := []string{
		"BOTWARDEN_CLUSTER_REDIS_ADDR=127.0.0.1:6379",
		"BOTWARDEN_CLUSTER_NATS_URL=nats://127.0.0.1:4222",
		"BOTWARDEN_SESSION_KEYS=" + keys,
		"BOTWARDEN_SESSION_ACTIVE_KEY=1",
		"BOTWARDEN_CHALLENGE_SECRETS=" + strings.Repeat("B", 43) + "=",
	}
	cfg, err := config.Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.RedisAddr != "127.0.0.1:6379" || cfg.Cluster.NATSURL != "nats://127.0.0.1:4222" {
		t.Fatalf("cluster from env: %+v", cfg.Cluster)
	}
	// A cluster without shared keys is refused, naming what is missing.
	_, err = config.Load("", env[:2])
	if err == nil || !strings.Contains(err.Error(), "cluster: session.keys") || !strings.Contains(err.Error(), "challenge.secrets") {
		t.Fatalf("cluster without keys: %v", err)
	}
	// No cluster section: the single process, valid as before.
	if _, err := config.Load("", nil); err != nil {
		t.Fatal(err)
	}
}

func TestReadiness(t *testing.T) {
	srv := redistest.Start(t)
	for _, mode := range []string{cluster.ReadinessDegrade, cluster.ReadinessFail} {
		t.Run(mode, func(t *testing.T) {
			cfg := cluster.DefaultConfig()
			cfg.RedisAddr, cfg.Readiness = srv.Addr, mode
			cl, err := cluster.Open(cfg, zerolog.Nop(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go cl.Run(ctx)
			wait := func(want bool) (bool, string) {
				t.Helper()
				deadline := time.Now().Add(5 * time.Second)
				for {
					ok, detail := cl.Ready()
					if (detail == "") == want || time.Now().After(deadline) {
						return ok, detail
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			if ok, detail := wait(true); !ok || detail != "" {
				t.Fatalf("with Redis up: %v %q", ok, detail)
			}
			srv.Stop()
			ok, detail := wait(false)
			if ok != (mode == cluster.ReadinessDegrade) || !strings.Contains(detail, "redis") {
				t.Fatalf("with Redis down in %s mode: ready=%v %q", mode, ok, detail)
			}
			srv.Restart()
			if ok, _ := wait(true); !ok {
				t.Fatal("not ready again after Redis came back")
			}
		})
	}
}
