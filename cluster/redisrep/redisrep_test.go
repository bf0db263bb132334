package redisrep

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/botwarden/botwarden/internal/metricstest"
	"github.com/botwarden/botwarden/internal/redistest"
)

// replica is one botwarden's store: its own near cache, client and registry.
type replica struct {
	s   *Store
	reg *prometheus.Registry
}

func newReplica(t *testing.T, srv *redistest.Server) replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reg := prometheus.NewRegistry()
	near, err := reputation.NewLocal(ctx, reputation.DefaultLocalConfig(), zerolog.Nop(), reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	s, err := New(near, c, Options{Prefix: "bwtest:", PingInterval: 100 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; _ = c.Close() })
	return replica{s, reg}
}

func (r replica) get(key string) []reputation.Verdict {
	got, _ := r.s.Get(context.Background(), []string{key}, nil)
	return got
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func verdict(key string, score int) reputation.Verdict {
	return reputation.Verdict{Key: key, Score: score, Source: detect.SourceBehavioral, Tags: []string{"crawl"}, Expiry: time.Now().Add(time.Minute)}
}

func TestPushAndResync(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newReplica(t, srv), newReplica(t, srv)
	eventually(t, "both synced", func() bool { return a.s.Synced() && b.s.Synced() })

	ctx := context.Background()
	if err := a.s.Put(ctx, verdict("ip:192.0.2.1", 5)); err != nil {
		t.Fatal(err)
	}
	// A enforces at once; B learns it by push.
	if len(a.get("ip:192.0.2.1")) != 1 {
		t.Fatal("writer does not see its own verdict")
	}
	d := eventually(t, "push to B", func() bool { return len(b.get("ip:192.0.2.1")) == 1 })
	t.Logf("push A->B took %v", d)
	if got := b.get("ip:192.0.2.1")[0]; got.Score != 5 || !slices.Equal(got.Tags, []string{"crawl"}) {
		t.Fatalf("B got %+v", got)
	}
	if metricstest.Sum(t, a.reg, "botwarden_cluster_reputation_push_total", map[string]string{"result": "self"}) < 1 {
		t.Error("A's own echo not counted as self")
	}

	// A replica that starts later loads what exists (resync), including
	// a verdict under an oversized key, which Redis holds hashed.
	long := "session:" + strings.Repeat("x", 4000)
	if err := a.s.Put(ctx, verdict(long, 3)); err != nil {
		t.Fatal(err)
	}
	c := newReplica(t, srv)
	eventually(t, "C synced", c.s.Synced)
	if len(c.get("ip:192.0.2.1")) != 1 || len(c.get(long)) != 1 {
		t.Fatal("late replica did not resync")
	}
	rc := srv.Client()
	defer rc.Close()
	for _, k := range rc.Keys(ctx, "bwtest:*").Val() {
		if len(k) > 200 {
			t.Errorf("oversized Redis key %d bytes", len(k))
		}
	}

	// An expired verdict deletes it everywhere.
	gone := verdict("ip:192.0.2.1", 5)
	gone.Expiry = time.Now().Add(-time.Second)
	if err := a.s.Put(ctx, gone); err != nil {
		t.Fatal(err)
	}
	eventually(t, "delete pushed", func() bool { return len(b.get("ip:192.0.2.1")) == 0 })
	if rc.Exists(ctx, redisKey("bwtest:", "ip:192.0.2.1")).Val() != 0 {
		t.Error("expired verdict still in Redis")
	}
}

func TestBadPushesSkipped(t *testing.T) {
	srv := redistest.Start(t)
	a := newReplica(t, srv)
	eventually(t, "synced", a.s.Synced)
	rc := srv.Client()
	defer rc.Close()
	ctx := context.Background()
	good := appendPush(nil, "other", verdict("ip:198.51.100.1", 9))
	for _, bad := range [][]byte{nil, {0}, {2, 1, 'x'}, good[:len(good)-1], append([]byte{1, 200}, good...)} {
		rc.Publish(ctx, "bwtest:verdicts", bad)
	}
	rc.Set(ctx, "bwtest:v:ip:203.0.113.9", "garbage", time.Minute) // seen by the next resync
	rc.Publish(ctx, "bwtest:verdicts", good)
	eventually(t, "good push after bad ones", func() bool { return len(a.get("ip:198.51.100.1")) == 1 })
	if n := metricstest.Sum(t, a.reg, "botwarden_cluster_reputation_push_total", map[string]string{"result": "bad"}); n != 5 {
		t.Errorf("bad pushes counted %v, want 5", n)
	}
}

func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newReplica(t, srv), newReplica(t, srv)
	eventually(t, "both synced", func() bool { return a.s.Synced() && b.s.Synced() })
	ctx := context.Background()
	if err := a.s.Put(ctx, verdict("ip:192.0.2.7", 4)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "push", func() bool { return len(b.get("ip:192.0.2.7")) == 1 })

	srv.Stop()
	eventually(t, "outage noticed", func() bool { return !a.s.Synced() && !b.s.Synced() })
	// Lookups keep answering from the near cache, counted as stale.
	start := time.Now()
	if len(b.get("ip:192.0.2.7")) != 1 {
		t.Fatal("near cache lost the verdict during the outage")
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("lookup during outage took %v", d)
	}
	if metricstest.Sum(t, b.reg, "botwarden_cluster_reputation_lookups_total", map[string]string{"result": "stale"}) < 1 {
		t.Error("stale lookups not counted")
	}
	// A write during the outage stays local and is reported.
	if err := a.s.Put(ctx, verdict("ip:192.0.2.8", 4)); err == nil {
		t.Error("write with Redis down reported no error")
	}
	if len(a.get("ip:192.0.2.8")) != 1 {
		t.Error("writer lost its local verdict")
	}

	srv.Restart()
	d := eventually(t, "resynced after restart", func() bool { return a.s.Synced() && b.s.Synced() })
	t.Logf("resynced %v after restart", d)
	if err := a.s.Put(ctx, verdict("ip:192.0.2.9", 4)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "push after restart", func() bool { return len(b.get("ip:192.0.2.9")) == 1 })
}

func FuzzDecodePush(f *testing.F) {
	f.Add(appendPush(nil, "o", verdict("ip:192.0.2.1", 5)))
	f.Add([]byte{1, 0, 1, 1, 'k'})
	f.Fuzz(func(t *testing.T, b []byte) {
		origin, v, err := decodePush(b)
		if err != nil {
			return
		}
		o2, v2, err := decodePush(appendPush(nil, origin, v))
		if err != nil || o2 != origin || v2.Key != v.Key || v2.Score != v.Score || !slices.Equal(v2.Tags, v.Tags) {
			t.Fatalf("re-decode %q %+v %v, want %q %+v", o2, v2, err, origin, v)
		}
	})
}
