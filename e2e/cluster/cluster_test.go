package cluster

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/botwarden/botwarden/e2e"
)

// TestScraperAcrossReplicas: a scraper whose requests go round robin over
// three replicas is stopped after as many pages as against one process,
// and once stopped it is stopped on every replica.
func TestScraperAcrossReplicas(t *testing.T) {
	single := startSingle(t)
	st := startCluster(t, 3, "")
	// The gateways flush their access logs every second from their start:
	// started together, both analyses get their batches at the same
	// moments, so the page counts compare the analyses, not the phases.
	singleURL := startGateway(t, single.grpc, single.http, startShop(t))
	spread := e2e.NewVisitor("203.0.113.50", st.url)
	alone := e2e.NewVisitor("203.0.113.51", singleURL)
	var wg sync.WaitGroup
	wg.Go(func() { scrape(spread, 100, 1000) })
	wg.Go(func() { scrape(alone, 100, 1000) })
	wg.Wait()

	b3, b1 := spread.FirstBlocked(), alone.FirstBlocked()
	t.Logf("pages let through: %d over 3 replicas, %d against one process", b3, b1)
	if b1 < 0 || b3 < 0 {
		t.Fatalf("scraper not stopped: 3 replicas %d, one process %d", b3, b1)
	}
	if d := b3 - b1; d > 5 || d < -5 {
		t.Errorf("over 3 replicas the scraper got %d pages, against one process %d: want the same ± 5", b3, b1)
	}
	// Once stopped, stopped: the Checks after the verdict went round robin
	// over the three replicas, and every one of them blocked.
	ans := spread.Answers()
	for _, a := range ans[b3:] {
		if a.Status != http.StatusForbidden {
			t.Errorf("scraper let through after the verdict (%d at %v)", a.Status, a.At.Sub(ans[b3].At))
		}
	}
	for _, r := range st.replicas {
		if n := r.metric(t, "botwarden_checks_total", map[string]string{"enforced_action": "block"}); n == 0 {
			t.Errorf("%s never blocked the scraper", r.name)
		}
	}
	// Requests go to replicas in turn, 50 ms apart: the first three 403s
	// came from the three replicas, so the last of them bounds the time
	// from the first replica enforcing the verdict to every replica.
	if len(ans) >= b3+3 {
		d := ans[b3+2].At.Sub(ans[b3].At)
		t.Logf("verdict enforced by all 3 replicas within %v of the first (requests 50 ms apart)", d)
		if d > 1500*time.Millisecond {
			t.Errorf("verdict took %v to reach every replica, want ≤ 1.5 s", d)
		}
	}
	published := 0.0
	for _, r := range st.replicas {
		published += r.metric(t, "botwarden_cluster_events_published_total", map[string]string{"result": "published"})
	}
	if published < 100 {
		t.Errorf("%v event copies published to JetStream, want every request's", published)
	}
}

// TestGlobalRateLimit: 10 a minute means 10 across all replicas. It is about
// the shared count, not Redis latency (TestSlowRedis is): on a loaded CI
// machine a 5 ms Redis call can miss its timeout, and the local fallback
// it then takes (correctly) is per replica, so the timeout and the budget
// are generous here.
func TestGlobalRateLimit(t *testing.T) {
	t.Setenv("BOTWARDEN_CLUSTER_TIMEOUT", "500ms")
	t.Setenv("BOTWARDEN_DETECTION_BUDGET", "1s")
	st := startCluster(t, 3, "")
	v := e2e.NewVisitor("198.51.100.20", st.url)
	counts := map[int]int{}
	for range 30 {
		counts[v.Get("/api/items")]++
	}
	if counts[http.StatusOK] != 10 || counts[http.StatusTooManyRequests] != 20 {
		t.Fatalf("statuses %v over 3 replicas, want 10 × 200 and 20 × 429", counts)
	}
	redis := 0.0
	for _, r := range st.replicas {
		redis += r.metric(t, "botwarden_cluster_ratelimit_answers_total", map[string]string{"by": "redis"})
	}
	if redis < 3 {
		t.Errorf("only %v decisions came from Redis", redis)
	}
}

// load sends mixed traffic (pages and rate-limited /api/ calls) round
// robin over the gateways until stop, counting answers that are not a
// decision (a failed request or a 5xx).
type load struct {
	sent, failed atomic.Int64
	stop         chan struct{}
	done         sync.WaitGroup
}

func startLoad(url string) *load {
	l := &load{stop: make(chan struct{})}
	for c := range 4 {
		v := e2e.NewVisitor("192.0.2."+strconv.Itoa(10+c), url)
		l.done.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				path := "/page"
				if i%2 == 0 {
					path = "/api/x"
				}
				s := v.Get(path)
				l.sent.Add(1)
				if s == 0 || s >= 500 {
					l.failed.Add(1)
				}
			}
		})
	}
	return l
}

func (l *load) end() { close(l.stop); l.done.Wait() }

// sum adds a metric over the replicas (only of rs when given).
func sum(t *testing.T, st *stack, name string, labels map[string]string, rs ...*replica) float64 {
	t.Helper()
	if len(rs) == 0 {
		rs = st.replicas
	}
	s := 0.0
	for _, r := range rs {
		s += r.metric(t, name, labels)
	}
	return s
}

func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// TestRedisOutage: Redis killed mid-load and restarted. Checks keep being
// answered from local state (rate limits fall back per replica, counted),
// /readyz says degraded, and after the restart every replica resyncs and
// verdicts flow between replicas again, with no manual action.
func TestRedisOutage(t *testing.T) {
	st := startCluster(t, 3, "")
	l := startLoad(st.url)
	time.Sleep(500 * time.Millisecond)
	resyncs := sum(t, st, "botwarden_cluster_reputation_resyncs_total", map[string]string{"result": "done"})

	st.redis.Stop()
	killed := time.Now()
	waitUntil(t, "every replica notices", 5*time.Second, func() bool {
		return sum(t, st, "botwarden_cluster_connected", map[string]string{"backend": "redis"}) == 0
	})
	time.Sleep(time.Second) // load against the outage
	for _, r := range st.replicas {
		if code, body := r.readyz(t); code != 200 || !strings.Contains(body, "redis") {
			t.Errorf("%s /readyz during the outage: %d %q, want 200 naming redis (readiness: degrade)", r.name, code, body)
		}
	}
	fallbacks := sum(t, st, "botwarden_cluster_ratelimit_answers_total", map[string]string{"by": "fallback"})
	if fallbacks == 0 {
		t.Error("no rate-limit fallbacks counted during the outage")
	}
	st.redis.Restart()
	back := time.Now()
	d := waitUntil(t, "every replica resyncs", 15*time.Second, func() bool {
		return sum(t, st, "botwarden_cluster_reputation_resyncs_total", map[string]string{"result": "done"}) >= resyncs+3
	})
	l.end()
	t.Logf("outage %v; after the restart every replica resynced within %v; %d requests, %d not answered; %v rate-limit decisions made locally",
		back.Sub(killed).Round(time.Millisecond), d.Round(time.Millisecond), l.sent.Load(), l.failed.Load(), fallbacks)
	if l.failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during the outage", l.failed.Load(), l.sent.Load())
	}
	// Converged: a scraper after the restart is stopped on every replica.
	v := e2e.NewVisitor("203.0.113.77", st.url)
	scrape(v, 60, 5000)
	b := v.FirstBlocked()
	if b < 0 {
		t.Fatal("scraper after the Redis restart not stopped")
	}
	for _, a := range v.Answers()[b:] {
		if a.Status != http.StatusForbidden {
			t.Fatalf("after the Redis restart the scraper was let through (%d)", a.Status)
		}
	}
}

// TestNATSOutage: NATS killed mid-load and restarted. Events wait in each
// replica's bounded buffer, the excess is dropped and counted, Checks keep
// being answered, and the analysis resumes after the restart.
func TestNATSOutage(t *testing.T) {
	st := startCluster(t, 3, "cluster: {publish_buffer: 20}\n")
	l := startLoad(st.url)
	time.Sleep(500 * time.Millisecond)
	st.nats.Stop()
	killed := time.Now()
	time.Sleep(2500 * time.Millisecond) // > 20 events per replica at this load, and the gateways' 1 s log flush
	dropped := sum(t, st, "botwarden_cluster_events_published_total", map[string]string{"result": "dropped_buffer_full"})
	buffered := sum(t, st, "botwarden_cluster_publish_buffered", nil)
	st.nats.Restart()
	back := time.Now()
	if dropped == 0 {
		t.Error("no events dropped with NATS away and a buffer of 20")
	}
	if buffered > 60 {
		t.Errorf("%v events buffered, want at most 20 per replica", buffered)
	}
	// The analysis resumes: a scraper after the restart is stopped.
	analysed := sum(t, st, "botwarden_cluster_events_consumed_total", map[string]string{"result": "analysed"})
	d := waitUntil(t, "analysis resumes", 20*time.Second, func() bool {
		return sum(t, st, "botwarden_cluster_events_consumed_total", map[string]string{"result": "analysed"}) > analysed
	})
	l.end()
	t.Logf("outage %v: %v events dropped (counted), %v buffered at the restart; analysis resumed %v after it; %d requests, %d not answered",
		back.Sub(killed).Round(time.Millisecond), dropped, buffered, d.Round(time.Millisecond), l.sent.Load(), l.failed.Load())
	if l.failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during the outage", l.failed.Load(), l.sent.Load())
	}
	v := e2e.NewVisitor("203.0.113.88", st.url)
	scrape(v, 80, 7000)
	if v.FirstBlocked() < 0 {
		t.Fatal("scraper after the NATS restart not stopped")
	}
}

// TestSlowRedis: Redis answering 200 ms late. Every Check still meets its
// budget (100 ms here): none is answered by the deadline fallback, the
// rate limits fall back to local (counted), lookups never wait.
func TestSlowRedis(t *testing.T) {
	st := startCluster(t, 3, "")
	st.proxy.SetDelay(200 * time.Millisecond)
	l := startLoad(st.url)
	time.Sleep(2 * time.Second)
	l.end()
	st.proxy.SetDelay(0)
	deadline := sum(t, st, "botwarden_deadline_fallbacks_total", nil)
	fallbacks := sum(t, st, "botwarden_cluster_ratelimit_answers_total", map[string]string{"by": "fallback"})
	t.Logf("%d requests with Redis 200 ms late: %v past the budget, %v rate-limit decisions made locally", l.sent.Load(), deadline, fallbacks)
	if l.failed.Load() != 0 {
		t.Errorf("%d of %d requests failed", l.failed.Load(), l.sent.Load())
	}
	if deadline != 0 {
		t.Errorf("%v Checks missed the budget with Redis slow", deadline)
	}
	if fallbacks == 0 {
		t.Error("no fallbacks counted: were the rate limits waiting for Redis?")
	}
}

// TestReplicaKilled: one of three replicas killed (SIGKILL) while a
// scraper it may be analysing is being stopped. The gateway's round robin
// skips the dead replica; at most the Checks in flight on it fail (and
// fail open, as envoy-http.yaml's failure_mode_allow says); its
// partitions move to the survivors and the scraper stays stopped.
func TestReplicaKilled(t *testing.T) {
	st := startCluster(t, 3, "")
	l := startLoad(st.url)
	v := e2e.NewVisitor("203.0.113.99", st.url)
	scrape(v, 40, 9000)
	b := v.FirstBlocked()
	if b < 0 {
		t.Fatal("scraper not stopped before the kill")
	}
	st.replicas[2].kill() // not replica 0: it also serves the gateway's challenge route
	killed := time.Now()
	scrape(v, 60, 9040)
	l.end()
	after := v.Answers()[40:]
	through := 0
	for _, a := range after {
		if a.Status != http.StatusForbidden {
			through++
		}
	}
	t.Logf("after the kill: %d of %d scraper requests let through (in flight on the dead replica, failing open); load: %d requests, %d not answered",
		through, len(after), l.sent.Load(), l.failed.Load())
	if through > 2 {
		t.Errorf("%d scraper requests let through after a replica died, want only what was in flight (≤ 2)", through)
	}
	if l.failed.Load() != 0 {
		t.Errorf("%d requests failed", l.failed.Load())
	}
	// The survivors took the dead replica's partitions over (pinned by the
	// traffic since): they analyse events again.
	analysed := sum(t, st, "botwarden_cluster_events_consumed_total", map[string]string{"result": "analysed"}, st.replicas[:2]...)
	fresh := e2e.NewVisitor("203.0.113.100", st.url)
	scrape(fresh, 60, 12000)
	if fresh.FirstBlocked() < 0 {
		t.Fatal("a new scraper after the kill was not stopped")
	}
	if now := sum(t, st, "botwarden_cluster_events_consumed_total", map[string]string{"result": "analysed"}, st.replicas[:2]...); now <= analysed {
		t.Error("the surviving replicas analysed nothing after the kill")
	}
	t.Logf("a new scraper was stopped after %d pages, %v after the kill", fresh.FirstBlocked(), time.Since(killed).Round(time.Millisecond))
}

// TestFeedbackAcrossReplicas: an operator's reports, filed on one replica's
// admin listener, are honoured by the others on the next request: a false
// negative blocks the client everywhere, and a later false positive about
// the same client (which replaces it in the shared store) lets it through
// everywhere again.
func TestFeedbackAcrossReplicas(t *testing.T) {
	st := startCluster(t, 2, "")
	// The replica the operator files on: the gateway does not send it
	// traffic; it shares the Redis and NATS of the others and keeps its
	// reports in its own analytics store.
	reporter := startReplica(t, "reporter", configFile(t, ""),
		"BOTWARDEN_CLUSTER_REDIS_ADDR="+st.proxy.Addr(), "BOTWARDEN_CLUSTER_NATS_URL="+st.nats.URL,
		"BOTWARDEN_CLUSTER_STREAM_MAX_BYTES=67108864",
		"BOTWARDEN_ANALYTICS_ENABLED=true", "BOTWARDEN_ANALYTICS_STORE_PATH="+filepath.Join(t.TempDir(), "a.duckdb"))
	report := func(body string) {
		t.Helper()
		resp, err := http.Post("http://"+reporter.admin+"/api/v1/feedback", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || !strings.Contains(string(msg), `"applied"`) {
			t.Fatalf("report %s: %d %s", body, resp.StatusCode, msg)
		}
	}
	v := e2e.NewVisitor("203.0.113.60", st.url)
	// Every status of four requests in a row (two per replica, the
	// gateway alternating), retried until they agree or time runs out.
	statuses := func(want int) []int {
		t.Helper()
		var got []int
		waitUntil(t, fmt.Sprintf("four answers %d", want), 5*time.Second, func() bool {
			got = got[:0]
			for i := range 4 {
				got = append(got, v.Get(fmt.Sprintf("/product/%d", i)))
			}
			return slices.Equal(got, []int{want, want, want, want})
		})
		return got
	}
	statuses(http.StatusOK)
	report(`{"kind":"false_negative","key":"ip:203.0.113.60","score":5,"abuse":"scraping"}`)
	d := waitUntil(t, "the false negative enforced", 5*time.Second, func() bool { return v.Get("/product/x") == http.StatusForbidden })
	statuses(http.StatusForbidden)
	t.Logf("false negative enforced by both replicas %v after the report", d)
	report(`{"kind":"false_positive","key":"203.0.113.60","ttl":"1h","description":"our QA"}`)
	statuses(http.StatusOK)
	for _, r := range st.replicas {
		if n := r.metric(t, "botwarden_checks_total", map[string]string{"enforced_action": "block"}); n == 0 {
			t.Errorf("%s never enforced the false negative", r.name)
		}
	}
}
