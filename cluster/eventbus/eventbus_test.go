package eventbus

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/behavior"
	"github.com/botwarden/botwarden/internal/metricstest"
	"github.com/botwarden/botwarden/internal/natstest"
)

// recorder is an Analysis that remembers which replica saw which client.
type recorder struct {
	name string
	mu   *sync.Mutex
	seen map[string]map[string]int // client key -> replica -> events
	n    *int
}

func (r recorder) OfferKinds(ev *detect.Event, kinds behavior.Kinds) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := fmt.Sprintf("%s/%d", ev.ClientIP, kinds)
	if r.seen[key] == nil {
		r.seen[key] = map[string]int{}
	}
	r.seen[key][r.name]++
	*r.n++
	return true
}

type world struct {
	srv  *natstest.Server
	cfg  Config
	mu   sync.Mutex
	seen map[string]map[string]int
	n    int
}

func (w *world) total() int { w.mu.Lock(); defer w.mu.Unlock(); return w.n }

func testConfig() Config {
	return Config{Stream: "BWTEST", Subject: "bwtest.events", Partitions: 8, MaxAge: time.Minute, AckWait: time.Second, Rebuild: time.Minute}
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) { return connectB(t, url) }

func connectB(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// replica starts a consumer; stop kills it abruptly (its connection is
// closed, as when the process dies).
func (w *world) replica(t *testing.T, name string) (reg *prometheus.Registry, c *Consumer, stop func()) {
	t.Helper()
	nc, js := connect(t, w.srv.URL)
	reg = prometheus.NewRegistry()
	c, err := NewConsumer(w.cfg, js, recorder{name: name, mu: &w.mu, seen: w.seen, n: &w.n}, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { nc.Close(); cancel(); <-done }) }
	t.Cleanup(stop)
	return reg, c, stop
}

func newWorld(t *testing.T) *world {
	w := &world{srv: natstest.Start(t), cfg: testConfig(), seen: map[string]map[string]int{}}
	_, js := connect(t, w.srv.URL)
	for range 2 { // a second replica's Setup finds everything in place
		if err := Setup(context.Background(), js, w.cfg); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func publisher(t *testing.T, url string, buffer int) (*Publisher, *prometheus.Registry) {
	t.Helper()
	nc, _ := connect(t, url)
	reg := prometheus.NewRegistry()
	p, err := NewPublisher(testConfig(), nc, behavior.DefaultConfig().Keys, buffer, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p, reg
}

func event(client int) *detect.Event {
	return &detect.Event{Time: time.Now(), ClientIP: netip.AddrFrom4([4]byte{10, byte(client), 0, 1}), Method: "GET", Path: "/p", Status: 200}
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func TestPartitionsOwnedOnceAndFailover(t *testing.T) {
	w := newWorld(t)
	p, _ := publisher(t, w.srv.URL, 1000)
	regs := map[string]*prometheus.Registry{}
	stops := map[string]func(){}
	consumers := map[string]*Consumer{}
	for _, n := range []string{"a", "b", "c"} {
		regs[n], consumers[n], stops[n] = w.replica(t, n)
	}
	const clients = 40
	for round := range 5 {
		for c := range clients {
			p.Offer(event(c))
		}
		waitFor(t, "events analysed", 10*time.Second, func() bool { return w.total() == clients*(round+1) })
	}
	w.mu.Lock()
	for key, by := range w.seen {
		if len(by) != 1 {
			t.Errorf("client %s analysed on %d replicas: %v", key, len(by), by)
		}
	}
	w.mu.Unlock()
	waitFor(t, "ownership reported", 5*time.Second, func() bool {
		return consumers["a"].Owned()+consumers["b"].Owned()+consumers["c"].Owned() == w.cfg.Partitions
	})

	// Kill the replica owning client 0's partition: its partitions move.
	var victim string
	w.mu.Lock()
	for n := range w.seen[fmt.Sprintf("%s/%d", event(0).ClientIP, behavior.KindIP|behavior.KindNet)] {
		victim = n
	}
	w.mu.Unlock()
	stops[victim]()
	killed := time.Now()
	before := w.total()
	p.Offer(event(0))
	key0 := fmt.Sprintf("%s/%d", event(0).ClientIP, behavior.KindIP|behavior.KindNet)
	// The new owner rebuilds the client's state (replays its 5 earlier
	// events) before analysing the new one.
	waitFor(t, "the dead replica's partition served elsewhere", 15*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for n, cnt := range w.seen[key0] {
			if n != victim && cnt == 6 {
				return true
			}
		}
		return false
	})
	t.Logf("partition failover: %v from kill to the next event analysed on another replica (state rebuilt)", time.Since(killed))
	_ = before
	replayed := 0.0
	for n, reg := range regs {
		if n != victim {
			replayed += metricstest.Sum(t, reg, "botwarden_cluster_events_consumed_total", map[string]string{"result": "replayed"})
		}
	}
	if replayed < 5 {
		t.Errorf("replayed %v events, want at least client 0's 5", replayed)
	}
}

func TestBadMessagesSkipped(t *testing.T) {
	w := newWorld(t)
	reg, _, _ := w.replica(t, "a")
	p, _ := publisher(t, w.srv.URL, 100)
	p.Offer(event(1)) // the first message pins and rebuilds
	waitFor(t, "first event", 10*time.Second, func() bool { return w.total() == 1 })
	nc, js := connect(t, w.srv.URL)
	_ = nc
	ctx := context.Background()
	bad := []*nats.Msg{
		{Subject: "bwtest.events.x", Data: []byte("{}")},                                                          // no version
		{Subject: "bwtest.events.x", Data: []byte("{}"), Header: nats.Header{hdrVersion: {"2"}, hdrKinds: {"2"}}}, // another version
		{Subject: "bwtest.events.x", Data: []byte("not json"), Header: nats.Header{hdrVersion: {"1"}, hdrKinds: {"2"}}},
		{Subject: "bwtest.events.x", Data: []byte("{}"), Header: nats.Header{hdrVersion: {"1"}, hdrKinds: {"99"}}},
	}
	for _, m := range bad {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	p.Offer(event(1))
	waitFor(t, "good event after bad ones", 10*time.Second, func() bool { return w.total() == 2 })
	waitFor(t, "bad counted", 5*time.Second, func() bool {
		return metricstest.Sum(t, reg, "botwarden_cluster_events_consumed_total", map[string]string{"result": "bad"}) == 4
	})
}

func TestNATSOutageBuffersThenDrops(t *testing.T) {
	w := newWorld(t)
	w.replica(t, "a")
	p, reg := publisher(t, w.srv.URL, 50)
	p.Offer(event(1))
	waitFor(t, "first event", 10*time.Second, func() bool { return w.total() == 1 })
	w.srv.Stop()
	time.Sleep(100 * time.Millisecond) // the client notices
	accepted := 0
	for range 200 {
		if p.Offer(event(2)) {
			accepted++
		}
	}
	if accepted < 49 || accepted > 51 {
		t.Errorf("accepted %d events while NATS was away, want the buffer of 50", accepted)
	}
	if d := metricstest.Sum(t, reg, "botwarden_cluster_events_published_total", map[string]string{"result": "dropped_buffer_full"}); d < 149 {
		t.Errorf("dropped %v, want the rest counted", d)
	}
	w.srv.Restart()
	d := waitFor(t, "buffered events analysed after the restart", 20*time.Second, func() bool { return w.total() >= 1+accepted })
	t.Logf("analysis resumed %v after NATS restarted", d)
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		mut   func(*Config)
		field string
	}{
		{func(c *Config) { c.Stream = "" }, "stream"},
		{func(c *Config) { c.Partitions = 0 }, "partitions"},
		{func(c *Config) { c.AckWait = 0 }, "ack_wait"},
		{func(c *Config) { c.MaxAge = time.Second }, "stream_max_age"},
	} {
		c := testConfig()
		tt.mut(&c)
		if err := c.Validate(); err == nil || err.Error()[:len(tt.field)] != tt.field {
			t.Errorf("Validate() = %v, want an error naming %s", err, tt.field)
		}
	}
}
