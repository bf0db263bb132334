package verified

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ranges"
	"github.com/botwarden/botwarden/internal/metricstest"
)

const (
	uaGooglebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	uaBingbot   = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
	uaGPTBot    = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.1; +https://openai.com/gptbot)"
	uaYandex    = "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"
	uaChrome    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36"
	uaClaudeBot = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)"
)

// fakeResolver answers from maps; it counts calls and can fail or block.
type fakeResolver struct {
	mu    sync.Mutex
	ptr   map[string][]string
	hosts map[string][]netip.Addr
	err   error         // returned for every PTR lookup when set
	block chan struct{} // when set, lookups wait for it (or ctx)
	calls atomic.Int64
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{ptr: map[string][]string{}, hosts: map[string][]netip.Addr{}}
}

func (f *fakeResolver) fcrdns(ip, host string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ptr[ip] = append(f.ptr[ip], host+".")
	f.hosts[host] = append(f.hosts[host], netip.MustParseAddr(ip))
}

func (f *fakeResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	f.calls.Add(1)
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, &net.DNSError{Err: "timeout", Name: addr, IsTimeout: true}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if names, ok := f.ptr[addr]; ok {
		return names, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// firstAddr returns an address inside bot id's first published prefix.
func firstAddr(t testing.TB, e *Engine, id string) netip.Addr {
	t.Helper()
	ps := e.Ranges(id)
	if len(ps) == 0 {
		t.Fatalf("no ranges for %s", id)
	}
	return addrIn(ps[0])
}

// addrIn returns an address inside p (not the network address when p has
// room for more than one).
func addrIn(p netip.Prefix) netip.Addr {
	if p.IsSingleIP() {
		return p.Addr()
	}
	return p.Addr().Next()
}

func eval(e *Engine, ip netip.Addr, ua string) *detect.Verdict {
	v := &detect.Verdict{}
	_ = e.Evaluate(context.Background(), &detect.Request{ClientIP: ip, Headers: detect.Headers{"user-agent": ua}}, v)
	v.Finalize()
	return v
}

var residential = netip.MustParseAddr("203.0.113.7") // TEST-NET-3, stands in for a home address

func TestVerifiedFromRanges(t *testing.T) {
	e := testEngine(t, DefaultConfig(), WithResolver(newFakeResolver()))
	tests := []struct {
		bot, ua, category string
	}{
		{"googlebot", uaGooglebot, CategorySearchEngine},
		{"bingbot", uaBingbot, CategorySearchEngine},
		{"gptbot", uaGPTBot, CategoryAICrawler},
		{"oai-searchbot", "OAI-SearchBot/1.0; +https://openai.com/searchbot", CategoryAISearch},
		{"perplexity-user", "Perplexity-User/1.0", CategoryAIAssistant},
		{"duckduckbot", "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", CategorySearchEngine},
		{"applebot", "Mozilla/5.0 (Applebot/0.1; +http://www.apple.com/go/applebot)", CategorySearchEngine},
		{"ccbot", "CCBot/2.0 (https://commoncrawl.org/faq/)", CategoryAICrawler},
		{"facebookexternalhit", "facebookexternalhit/1.1", CategorySocialPreview},
		{"pingdom", "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", CategoryMonitoring},
		{"statuscake", "Mozilla/5.0 (StatusCake)", CategoryMonitoring},
		{"telegrambot", "TelegramBot (like TwitterBot)", CategorySocialPreview},
		{"google-special", "AdsBot-Google (+http://www.google.com/adsbot.html)", CategoryAdvertising},
		{"feedfetcher-google", "FeedFetcher-Google; (+http://www.google.com/feedfetcher.html)", CategoryFeedFetcher},
	}
	for _, tt := range tests {
		t.Run(tt.bot, func(t *testing.T) {
			v := eval(e, firstAddr(t, e, tt.bot), tt.ua)
			if !v.Verified || v.VerifiedBot != tt.bot || v.VerifiedCategory != tt.category {
				t.Fatalf("verified=%v bot=%q cat=%q tags=%v", v.Verified, v.VerifiedBot, v.VerifiedCategory, v.Tags)
			}
			if v.Score != 1 || v.Source != detect.SourceVerifiedBot || !slices.Contains(v.DetectionIDs, IDVerifiedRanges) {
				t.Fatalf("score %d src %s ids %v", v.Score, v.Source, v.DetectionIDs)
			}
			if v.Category() != detect.CategoryVerifiedBot {
				t.Fatalf("category %s", v.Category())
			}
			if isAICategory(tt.category) != v.AI {
				t.Fatalf("AI=%v for %s", v.AI, tt.category)
			}
		})
	}
}

func TestSpoofedWithoutFCrDNS(t *testing.T) {
	res := newFakeResolver()
	e := testEngine(t, DefaultConfig(), WithResolver(res))
	// OpenAI documents no reverse DNS: outside its ranges is a spoof at once.
	v := eval(e, residential, uaGPTBot)
	if v.Verified || v.Score != 1 || v.Source != detect.SourceHeuristics ||
		!v.HasTag("spoofed-gptbot") || !slices.Contains(v.DetectionIDs, IDSpoofedRanges) {
		t.Fatalf("%+v", v)
	}
	if !v.AI || v.AICategory != AICrawler || !v.HasTag("ai-crawler") {
		t.Fatalf("AI marking lost on a spoof: %+v", v)
	}
	if res.calls.Load() != 0 {
		t.Fatal("DNS consulted for a bot without reverse DNS")
	}
}

func TestFCrDNSNeverBlocksAndCaches(t *testing.T) {
	res := newFakeResolver()
	res.block = make(chan struct{})
	e := testEngine(t, DefaultConfig(), WithResolver(res))
	e.Start()
	// While the resolver hangs, requests are answered at once, unverified.
	for range 50 {
		v := eval(e, residential, uaGooglebot)
		if v.Verified || v.Score != 0 || !v.HasTag("unverified-googlebot") || v.HasTag("spoofed-googlebot") {
			t.Fatalf("pending: %+v", v)
		}
	}
	close(res.block)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if n := res.calls.Load(); n != 1 {
		t.Fatalf("%d PTR lookups for one address, want 1 (deduplicated)", n)
	}
	v := eval(e, residential, uaGooglebot)
	if v.Verified || v.Score != 1 || !v.HasTag("spoofed-googlebot") || !slices.Contains(v.DetectionIDs, IDSpoofedFCrDNS) {
		t.Fatalf("after negative answer: %+v", v)
	}
	for range 10 {
		eval(e, residential, uaGooglebot)
	}
	if n := res.calls.Load(); n != 1 {
		t.Fatalf("negative answer not cached: %d lookups", n)
	}
}

func TestFCrDNSOutcomes(t *testing.T) {
	outside := netip.MustParseAddr("198.51.100.20") // not in any published range
	tests := []struct {
		name    string
		ua      string
		setup   func(*fakeResolver)
		verdict string // verified, spoofed, unverified
		bot     string
	}{
		{"bing confirmed", uaBingbot, func(r *fakeResolver) { r.fcrdns("198.51.100.20", "msnbot-198-51-100-20.search.msn.com") }, "verified", "bingbot"},
		{"googlebot geo-crawl", uaGooglebot, func(r *fakeResolver) { r.fcrdns("198.51.100.20", "geo-crawl-198-51-100-20.geo.googlebot.com") }, "verified", "googlebot"},
		{"yandex, reverse DNS only", uaYandex, func(r *fakeResolver) { r.fcrdns("198.51.100.20", "spider-198-51-100-20.yandex.com") }, "verified", "yandexbot"},
		{"googlebot from a cloud VM's PTR", uaGooglebot, func(r *fakeResolver) {
			r.fcrdns("198.51.100.20", "20.100.51.198.bc.googleusercontent.com")
		}, "spoofed", "googlebot"},
		{"PTR under googlebot.com without forward record", uaGooglebot, func(r *fakeResolver) {
			r.ptr["198.51.100.20"] = []string{"crawl-198-51-100-20.googlebot.com."}
		}, "spoofed", "googlebot"},
		{"forward record elsewhere", uaGooglebot, func(r *fakeResolver) {
			r.ptr["198.51.100.20"] = []string{"crawl-1-2-3-4.googlebot.com."}
			r.hosts["crawl-1-2-3-4.googlebot.com"] = []netip.Addr{netip.MustParseAddr("1.2.3.4")}
		}, "spoofed", "googlebot"},
		{"suffix trick", uaGooglebot, func(r *fakeResolver) { r.fcrdns("198.51.100.20", "crawl.evilgooglebot.com") }, "spoofed", "googlebot"},
		{"bing name for a googlebot claim", uaGooglebot, func(r *fakeResolver) { r.fcrdns("198.51.100.20", "msnbot-1.search.msn.com") }, "spoofed", "googlebot"},
		{"no PTR", uaBingbot, func(*fakeResolver) {}, "spoofed", "bingbot"},
		{"resolver failure", uaBingbot, func(r *fakeResolver) { r.err = &net.DNSError{Err: "server misbehaving", IsTemporary: true} }, "unverified", "bingbot"},
		{"resolver returns a plain error", uaBingbot, func(r *fakeResolver) { r.err = errors.New("boom") }, "unverified", "bingbot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := newFakeResolver()
			tt.setup(res)
			e := testEngine(t, DefaultConfig(), WithResolver(res))
			e.Start()
			first := eval(e, outside, tt.ua)
			if first.Verified || !first.HasTag("unverified-"+tt.bot) {
				t.Fatalf("first request must be unverified while DNS runs: %+v", first)
			}
			if err := e.Settle(context.Background()); err != nil {
				t.Fatal(err)
			}
			assertOutcome(t, eval(e, outside, tt.ua), tt.verdict, tt.bot)
		})
	}
}

func TestErrorAnswersExpire(t *testing.T) {
	res := newFakeResolver()
	res.err = &net.DNSError{Err: "i/o timeout", IsTimeout: true}
	now := time.Unix(1_700_000_000, 0)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	cfg := DefaultConfig()
	e := testEngine(t, cfg, WithResolver(res), WithClock(func() time.Time { return *clock.Load() }))
	e.Start()
	eval(e, residential, uaBingbot)
	_ = e.Settle(context.Background())
	eval(e, residential, uaBingbot) // cached error: no new lookup
	if res.calls.Load() != 1 {
		t.Fatalf("calls %d", res.calls.Load())
	}
	later := now.Add(cfg.DNS.ErrorTTL + time.Second)
	clock.Store(&later)
	res.mu.Lock()
	res.err = nil
	res.mu.Unlock()
	eval(e, residential, uaBingbot) // expired: looked up again
	_ = e.Settle(context.Background())
	if v := eval(e, residential, uaBingbot); !v.HasTag("spoofed-bingbot") {
		t.Fatalf("after retry: %+v", v)
	}
	if res.calls.Load() != 2 {
		t.Fatalf("calls %d", res.calls.Load())
	}
}

func TestQueueFullStaysUnverified(t *testing.T) {
	res := newFakeResolver()
	res.block = make(chan struct{})
	defer close(res.block)
	cfg := DefaultConfig()
	cfg.DNS.QueueSize = 2
	reg := prometheus.NewRegistry()
	e, err := New(cfg, zerolog.Nop(), reg, WithResolver(res))
	if err != nil {
		t.Fatal(err)
	}
	// Workers not started: the queue fills and further claims are dropped.
	for i := range 5 {
		ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)})
		if v := eval(e, ip, uaBingbot); !v.HasTag("unverified-bingbot") {
			t.Fatalf("%+v", v)
		}
	}
	if got := metricstest.Value(t, e.m.dropped); got != 3 {
		t.Fatalf("dropped %v, want 3", got)
	}
	_ = e.Close()
}

func TestUnjudgeableAddresses(t *testing.T) {
	res := newFakeResolver()
	e := testEngine(t, DefaultConfig(), WithResolver(res))
	e.Start()
	for _, ip := range []netip.Addr{
		{}, netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"),
		netip.MustParseAddr("100.64.1.1"), netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fd00::1"),
		netip.MustParseAddr("169.254.1.1"),
	} {
		for _, ua := range []string{uaGooglebot, uaGPTBot} {
			v := eval(e, ip, ua)
			if v.Verified || v.Score != 0 || !strings.HasPrefix(strings.Join(v.Tags, ","), "unverified-") && !v.HasTag("unverified-gptbot") {
				t.Errorf("%v %q: %+v", ip, ua, v)
			}
		}
	}
	if res.calls.Load() != 0 {
		t.Fatal("DNS used for a private address")
	}
}

func TestAddressForms(t *testing.T) {
	e := testEngine(t, DefaultConfig(), WithResolver(newFakeResolver()))
	g := firstAddr(t, e, "googlebot")
	mapped := netip.AddrFrom16(g.As16()) // works for v4 and v6 alike
	if g.Is4() {
		mapped = netip.AddrFrom16(netip.AddrFrom4(g.As4()).As16())
	}
	for _, ip := range []netip.Addr{g, mapped, g.WithZone("")} {
		if v := eval(e, ip, uaGooglebot); !v.Verified {
			t.Errorf("%v not verified", ip)
		}
	}
	var v6 netip.Addr
	for _, p := range e.Ranges("googlebot") {
		if p.Addr().Is6() {
			v6 = addrIn(p)
			break
		}
	}
	if v := eval(e, v6.WithZone("eth0"), uaGooglebot); !v.Verified {
		t.Errorf("zoned %v not verified", v6)
	}
}

func TestNonClaimsUntouched(t *testing.T) {
	e := testEngine(t, DefaultConfig(), WithResolver(newFakeResolver()))
	for _, ua := range []string{uaChrome, "", "\x00\xff\xfe", strings.Repeat("A", 10<<10), "curl/8.5.0"} {
		v := eval(e, residential, ua)
		if v.Score != 0 || v.Verified || v.AI || len(v.Tags) != 0 {
			t.Errorf("%.40q: %+v", ua, v)
		}
	}
	// A 10 KiB UA with a claim at the very end is still read.
	long := strings.Repeat("x ", 5<<10) + uaGPTBot
	if v := eval(e, residential, long); !v.HasTag("spoofed-gptbot") {
		t.Errorf("long UA: %+v", v)
	}
	// AI agents without a verifiable bot are marked, not scored.
	v := eval(e, residential, uaClaudeBot)
	if !v.AI || v.AICategory != AICrawler || v.Score != 0 || v.Verified {
		t.Errorf("ClaudeBot: %+v", v)
	}
}

func TestScoreCombination(t *testing.T) {
	e := testEngine(t, DefaultConfig(), WithResolver(newFakeResolver()))
	g := firstAddr(t, e, "googlebot")
	run := func(pre func(*detect.Verdict)) *detect.Verdict {
		v := &detect.Verdict{}
		pre(v)
		_ = e.Evaluate(context.Background(), &detect.Request{ClientIP: g, Headers: detect.Headers{"user-agent": uaGooglebot}}, v)
		return v
	}
	// Heuristics already said 1 (known bot UA): source stays, ID added.
	v := run(func(v *detect.Verdict) { v.Automated(detect.SourceHeuristics, 1001, "known-bot") })
	if !v.Verified || v.Score != 1 || v.Source != detect.SourceHeuristics || !slices.Contains(v.DetectionIDs, IDVerifiedRanges) {
		t.Fatalf("%+v", v)
	}
	// An engine before us computed 40: kept.
	v = run(func(v *detect.Verdict) { v.Propose(40, detect.SourceML) })
	if !v.Verified || v.Score != 40 || v.Source != detect.SourceML {
		t.Fatalf("%+v", v)
	}
}

func TestConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"disabled unknown", func(c *Config) { c.DisabledBots = []string{"nobot"} }, "disabled_bots[0]"},
		{"dns timeout", func(c *Config) { c.DNS.Timeout = 0 }, "dns.timeout"},
		{"dns workers", func(c *Config) { c.DNS.Workers = 0 }, "dns.workers"},
		{"dns queue", func(c *Config) { c.DNS.QueueSize = -1 }, "dns.queue_size"},
		{"dns server", func(c *Config) { c.DNS.Server = "1.1.1.1" }, "dns.server"},
		{"bot id", func(c *Config) {
			c.Bots = []Bot{{ID: "Bad ID", Category: CategoryMonitoring, Tokens: []string{"x"}, RDNS: []string{"x.com"}}}
		}, "bots[0]"},
		{"bot dup", func(c *Config) {
			c.Bots = []Bot{{ID: "googlebot", Category: CategoryMonitoring, Tokens: []string{"x"}, RDNS: []string{"x.com"}}}
		}, "already a built-in"},
		{"bot category", func(c *Config) {
			c.Bots = []Bot{{ID: "m", Category: "nope", Tokens: []string{"x"}, RDNS: []string{"x.com"}}}
		}, "category"},
		{"bot nothing", func(c *Config) { c.Bots = []Bot{{ID: "m", Category: CategoryMonitoring, Tokens: []string{"x"}}} }, "one of sets"},
		{"bot prefix", func(c *Config) {
			c.Bots = []Bot{{ID: "m", Category: CategoryMonitoring, Tokens: []string{"x"}, Prefixes: []string{"nope"}}}
		}, "prefixes"},
		{"bot token", func(c *Config) {
			c.Bots = []Bot{{ID: "m", Category: CategoryMonitoring, Tokens: []string{"--"}, RDNS: []string{"x.com"}}}
		}, "tokens"},
		{"bot rdns", func(c *Config) {
			c.Bots = []Bot{{ID: "m", Category: CategoryMonitoring, Tokens: []string{"x"}, RDNS: []string{"*.x.com"}}}
		}, "rdns"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mut(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
			if _, err := New(cfg, zerolog.Nop(), nil); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestConfiguredBotsAndDisabled(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DisabledBots = []string{"gptbot"}
	cfg.Bots = []Bot{{ID: "acme-monitor", Operator: "ACME", Category: CategoryMonitoring,
		Tokens: []string{"AcmeMonitor"}, Prefixes: []string{"192.0.2.0/28"}}}
	e := testEngine(t, cfg, WithResolver(newFakeResolver()))
	if v := eval(e, netip.MustParseAddr("192.0.2.5"), "AcmeMonitor/1.0"); !v.Verified || v.VerifiedBot != "acme-monitor" {
		t.Fatalf("%+v", v)
	}
	if v := eval(e, netip.MustParseAddr("192.0.2.99"), "AcmeMonitor/1.0"); !v.HasTag("spoofed-acme-monitor") {
		t.Fatalf("%+v", v)
	}
	// A disabled bot's claim is ignored (the AI mark stays: it is a UA fact).
	if v := eval(e, residential, uaGPTBot); v.Score != 0 || v.HasTag("spoofed-gptbot") || !v.AI {
		t.Fatalf("%+v", v)
	}
}

func TestDNSDisabled(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DNS.Enabled = false
	e := testEngine(t, cfg)
	if v := eval(e, residential, uaGooglebot); v.Score != 0 || !v.HasTag("unverified-googlebot") {
		t.Fatalf("%+v", v)
	}
	if v := eval(e, residential, uaGPTBot); !v.HasTag("spoofed-gptbot") {
		t.Fatalf("ranges-only bots are still judged: %+v", v)
	}
	if v := eval(e, firstAddr(t, e, "googlebot"), uaGooglebot); !v.Verified {
		t.Fatalf("%+v", v)
	}
}

func TestRangesFileOverlayAndReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ranges.json")
	cfg := DefaultConfig()
	cfg.RangesFile = path
	// Missing file: embedded snapshot, no error.
	e := testEngine(t, cfg, WithResolver(newFakeResolver()))
	newIP := netip.MustParseAddr("81.2.69.77") // a UK ISP, in no embedded set
	if v := eval(e, newIP, uaGPTBot); v.Verified {
		t.Fatal("verified before the file existed")
	}
	old := firstAddr(t, e, "gptbot")
	snap := ranges.New()
	snap.Sets["openai-gptbot"] = &ranges.Set{Prefixes: []netip.Prefix{netip.MustParsePrefix("81.2.69.64/26")}}
	snap.Sets["openai"] = &ranges.Set{Prefixes: []netip.Prefix{netip.MustParsePrefix("81.2.69.64/26")}}
	if err := snap.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if v := eval(e, newIP, uaGPTBot); !v.Verified {
		t.Fatalf("file set not used: %+v", v)
	}
	if v := eval(e, old, uaGPTBot); v.Verified {
		t.Fatal("file set did not replace the embedded one")
	}
	if v := eval(e, firstAddr(t, e, "googlebot"), uaGooglebot); !v.Verified {
		t.Fatal("embedded sets the file lacks were lost")
	}
	// A corrupt file: Reload fails and the current table stays.
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err == nil || !strings.Contains(err.Error(), "verified.ranges_file") {
		t.Fatalf("err = %v", err)
	}
	if v := eval(e, newIP, uaGPTBot); !v.Verified {
		t.Fatal("table lost after failed reload")
	}
	if _, err := New(cfg, zerolog.Nop(), nil); err == nil {
		t.Fatal("New accepted a corrupt ranges file")
	}
}

// Overlapping ranges of two bots: an address in a bot's small prefix inside
// another bot's large prefix verifies both.
func TestOverlappingRanges(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Bots = []Bot{
		{ID: "wide", Category: CategoryMonitoring, Tokens: []string{"widebot"}, Prefixes: []string{"192.0.2.0/24"}},
		{ID: "narrow", Category: CategoryMonitoring, Tokens: []string{"narrowbot"}, Prefixes: []string{"192.0.2.128/28"}},
	}
	e := testEngine(t, cfg, WithResolver(newFakeResolver()))
	ip := netip.MustParseAddr("192.0.2.130")
	for _, ua := range []string{"widebot", "narrowbot"} {
		if v := eval(e, ip, ua); !v.Verified {
			t.Errorf("%s not verified at %v", ua, ip)
		}
	}
}

func TestCheckForTools(t *testing.T) {
	res := newFakeResolver()
	res.fcrdns("198.51.100.9", "msnbot-198-51-100-9.search.msn.com")
	e := testEngine(t, DefaultConfig(), WithResolver(res))
	// Check resolves in the caller: no Start, no Settle needed.
	if v := e.Check(context.Background(), netip.MustParseAddr("198.51.100.9"), uaBingbot); !v.Verified {
		t.Fatalf("%+v", v)
	}
	if v := e.Check(context.Background(), residential, uaBingbot); !v.HasTag("spoofed-bingbot") || v.Score != 1 {
		t.Fatalf("%+v", v)
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		e, err := New(DefaultConfig(), zerolog.Nop(), reg, WithResolver(newFakeResolver()))
		if err != nil {
			t.Fatal(err)
		}
		eval(e, residential, uaGPTBot)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "botwarden_verified_claims_total" {
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 2 {
				t.Fatalf("claims counted %v, want 2 (shared by both engines)", v)
			}
			return
		}
	}
	t.Fatal("botwarden_verified_claims_total not registered")
}

func TestCategoryLabels(t *testing.T) {
	if len(Categories()) != 17 {
		t.Fatalf("%d categories, Cloudflare has 17", len(Categories()))
	}
	for _, b := range Builtin() {
		if err := b.Validate(); err != nil {
			t.Error(err)
		}
		if CategoryLabel(b.Category) == "" {
			t.Errorf("%s: no label", b.ID)
		}
	}
}

// Requests keep being answered while the ranges are reloaded and DNS
// answers arrive (run with -race).
func TestConcurrentEvaluateReload(t *testing.T) {
	res := newFakeResolver()
	e := testEngine(t, DefaultConfig(), WithResolver(res))
	e.Start()
	g := firstAddr(t, e, "googlebot")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				ip := netip.AddrFrom4([4]byte{81, 2, byte(w), byte(i)})
				eval(e, ip, uaBingbot)
				if v := eval(e, g, uaGooglebot); !v.Verified {
					t.Error("googlebot not verified during reload")
					return
				}
			}
		}()
	}
	for range 5 {
		if err := e.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := e.Settle(context.Background()); err != nil {
		t.Fatal(err)
	}
}
