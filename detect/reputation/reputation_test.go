package reputation

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func newLocal(t testing.TB, now func() time.Time) *Local {
	t.Helper()
	l, err := NewLocal(context.Background(), DefaultLocalConfig(), zerolog.Nop(), prometheus.NewRegistry(), now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestVerdictRoundTrip(t *testing.T) {
	exp := time.UnixMilli(1_800_000_000_123)
	long := string(make([]byte, 100))
	tests := []struct {
		name string
		in   Verdict
		want Verdict
	}{
		{"plain", Verdict{Score: 7, Source: detect.SourceBehavioral, Tags: []string{"crawl", "no-assets"}, Expiry: exp},
			Verdict{Key: "k", Score: 7, Source: detect.SourceBehavioral, Tags: []string{"crawl", "no-assets"}, Expiry: exp}},
		{"no tags", Verdict{Score: 1, Source: detect.SourceAnomaly, Expiry: exp},
			Verdict{Key: "k", Score: 1, Source: detect.SourceAnomaly, Expiry: exp}},
		{"unknown source and clamped score", Verdict{Score: 1000, Source: "weird", Expiry: exp},
			Verdict{Key: "k", Score: 255, Expiry: exp}},
		{"long tag cut", Verdict{Score: 2, Tags: []string{long}, Expiry: exp},
			Verdict{Key: "k", Score: 2, Tags: []string{long[:maxTagLen]}, Expiry: exp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeVerdict("k", tt.in.AppendBinary(nil))
			if err != nil {
				t.Fatal(err)
			}
			if got.Key != tt.want.Key || got.Score != tt.want.Score || got.Source != tt.want.Source ||
				!got.Expiry.Equal(tt.want.Expiry) || !slices.Equal(got.Tags, tt.want.Tags) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := Verdict{Score: 3, Tags: []string{"a"}, Expiry: time.Now()}.AppendBinary(nil)
	for _, b := range [][]byte{nil, {1}, {2, 3, 4, 5}, good[:len(good)-1], append(slices.Clone(good), 0)} {
		if _, err := DecodeVerdict("k", b); err == nil {
			t.Errorf("DecodeVerdict(%v) succeeded", b)
		}
	}
}

func FuzzDecodeVerdict(f *testing.F) {
	f.Add(Verdict{Score: 3, Source: detect.SourceBehavioral, Tags: []string{"a", "bb"}, Expiry: time.Now()}.AppendBinary(nil))
	f.Add([]byte{1, 2, 3, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeVerdict("k", b)
		if err != nil {
			return
		}
		// What decodes must re-encode to something that decodes the same.
		w, err := DecodeVerdict("k", v.AppendBinary(nil))
		if err != nil || w.Score != v.Score || !slices.Equal(w.Tags, v.Tags) {
			t.Fatalf("re-decode: %+v %v, want %+v", w, err, v)
		}
	})
}

func TestLocalStore(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLocal(t, func() time.Time { return now })
	ctx := context.Background()
	put := func(v Verdict) {
		t.Helper()
		if err := l.Put(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	put(Verdict{Key: "ip:192.0.2.1", Score: 5, Source: detect.SourceBehavioral, Tags: []string{"crawl"}, Expiry: now.Add(time.Minute)})
	put(Verdict{Key: "session:s1", Score: 40, Expiry: now.Add(10 * time.Second)})
	put(Verdict{Key: "ja4:x", Score: 9, Expiry: now.Add(100 * time.Hour)}) // cut to MaxTTL
	if err := l.Put(ctx, Verdict{Score: 3, Expiry: now.Add(time.Minute)}); err == nil {
		t.Error("Put without key succeeded")
	}

	got, err := l.Get(ctx, []string{"ip:192.0.2.1", "", "session:s1", "nope", "ja4:x"}, nil)
	if err != nil || len(got) != 3 {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if got[2].Expiry != now.Add(time.Hour) {
		t.Errorf("expiry not cut to max_ttl: %v", got[2].Expiry)
	}
	now = now.Add(30 * time.Second) // the session verdict expires
	if got, _ = l.Get(ctx, []string{"session:s1", "ip:192.0.2.1"}, nil); len(got) != 1 || got[0].Key != "ip:192.0.2.1" {
		t.Fatalf("after expiry Get = %v", got)
	}
	put(Verdict{Key: "ip:192.0.2.1", Score: 5, Expiry: now.Add(-time.Second)}) // expired put deletes
	if got, _ = l.Get(ctx, []string{"ip:192.0.2.1"}, nil); len(got) != 0 {
		t.Fatalf("expired Put did not delete: %v", got)
	}
}

func TestLocalConfigValidate(t *testing.T) {
	for _, c := range []struct {
		mut   func(*LocalConfig)
		field string
	}{
		{func(c *LocalConfig) { c.MaxTTL = 0 }, "max_ttl"},
		{func(c *LocalConfig) { c.MaxEntries = 0 }, "max_entries"},
		{func(c *LocalConfig) { c.MaxSizeMB = -1 }, "max_size_mb"},
		{func(c *LocalConfig) { c.Shards = 3 }, "shards"},
	} {
		cfg := DefaultLocalConfig()
		c.mut(&cfg)
		if err := cfg.Validate(); err == nil || !contains(err.Error(), c.field) {
			t.Errorf("Validate() = %v, want error naming %s", err, c.field)
		}
	}
	if err := DefaultLocalConfig().Validate(); err != nil {
		t.Error(err)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}

func TestEngine(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ip := netip.MustParseAddr("198.51.100.7")
	ip6 := netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name      string
		stored    []Verdict
		req       detect.Request
		session   string // the session engine's finding, "" for none
		start     int    // score before the engine
		wantScore int
		wantSrc   detect.Source
		wantKey   string
		wantTags  []string
		exempt    bool
	}{
		{name: "nothing stored", req: detect.Request{ClientIP: ip}, start: 80, wantScore: 80, wantSrc: detect.SourceML},
		{name: "ip verdict lowers", stored: []Verdict{{Key: KeyIP(ip), Score: 9, Source: detect.SourceBehavioral, Tags: []string{"crawl"}}},
			req: detect.Request{ClientIP: ip}, start: 80, wantScore: 9, wantSrc: detect.SourceBehavioral, wantKey: "ip:198.51.100.7", wantTags: []string{"crawl"}},
		{name: "prefix verdict", stored: []Verdict{{Key: "net:198.51.100.0/24", Score: 20, Source: detect.SourceBehavioral, Tags: []string{"credential-stuffing"}}},
			req: detect.Request{ClientIP: ip}, start: 80, wantScore: 20, wantSrc: detect.SourceBehavioral, wantKey: "net:198.51.100.0/24", wantTags: []string{"credential-stuffing"}},
		{name: "ipv6 /64", stored: []Verdict{{Key: "net:2001:db8::/64", Score: 3}},
			req: detect.Request{ClientIP: ip6}, start: 80, wantScore: 3, wantSrc: detect.SourceReputation, wantKey: "net:2001:db8::/64"},
		{name: "session beats ip on tie, tags merged",
			stored: []Verdict{{Key: "session:s", Score: 5, Tags: []string{"ip-rotation"}, Source: detect.SourceBehavioral}, {Key: KeyIP(ip), Score: 5, Tags: []string{"burst"}, Source: detect.SourceBehavioral}},
			req:    detect.Request{ClientIP: ip}, session: "s", start: 80, wantScore: 5, wantSrc: detect.SourceBehavioral, wantKey: "session:s", wantTags: []string{"ip-rotation", "burst"}},
		{name: "lowest wins", stored: []Verdict{{Key: "session:s", Score: 20}, {Key: "ja4:t13d", Score: 1, Source: detect.SourceAnomaly, Tags: []string{"anomaly"}}},
			req: detect.Request{ClientIP: ip, Headers: detect.Headers{detect.HeaderJA4: "t13d"}}, session: "s",
			start: 80, wantScore: 1, wantSrc: detect.SourceAnomaly, wantKey: "ja4:t13d", wantTags: []string{"anomaly"}},
		{name: "tag-only verdict keeps score", stored: []Verdict{{Key: KeyIP(ip), Score: 55, Source: detect.SourceBehavioral, Tags: []string{"ua-rotation"}}},
			req: detect.Request{ClientIP: ip}, start: 80, wantScore: 80, wantSrc: detect.SourceML, wantKey: "ip:198.51.100.7", wantTags: []string{"ua-rotation"}},
		{name: "expired ignored", stored: []Verdict{{Key: KeyIP(ip), Score: 2, Expiry: now.Add(-time.Second)}},
			req: detect.Request{ClientIP: ip}, start: 80, wantScore: 80, wantSrc: detect.SourceML},
		{name: "heuristic 1 stays", stored: []Verdict{{Key: KeyIP(ip), Score: 9}},
			req: detect.Request{ClientIP: ip}, start: 1, wantScore: 1, wantSrc: detect.SourceHeuristics, wantKey: "ip:198.51.100.7"},
		{name: "no keys at all", req: detect.Request{}, start: 80, wantScore: 80, wantSrc: detect.SourceML},
		{name: "exemption sets the analysis aside",
			stored: []Verdict{{Key: KeyIP(ip), Score: 3, Source: detect.SourceBehavioral, Tags: []string{"crawl"}},
				{Key: KeyFeedback("net:198.51.100.0/24"), Score: 99, Source: detect.SourceReputation, Tags: []string{TagExempt}}},
			req: detect.Request{ClientIP: ip}, start: 80, wantScore: 80, wantSrc: detect.SourceML,
			wantKey: "feedback:net:198.51.100.0/24", wantTags: []string{TagExempt}, exempt: true},
		{name: "exemption keeps the operator's own verdict",
			stored: []Verdict{{Key: KeyFeedback("session:s"), Score: 99, Source: detect.SourceReputation, Tags: []string{TagExempt}},
				{Key: KeyFeedback("ja4:t13d"), Score: 4, Source: detect.SourceReputation, Tags: []string{TagFalseNegative}}},
			req: detect.Request{ClientIP: ip, Headers: detect.Headers{detect.HeaderJA4: "t13d"}}, session: "s", start: 80,
			wantScore: 4, wantSrc: detect.SourceReputation, wantKey: "feedback:ja4:t13d", wantTags: []string{TagFalseNegative, TagExempt}, exempt: true},
		{name: "false negative beside a tag-only analysis verdict",
			stored: []Verdict{{Key: KeyIP(ip), Score: 60, Source: detect.SourceBehavioral, Tags: []string{"ua-rotation"}},
				{Key: KeyFeedback(KeyIP(ip)), Score: 1, Source: detect.SourceReputation, Tags: []string{TagFalseNegative, "scraping"}}},
			req: detect.Request{ClientIP: ip}, start: 80, wantScore: 1, wantSrc: detect.SourceReputation,
			wantKey: "feedback:ip:198.51.100.7", wantTags: []string{TagFalseNegative, "scraping", "ua-rotation"}},
		{name: "a feedback key is not an exemption without its tag",
			stored: []Verdict{{Key: KeyIP(ip), Score: 3, Source: detect.SourceBehavioral}, {Key: KeyFeedback(KeyIP(ip)), Score: 99}},
			req:    detect.Request{ClientIP: ip}, start: 80, wantScore: 3, wantSrc: detect.SourceBehavioral, wantKey: "ip:198.51.100.7"},
	}
	for _, tt := range tests {
		for _, indexed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/indexed=%v", tt.name, indexed), func(t *testing.T) {
				l := newLocal(t, func() time.Time { return now })
				for _, v := range tt.stored {
					if v.Expiry.IsZero() {
						v.Expiry = now.Add(time.Minute)
					}
					if err := l.Put(context.Background(), v); err != nil {
						t.Fatal(err)
					}
				}
				var st Store = l
				if !indexed {
					st = plainStore{l} // a store without FeedbackIndex
				}
				e, err := NewEngine(DefaultEngineConfig(), st)
				if err != nil {
					t.Fatal(err)
				}
				v := &detect.Verdict{}
				if tt.session != "" {
					v.Session = &detect.Session{ID: tt.session}
				}
				if tt.start == 1 {
					v.Automated(detect.SourceHeuristics, 0)
				} else {
					v.Propose(tt.start, detect.SourceML)
				}
				if err := e.Evaluate(context.Background(), &tt.req, v); err != nil {
					t.Fatal(err)
				}
				if v.Score != tt.wantScore || v.Source != tt.wantSrc {
					t.Errorf("score %d/%s, want %d/%s", v.Score, v.Source, tt.wantScore, tt.wantSrc)
				}
				if v.Reputation.Key != tt.wantKey || v.Reputation.Found != (tt.wantKey != "") {
					t.Errorf("reputation %+v, want key %q", v.Reputation, tt.wantKey)
				}
				if v.Reputation.Exempt != tt.exempt {
					t.Errorf("exempt %v, want %v", v.Reputation.Exempt, tt.exempt)
				}
				if !slices.Equal(v.Reputation.Tags, tt.wantTags) {
					t.Errorf("reputation tags %v, want %v", v.Reputation.Tags, tt.wantTags)
				}
				for _, tag := range tt.wantTags {
					if !v.HasTag(tag) {
						t.Errorf("verdict lacks tag %q: %v", tag, v.Tags)
					}
				}
			})
		}
	}
}

// plainStore hides Local's FeedbackIndex.
type plainStore struct{ Store }

func TestFeedbackIndex(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLocal(t, func() time.Time { return now })
	ctx := context.Background()
	if l.HasFeedback("ip:192.0.2.1") {
		t.Fatal("empty store indexes a key")
	}
	put := func(key string, expiry time.Time) {
		t.Helper()
		if err := l.Put(ctx, Verdict{Key: key, Score: 99, Tags: []string{TagExempt}, Expiry: expiry}); err != nil {
			t.Fatal(err)
		}
	}
	put(KeyFeedback("ip:192.0.2.1"), now.Add(time.Minute))
	put(KeyFeedback("ja4:t13d"), now.Add(3*time.Hour)) // beyond max_ttl: indexed as long as the cache keeps it
	put("ip:192.0.2.2", now.Add(time.Minute))          // the analysis's verdicts are not indexed
	for key, want := range map[string]bool{"ip:192.0.2.1": true, "ja4:t13d": true, "ip:192.0.2.2": false} {
		if got := l.HasFeedback(key); got != want {
			t.Errorf("HasFeedback(%q) = %v, want %v", key, got, want)
		}
	}
	now = now.Add(2 * time.Minute)
	if l.HasFeedback("ip:192.0.2.1") || !l.HasFeedback("ja4:t13d") {
		t.Error("expiry not honoured")
	}
	now = now.Add(time.Hour)
	if l.HasFeedback("ja4:t13d") {
		t.Error("indexed past the cache's life window")
	}
	put(KeyFeedback("session:s"), now.Add(time.Minute))
	put(KeyFeedback("session:s"), now.Add(-time.Second)) // revoked
	if l.HasFeedback("session:s") || l.feedback.Load() != nil {
		t.Error("a revoked key stays indexed")
	}
}

func TestParseKey(t *testing.T) {
	off := DefaultEngineConfig()
	off.Prefix, off.JA4 = false, false
	tests := []struct {
		cfg     EngineConfig
		in      string
		want    string
		wantErr string
	}{
		{DefaultEngineConfig(), "203.0.113.7", "ip:203.0.113.7", ""},
		{DefaultEngineConfig(), "2001:db8::1", "ip:2001:db8::1", ""},
		{DefaultEngineConfig(), "ip:::ffff:203.0.113.7", "ip:203.0.113.7", ""},
		{DefaultEngineConfig(), "ip:2001:db8::1", "ip:2001:db8::1", ""},
		{DefaultEngineConfig(), "net:203.0.113.0/24", "net:203.0.113.0/24", ""},
		{DefaultEngineConfig(), "net:203.0.113.77/24", "net:203.0.113.0/24", ""},
		{DefaultEngineConfig(), "net:203.0.113.77", "net:203.0.113.0/24", ""},
		{DefaultEngineConfig(), "net:2001:db8:1:2::/64", "net:2001:db8:1:2::/64", ""},
		{DefaultEngineConfig(), "net:203.0.0.0/16", "", "looked up as /24"},
		{DefaultEngineConfig(), "net:nonsense", "", "not a network"},
		{DefaultEngineConfig(), "session:0123abcd", "session:0123abcd", ""},
		{DefaultEngineConfig(), "session:", "", "session id"},
		{DefaultEngineConfig(), "session:a b", "", "printable"},
		{DefaultEngineConfig(), "session:" + strings.Repeat("x", 129), "", "session id"},
		{DefaultEngineConfig(), "ja4:t13d1516h2_8daaf6152771_b186095e22b6", "ja4:t13d1516h2_8daaf6152771_b186095e22b6", ""},
		{DefaultEngineConfig(), "ja4:" + strings.Repeat("x", 65), "", "JA4"},
		{off, "ja4:t13d", "", "lookup.ja4 is off"},
		{off, "net:203.0.113.0/24", "", "lookup.prefix is off"},
		{DefaultEngineConfig(), "ip:999.1.1.1", "", "not an IP"},
		{DefaultEngineConfig(), "user_agent:curl", "", "want ip:, net:"},
		{DefaultEngineConfig(), "", "", "want ip:, net:"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := tt.cfg.ParseKey(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKey(%q) = %q, %v; want error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseKey(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestEngineConfigValidate(t *testing.T) {
	c := DefaultEngineConfig()
	c.V4PrefixBits = 40
	if err := c.Validate(); err == nil || !contains(err.Error(), "v4_prefix_bits") {
		t.Errorf("Validate() = %v", err)
	}
	if _, err := NewEngine(DefaultEngineConfig(), nil); err == nil {
		t.Error("NewEngine(nil store) succeeded")
	}
}

// benchRequest is a typical Check: an address and a JA4 (the session is
// on the verdict, see benchSession).
func benchRequest() *detect.Request {
	return &detect.Request{ClientIP: netip.MustParseAddr("203.0.113.9"),
		Headers: detect.Headers{detect.HeaderJA4: "t13d1516h2_8daaf6152771_b186095e22b6"}}
}

// benchSession is the session engine's finding for benchRequest.
var benchSession = &detect.Session{ID: "0123456789abcdef"}

// BenchmarkEngine measures one hot-path lookup (4 keys) against a baseline
// engine that does nothing, in the same run: ns/op of Miss/Hit minus
// Baseline is what reputation costs a Check.
func BenchmarkEngine(b *testing.B) {
	l := newLocal(b, nil)
	for i := range 100_000 { // a populated store
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		_ = l.Put(context.Background(), Verdict{Key: KeyIP(ip), Score: 5, Tags: []string{"crawl"}, Expiry: time.Now().Add(time.Hour)})
	}
	e, _ := NewEngine(DefaultEngineConfig(), l)
	r := benchRequest()
	ctx := context.Background()
	run := func(b *testing.B, eng detect.Engine, r *detect.Request) {
		b.ReportAllocs()
		for b.Loop() {
			v := detect.Verdict{Score: 80, Session: benchSession}
			_ = eng.Evaluate(ctx, r, &v)
		}
	}
	b.Run("Baseline", func(b *testing.B) {
		run(b, detect.EngineFunc{EngineName: "noop", Fn: func(context.Context, *detect.Request, *detect.Verdict) error { return nil }}, r)
	})
	b.Run("Miss", func(b *testing.B) { run(b, e, r) })
	hit := benchRequest()
	hit.ClientIP = netip.MustParseAddr("10.0.1.2")
	b.Run("Hit", func(b *testing.B) { run(b, e, hit) })
}

func TestLocalStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l, err := NewLocal(ctx, DefaultLocalConfig(), zerolog.Nop(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-l.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("store not closed when its context ended")
	}
	if err := l.Close(); err != nil { // a second Close is harmless
		t.Fatal(err)
	}
}
