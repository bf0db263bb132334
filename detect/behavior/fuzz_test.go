package behavior

import (
	"net/netip"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect"
)

// FuzzOffer drives the analysis with arbitrary events (paths, agents,
// statuses, times, tags, accounts): no panic, and what it publishes is in
// range.
func FuzzOffer(f *testing.F) {
	f.Add("/product/1001?id=7", "POST", "curl/8", "s1", []byte{192, 0, 2, 1}, 401, int64(0), "managed_challenge", "a@b")
	f.Add("/static/x.css", "GET", "", "", []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 200, int64(-1<<40), "", "")
	f.Fuzz(func(t *testing.T, path, method, ua, session string, ip []byte, status int, offsetMs int64, action, account string) {
		cfg := DefaultConfig()
		cfg.Paths.AccountHeader, cfg.Paths.AccountParam = "x-account", "user"
		cfg.Paths.RobotsDisallow = []string{"/private/"}
		cfg.Anomaly.Enabled, cfg.Anomaly.Warmup = true, 10
		cfg.Keys.JA4 = true
		cfg.MaxTracked = 1024 // small tables: the fuzzer builds an engine per input
		e, rec := syncEngine(t, cfg)
		addr, _ := netip.AddrFromSlice(ip)
		for i := range 30 {
			ev := &detect.Event{Time: t0.Add(time.Duration(offsetMs+int64(i)*37) * time.Millisecond), ClientIP: addr, Method: method,
				Path: path, Status: status, UserAgent: ua, SessionID: session, JA4: ua, Action: action,
				BotTags: []string{action}, Headers: detect.Headers{"x-account": account}}
			e.Offer(ev)
		}
		for _, v := range rec.all {
			if v.Score < 1 || v.Score > 99 || v.Key == "" || len(v.Tags) == 0 || !v.Expiry.After(t0.Add(-time.Hour)) {
				t.Fatalf("verdict out of range: %+v", v)
			}
		}
	})
}
