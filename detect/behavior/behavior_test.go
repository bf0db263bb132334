package behavior

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

const chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// recorder keeps the latest verdict per key.
type recorder struct {
	mu     sync.Mutex
	latest map[string]reputation.Verdict
	all    []reputation.Verdict
}

func (r *recorder) Put(_ context.Context, v reputation.Verdict) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.latest == nil {
		r.latest = map[string]reputation.Verdict{}
	}
	r.latest[v.Key] = v
	r.all = append(r.all, v)
	return nil
}

func (r *recorder) get(key string) (reputation.Verdict, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.latest[key]
	return v, ok
}

// gen builds events for one client, advancing its clock.
type gen struct {
	ip      netip.Addr
	ua      string
	session string
	at      time.Time
	out     []detect.Event
}

func newGen(ip string) *gen {
	return &gen{ip: netip.MustParseAddr(ip), ua: chromeUA, at: t0}
}

func (g *gen) req(after time.Duration, method, path string, status int, mod ...func(*detect.Event)) *gen {
	g.at = g.at.Add(after)
	ev := detect.Event{Time: g.at, ClientIP: g.ip, Method: method, Host: "shop.example", Path: path, Status: status,
		UserAgent: g.ua, SessionID: g.session, Headers: detect.Headers{}}
	for _, m := range mod {
		m(&ev)
	}
	g.out = append(g.out, ev)
	return g
}

func (g *gen) get(after time.Duration, path string) *gen { return g.req(after, "GET", path, 200) }

// page fetches a page and n of its assets right after.
func (g *gen) page(after time.Duration, path string, assets int) *gen {
	g.get(after, path)
	for i := range assets {
		g.get(15*time.Millisecond, fmt.Sprintf("/static/asset%d.%s", i, []string{"css", "js", "png", "woff2"}[i%4]))
	}
	return g
}

func merge(gs ...*gen) []detect.Event {
	var out []detect.Event
	for _, g := range gs {
		out = append(out, g.out...)
	}
	slices.SortStableFunc(out, func(a, b detect.Event) int { return a.Time.Compare(b.Time) })
	return out
}

func syncEngine(t testing.TB, cfg Config) (*Engine, *recorder) {
	t.Helper()
	cfg.Workers = 0
	rec := &recorder{}
	clock := t0
	var mu sync.Mutex
	e, err := New(cfg, zerolog.Nop(), prometheus.NewRegistry(), rec, WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }))
	if err != nil {
		t.Fatal(err)
	}
	return e, rec
}

func feed(e *Engine, evs []detect.Event) {
	for i := range evs {
		e.Offer(&evs[i])
	}
}

func TestDetectors(t *testing.T) {
	ip := "198.51.100.10"
	key := "ip:" + ip
	loop := func(n int, fn func(g *gen, i int)) *gen {
		g := newGen(ip)
		for i := range n {
			fn(g, i)
		}
		return g
	}
	tests := []struct {
		name     string
		cfg      func(*Config)
		events   []detect.Event
		key      string
		wantTag  string // "" = expect no verdict for key at all
		blocking bool   // want score ≤ threshold
		certain  bool   // want score 1
		notTag   string // tag that must not be present
	}{
		{name: "rate", key: key, wantTag: TagRate,
			events: loop(700, func(g *gen, i int) { g.get(80*time.Millisecond, "/static/app.css") }).out},
		{name: "rate below threshold", key: key,
			events: loop(100, func(g *gen, i int) { g.get(600*time.Millisecond, "/static/app.css") }).out},
		{name: "burst", key: key, wantTag: TagBurst,
			events: loop(15, func(g *gen, i int) { g.get(50*time.Millisecond, "/p") }).out},
		{name: "no burst at 5 per second", key: key, notTag: TagBurst,
			events: loop(5, func(g *gen, i int) { g.get(150*time.Millisecond, "/p") }).out},
		{name: "crawl with assets", key: key, wantTag: TagCrawl, notTag: TagNoAssets,
			events: loop(30, func(g *gen, i int) { g.page(time.Second, fmt.Sprintf("/item/x%c", 'a'+i), 2) }).out},
		{name: "ten pages is no crawl", key: key,
			events: loop(10, func(g *gen, i int) { g.page(3*time.Second, fmt.Sprintf("/item/x%c", 'a'+i), 3) }).out},
		{name: "pages without assets", key: key, wantTag: TagNoAssets,
			events: loop(12, func(g *gen, i int) { g.get(time.Duration(3+i%4)*time.Second, "/") }).out},
		{name: "pages with assets", key: key,
			events: loop(12, func(g *gen, i int) { g.page(time.Duration(3+i%4)*time.Second, "/", 3) }).out},
		{name: "404 probing", key: key, wantTag: TagProbing, blocking: false,
			events: loop(30, func(g *gen, i int) { g.req(200*time.Millisecond, "GET", fmt.Sprintf("/wp-admin/x%d.php", i*7919), 404) }).out},
		{name: "a few broken links", key: key,
			events: loop(30, func(g *gen, i int) {
				g.page(2*time.Second, "/", 2)
				if i%6 == 0 {
					g.req(time.Second, "GET", "/old-link", 404)
				}
			}).out},
		{name: "credential stuffing", key: key, wantTag: TagLoginFailures, blocking: true,
			events: loop(6, func(g *gen, i int) { g.req(2*time.Second, "POST", "/login", 401) }).out},
		{name: "credential stuffing certain", key: key, wantTag: TagLoginFailures, blocking: true, certain: true,
			events: loop(25, func(g *gen, i int) { g.req(time.Second, "POST", "/login", 401) }).out},
		{name: "typos then success", key: key,
			events: loop(4, func(g *gen, i int) {
				st := 401
				if i == 3 {
					st = 302
				}
				g.req(5*time.Second, "POST", "/login", st)
			}).out},
		{name: "many accounts", key: key, wantTag: TagAccounts, blocking: true,
			cfg: func(c *Config) { c.Paths.AccountHeader = "x-botwarden-account" },
			events: loop(4, func(g *gen, i int) {
				g.req(2*time.Second, "POST", "/login", 302, func(e *detect.Event) { e.Headers["x-botwarden-account"] = fmt.Sprintf("user%d@example.com", i) })
			}).out},
		{name: "accounts from query parameter", key: key, wantTag: TagAccounts,
			cfg:    func(c *Config) { c.Paths.AccountParam = "user" },
			events: loop(4, func(g *gen, i int) { g.req(2*time.Second, "POST", fmt.Sprintf("/login?user=u%d", i), 200) }).out},
		{name: "sequential ids", key: key, wantTag: TagEnumeration, blocking: false,
			events: loop(15, func(g *gen, i int) { g.page(4*time.Second, fmt.Sprintf("/product/%d", 1001+i), 3) }).out},
		{name: "random ids", key: key, notTag: TagEnumeration,
			events: loop(15, func(g *gen, i int) { g.page(4*time.Second, fmt.Sprintf("/product/%d", 1001+(i*37)%101), 3) }).out},
		{name: "ua rotation", key: key, wantTag: TagUARotation,
			events: loop(8, func(g *gen, i int) {
				g.ua = fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0) Chrome/%d.0.0.0 Safari/537.36", 100+i)
				g.page(3*time.Second, "/", 2)
			}).out},
		{name: "one browser, one ua", key: key, notTag: TagUARotation,
			events: loop(8, func(g *gen, i int) { g.page(3*time.Second, "/", 2) }).out},
		{name: "ip rotation per session", key: "session:s1", wantTag: TagIPRotation, blocking: true,
			events: loop(6, func(g *gen, i int) {
				g.ip, g.session = netip.AddrFrom4([4]byte{203, 0, byte(113 + i), 7}), "s1"
				g.page(2*time.Second, "/", 2)
			}).out},
		{name: "ipv6 privacy addresses are one /64", key: "session:s1", notTag: TagIPRotation,
			events: loop(6, func(g *gen, i int) {
				g.ip, g.session = netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", 0x1000+i)), "s1"
				g.page(2*time.Second, "/", 2)
			}).out},
		{name: "machine-regular timing", key: key, wantTag: TagRegular,
			events: loop(25, func(g *gen, i int) { g.page(2*time.Second+time.Duration(i%3)*10*time.Millisecond, "/", 1) }).out},
		{name: "human timing", key: key, notTag: TagRegular,
			events: loop(25, func(g *gen, i int) {
				g.page(time.Duration(1000+rand.New(rand.NewPCG(uint64(i), 1)).IntN(20000))*time.Millisecond, "/", 1)
			}).out},
		{name: "challenge failures", key: key, wantTag: TagChallenge, blocking: true,
			events: loop(6, func(g *gen, i int) {
				g.req(3*time.Second, "GET", "/", 403, func(e *detect.Event) { e.Action = "managed_challenge" })
			}).out},
		{name: "robots.txt read then ignored", key: key, wantTag: TagRobots,
			cfg: func(c *Config) { c.Paths.RobotsDisallow = []string{"/private/"} },
			events: loop(4, func(g *gen, i int) {
				if i == 0 {
					g.get(time.Second, "/robots.txt")
				}
				g.page(2*time.Second, fmt.Sprintf("/private/%c", 'a'+i), 3)
			}).out},
		{name: "human in a disallowed area", key: key,
			cfg:    func(c *Config) { c.Paths.RobotsDisallow = []string{"/cart"} },
			events: loop(4, func(g *gen, i int) { g.page(5*time.Second, "/cart", 3) }).out},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			e, rec := syncEngine(t, cfg)
			feed(e, tt.events)
			v, ok := rec.get(tt.key)
			if tt.wantTag == "" {
				if ok && (tt.notTag == "" || slices.Contains(v.Tags, tt.notTag)) {
					t.Fatalf("unexpected verdict %+v", v)
				}
				return
			}
			if !ok {
				t.Fatalf("no verdict for %s; published: %v", tt.key, rec.all)
			}
			if !slices.Contains(v.Tags, tt.wantTag) {
				t.Errorf("tags %v lack %q", v.Tags, tt.wantTag)
			}
			if tt.notTag != "" && slices.Contains(v.Tags, tt.notTag) {
				t.Errorf("tags %v contain %q", v.Tags, tt.notTag)
			}
			if tt.blocking && v.Score > cfg.Threshold {
				t.Errorf("score %d, want ≤ %d", v.Score, cfg.Threshold)
			}
			if tt.certain && v.Score != 1 {
				t.Errorf("score %d, want 1", v.Score)
			}
			if v.Source != detect.SourceBehavioral {
				t.Errorf("source %q", v.Source)
			}
		})
	}
}

func TestNetworkKey(t *testing.T) {
	// 15 addresses of one /24 fail 4 logins each: below the per-IP
	// threshold, above the network's (5 × net_factor 10 = 50).
	var gs []*gen
	for i := range 15 {
		g := newGen(fmt.Sprintf("203.0.113.%d", 10+i))
		g.at = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		for range 4 {
			g.req(3*time.Second, "POST", "/login", 401)
		}
		gs = append(gs, g)
	}
	e, rec := syncEngine(t, DefaultConfig())
	feed(e, merge(gs...))
	v, ok := rec.get("net:203.0.113.0/24")
	if !ok || !slices.Contains(v.Tags, TagLoginFailures) || v.Score > 29 {
		t.Fatalf("net verdict = %+v, %v", v, ok)
	}
	if _, ok := rec.get("ip:203.0.113.10"); ok {
		t.Errorf("a single address below its threshold got a verdict")
	}

	// One address alone, however noisy, does not convict its network.
	g := newGen("192.0.2.5")
	for range 80 {
		g.req(500*time.Millisecond, "POST", "/login", 401)
	}
	e, rec = syncEngine(t, DefaultConfig())
	feed(e, g.out)
	if v, ok := rec.get("net:192.0.2.0/24"); ok {
		t.Errorf("network convicted by one address: %+v", v)
	}
	if v, ok := rec.get("ip:192.0.2.5"); !ok || v.Score != 1 {
		t.Errorf("address verdict = %+v, %v", v, ok)
	}
}

// TestHumanBrowsing: a human-paced session with assets is never flagged.
func TestHumanBrowsing(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	g := newGen("192.0.2.77")
	g.session = "human"
	paths := []string{"/", "/category/shoes", "/product/4711", "/product/932", "/cart", "/product/18", "/search?q=red", "/checkout"}
	for i := range 40 {
		g.page(time.Duration(2000+rng.IntN(25000))*time.Millisecond, paths[i%len(paths)], 4+rng.IntN(12))
		if i%10 == 3 {
			g.req(time.Second, "POST", "/login", 401) // a typo
		}
	}
	e, rec := syncEngine(t, DefaultConfig())
	feed(e, g.out)
	if len(rec.all) != 0 {
		t.Fatalf("human flagged: %+v", rec.all)
	}
}

// TestScraper: 200 product pages at 20 rps with a browser UA, no assets.
func TestScraper(t *testing.T) {
	g := newGen("192.0.2.99")
	for i := range 200 {
		g.get(50*time.Millisecond, fmt.Sprintf("/product/%d", 1000+i))
	}
	e, rec := syncEngine(t, DefaultConfig())
	var firstBlock int = -1
	for i := range g.out {
		e.Offer(&g.out[i])
		if v, ok := rec.get("ip:192.0.2.99"); ok && v.Score <= 29 && firstBlock < 0 {
			firstBlock = i
		}
	}
	v, _ := rec.get("ip:192.0.2.99")
	if firstBlock < 0 || firstBlock >= 40 || v.Score != 1 {
		t.Fatalf("first blocking verdict after %d requests, final %+v", firstBlock+1, v)
	}
	t.Logf("blocking verdict after %d requests; final tags %v", firstBlock+1, v.Tags)
}

func TestDecayAndExpiry(t *testing.T) {
	cfg := DefaultConfig()
	e, rec := syncEngine(t, cfg)
	g := newGen("198.51.100.1")
	for range 6 {
		g.req(time.Second, "POST", "/login", 401)
	}
	feed(e, g.out)
	v, ok := rec.get("ip:198.51.100.1")
	if !ok || v.Score != 24 {
		t.Fatalf("verdict %+v", v)
	}
	// risk 75 decays below 70 after log2(75/70) half-lives: ttl clamps to min.
	if got := v.Expiry.Sub(t0); got != cfg.MinVerdictTTL {
		t.Errorf("ttl %s, want %s", got, cfg.MinVerdictTTL)
	}
	if got := e.ttl(98, true); got < cfg.MinVerdictTTL || got > cfg.MaxVerdictTTL {
		t.Errorf("ttl(98) = %s", got)
	}
	if got := e.ttl(98, false); got != cfg.MinVerdictTTL {
		t.Errorf("tag-only ttl %s", got)
	}
	// An hour later (12 half-lives) the same address browses normally: its
	// risk has decayed and no new verdict is published.
	n := len(rec.all)
	g.at = g.at.Add(time.Hour)
	g.out = nil
	g.page(time.Second, "/", 3)
	feed(e, g.out)
	if len(rec.all) != n {
		t.Fatalf("published after decay: %+v", rec.all[n:])
	}
	w := e.workers[0]
	s, _ := w.tab.get(w.e.cls.hashAddr(kindIP, netip.MustParseAddr("198.51.100.1")))
	if s.risk != 0 || s.tags != 0 {
		t.Errorf("risk %v tags %b after an hour", s.risk, s.tags)
	}
}

func TestSequence(t *testing.T) {
	c := &classifier{cfg: &Config{}, seed: maphash.MakeSeed()}
	tests := []struct {
		a, b     string
		sameTmpl bool
		idA, idB uint32
	}{
		{"/product/1001", "/product/1002", true, 1001, 1002},
		{"/product/1001/reviews", "/product/1002/reviews", true, 1001, 1002},
		{"/item?id=7", "/item?id=8", true, 7, 8},
		{"/a/1", "/b/2", false, 1, 2},
	}
	for _, tt := range tests {
		pa, qa, _ := strings.Cut(tt.a, "?")
		pb, qb, _ := strings.Cut(tt.b, "?")
		ta, ia, oka := c.sequence(pa, qa)
		tb, ib, okb := c.sequence(pb, qb)
		if !oka || !okb || (ta == tb) != tt.sameTmpl || ia != tt.idA || ib != tt.idB {
			t.Errorf("%s/%s: tmpl %x/%x ids %d/%d", tt.a, tt.b, ta, tb, ia, ib)
		}
	}
	if _, _, ok := c.sequence("/no/digits", ""); ok {
		t.Error("sequence found in a path without digits")
	}
	if _, _, ok := c.sequence("/h/12345678901234", ""); ok {
		t.Error("a long digit run is an id")
	}
}

func TestLinearCount(t *testing.T) {
	var b uint64
	c := &classifier{cfg: &Config{}, seed: maphash.MakeSeed()}
	for i := range 20 {
		addBit(&b, c.hash(fmt.Sprint(i)))
	}
	if n := distinct64(b, 0); n < 14 || n > 28 {
		t.Errorf("20 distinct estimated as %.1f", n)
	}
	if n := distinct64(^uint64(0), 0); n < 64 {
		t.Errorf("full bitmap estimated as %.1f", n)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		mut   func(*Config)
	}{
		{"workers", func(c *Config) { c.Workers = -1 }},
		{"queue_size", func(c *Config) { c.QueueSize = 0 }},
		{"max_tracked", func(c *Config) { c.MaxTracked = 1 }},
		{"window", func(c *Config) { c.Window = time.Millisecond }},
		{"half_life", func(c *Config) { c.HalfLife = 0 }},
		{"threshold", func(c *Config) { c.Threshold = 99 }},
		{"min_verdict_ttl", func(c *Config) { c.MaxVerdictTTL = time.Second }},
		{"keys.v4_prefix_bits", func(c *Config) { c.Keys.V4PrefixBits = 33 }},
		{"keys", func(c *Config) { c.Keys = KeysConfig{V4PrefixBits: 24, V6PrefixBits: 64} }},
		{"paths.static_extensions", func(c *Config) { c.Paths.StaticExtensions = []string{"css"} }},
		{"paths.login_paths", func(c *Config) { c.Paths.LoginPaths = []string{"login"} }},
		{"paths.login_failure_statuses", func(c *Config) { c.Paths.LoginFailureStatuses = []int{42} }},
		{"detectors.crawl.threshold", func(c *Config) { c.Detectors.Crawl.Threshold = 0 }},
		{"detectors.login_failures.certain", func(c *Config) { c.Detectors.LoginFailures.Certain = 1 }},
		{"detectors.rate.risk", func(c *Config) { c.Detectors.Rate.Risk = 120 }},
		{"detectors.regular_max_cv", func(c *Config) { c.Detectors.RegularMaxCV = 2 }},
		{"anomaly.warmup", func(c *Config) { c.Anomaly.Enabled = true; c.Anomaly.Warmup = 1 }},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		tt.mut(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.field+":") {
			t.Errorf("%s: Validate() = %v", tt.field, err)
		}
	}
	if _, err := New(Config{}, zerolog.Nop(), nil, nil); err == nil {
		t.Error("New accepted a zero config")
	}
}

func TestUAFamily(t *testing.T) {
	for ua, want := range map[string]string{
		chromeUA:                 "chrome",
		"":                       "empty",
		"curl/8.5.0":             "curl",
		"python-requests/2.31.0": "python-requests",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)":                      "crawler",
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0":                        "firefox",
		"Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15": "safari",
		"Mozilla/5.0 HeadlessChrome/131.0.0.0":                                                          "headless-chrome",
		"Mozilla/5.0 (Windows NT 10.0) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0":                    "edge",
	} {
		if got := UAFamily(ua); got != want {
			t.Errorf("UAFamily(%q) = %q, want %q", ua, got, want)
		}
	}
}

// TestOfferKinds: a scraper's events split by identity over two engines
// (as two replicas owning different partitions would) give each engine the
// verdicts of its identities only, and the same ones one engine gives.
func TestOfferKinds(t *testing.T) {
	g := newGen("192.0.2.98")
	g.session = "s-98"
	for i := range 200 {
		g.get(50*time.Millisecond, fmt.Sprintf("/product/%d", 1000+i))
	}
	whole, wholeRec := syncEngine(t, DefaultConfig())
	bySession, sessRec := syncEngine(t, DefaultConfig())
	byNet, netRec := syncEngine(t, DefaultConfig())
	for i := range g.out {
		whole.Offer(&g.out[i])
		bySession.OfferKinds(&g.out[i], KindSession)
		byNet.OfferKinds(&g.out[i], KindIP|KindNet)
	}
	tests := []struct {
		name string
		rec  *recorder
		key  string
		has  bool
	}{
		{"session engine has the session", sessRec, "session:s-98", true},
		{"session engine lacks the ip", sessRec, "ip:192.0.2.98", false},
		{"net engine has the ip", netRec, "ip:192.0.2.98", true},
		{"net engine lacks the session", netRec, "session:s-98", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := tt.rec.get(tt.key)
			if ok != tt.has {
				t.Fatalf("verdict for %s: %v, want %v", tt.key, ok, tt.has)
			}
			if w, _ := wholeRec.get(tt.key); ok && (v.Score != w.Score || !slices.Equal(v.Tags, w.Tags)) {
				t.Fatalf("split verdict %+v, whole %+v", v, w)
			}
		})
	}
}
