package ml

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/network"
	"github.com/botwarden/botwarden/detect/session"
)

const (
	testChromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/155.0.0.0 Safari/537.36"
	testFirefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:150.0) Gecko/20100101 Firefox/150.0"
)

func page(ua, path string, extra detect.Headers) *detect.Request {
	h := detect.Headers{"user-agent": ua, "accept": "text/html,application/xhtml+xml,*/*;q=0.8", "accept-language": "en-US,en;q=0.9", "sec-fetch-dest": "document"}
	for k, v := range extra {
		h[k] = v
	}
	return &detect.Request{Method: "GET", Scheme: "https", Protocol: "HTTP/2", Path: path, Headers: h, ClientIP: netip.MustParseAddr("203.0.113.7")}
}

func onFeatures(t *testing.T, r *detect.Request, v *detect.Verdict, c Context) map[string]bool {
	t.Helper()
	ex, err := newExtractor()
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, NumFeatures)
	if n := ex.features(r, v, c, x); n != NumFeatures {
		t.Fatalf("features wrote %d of %d", n, NumFeatures)
	}
	on := map[string]bool{}
	for i, val := range x {
		if val != 0 {
			on[featureNames[i]] = true
		}
	}
	return on
}

func TestContextFeatures(t *testing.T) {
	dc := &detect.Verdict{IP: detect.IPInfo{Datacenter: true}, Tags: []string{network.TagDatacenter, network.TagCloudPrefix + "amazon"}}
	for _, tc := range []struct {
		name    string
		r       *detect.Request
		v       *detect.Verdict
		c       Context
		on, off []string
	}{
		{"chrome from a cloud address with a cookie", page(testChromeUA, "/products/1", detect.Headers{"cookie": "a=b"}), dc, Context{Burst: 1, Minute: 1},
			[]string{"ip_datacenter", "ip_cloud", "dc_browser", "dc_x_cookie", "dc_x_accept_language", "dc_x_al_qvalues"},
			[]string{"sess_none_deep", "pace_burst_5", "dc_x_referer", "ip_vpn"}},
		{"the same from home", page(testChromeUA, "/products/1", detect.Headers{"cookie": "a=b"}), &detect.Verdict{}, Context{Burst: 1, Minute: 1},
			nil, []string{"ip_datacenter", "dc_browser", "dc_x_cookie", "dc_x_accept_language"}},
		{"deep link without cookie or referer", page(testChromeUA, "/products/1", nil), nil, Context{},
			[]string{"sess_none_deep"}, []string{"sess_foreign"}},
		{"home page without cookie is an ordinary first visit", page(testChromeUA, "/", nil), nil, Context{},
			nil, []string{"sess_none_deep"}},
		{"fast pace, foreign session, VPN", page(testChromeUA, "/p/2", detect.Headers{"referer": "https://shop.example/"}),
			&detect.Verdict{Tags: []string{session.TagForeignSession, network.TagVPN}}, Context{Burst: 5, Minute: 30, PrefixMinute: 60},
			[]string{"sess_foreign", "ip_vpn", "pace_burst_5", "pace_minute_12", "pace_minute_30", "prefix_minute_60"}, []string{"dc_browser"}},
		{"person's pace", page(testChromeUA, "/p/2", nil), nil, Context{Burst: 4, Minute: 11, PrefixMinute: 59},
			nil, []string{"pace_burst_5", "pace_minute_12", "prefix_minute_60"}},
		{"Chromium TLS under a Firefox UA", page(testFirefoxUA, "/", detect.Headers{detect.HeaderJA4: "t13d1517h2_8daaf6152771_cb7bf5808d99"}), nil, Context{},
			[]string{"ja4_family_mismatch", "tls_browser"}, nil},
		{"Chromium TLS under a Chrome UA", page(testChromeUA, "/", detect.Headers{detect.HeaderJA4: "t13d1517h2_8daaf6152771_cb7bf5808d99"}), nil, Context{},
			[]string{"tls_browser"}, []string{"ja4_family_mismatch"}},
		{"a library's TLS under a Chrome UA", page(testChromeUA, "/", detect.Headers{detect.HeaderJA4: "t13d1812h1_85036bcba153_b26ce05bbdd6"}), nil, Context{},
			[]string{"ja4_family_mismatch", "tls_library"}, nil},
		{"Chrome 150 lags, 155 does not", page("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36", "/", nil), nil, Context{},
			[]string{"ver_lagging", "ver_recent"}, []string{"ver_old"}},
		{"Chrome 96 is old, not lagging", page("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.110 Safari/537.36", "/", nil), nil, Context{},
			[]string{"ver_ancient"}, []string{"ver_lagging"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on := onFeatures(t, tc.r, tc.v, tc.c)
			for _, f := range tc.on {
				if !on[f] {
					t.Errorf("%s is off", f)
				}
			}
			for _, f := range tc.off {
				if on[f] {
					t.Errorf("%s is on", f)
				}
			}
		})
	}
	on := onFeatures(t, page(testChromeUA, "/", nil), nil, Context{})
	if !on["fam_chrome"] || on["ver_lagging"] {
		t.Errorf("Chrome 155: %v", on)
	}
}

func TestIsPage(t *testing.T) {
	for _, tc := range []struct {
		r    *detect.Request
		want bool
	}{
		{page(testChromeUA, "/products/1", nil), true},
		{page(testChromeUA, "/static/app.js", nil), false},
		{&detect.Request{Method: "GET", Path: "/x", Headers: detect.Headers{"accept": "text/html"}}, true},
		{&detect.Request{Method: "GET", Path: "/x", Headers: detect.Headers{"accept": "text/html", "sec-fetch-dest": "image"}}, false},
		{&detect.Request{Method: "POST", Path: "/x", Headers: detect.Headers{"accept": "text/html"}}, false},
		{&detect.Request{Method: "GET", Path: "/api/v1/x", Headers: detect.Headers{"accept": "text/html"}}, false},
		{&detect.Request{Method: "GET", Path: "/x", Headers: detect.Headers{"accept": "*/*"}}, false},
	} {
		if got := isPage(tc.r, classifyPath(tc.r.PathOnly())); got != tc.want {
			t.Errorf("isPage(%s %s %v) = %v", tc.r.Method, tc.r.Path, tc.r.Headers, got)
		}
	}
}

func TestPageWindow(t *testing.T) {
	w := newPageWindow()
	t0 := time.Unix(1_800_000_000, 0) // slot-aligned
	a, b := uint64(0x1234_5678_9abc_def0), uint64(0x0fed_cba9_8765_4321)
	for i := 0; i < 4; i++ {
		w.add(a, t0.Add(time.Duration(i)*time.Second))
	}
	if burst, minute := w.counts(a, t0.Add(4*time.Second)); burst != 4 || minute != 4 {
		t.Errorf("after 4 pages in 4 s: burst %d minute %d", burst, minute)
	}
	if burst, minute := w.counts(b, t0.Add(4*time.Second)); burst != 0 || minute != 0 {
		t.Errorf("another key: burst %d minute %d", burst, minute)
	}
	// 25 s later the burst has moved on, the minute still counts them.
	w.add(a, t0.Add(25*time.Second))
	if burst, minute := w.counts(a, t0.Add(25*time.Second)); burst != 1 || minute != 5 {
		t.Errorf("after 25 s: burst %d minute %d", burst, minute)
	}
	// At 61 s the first four have left the window (their slot is reused
	// and was cleared before counting again); the one of 25 s stays.
	w.add(a, t0.Add(61*time.Second))
	if burst, minute := w.counts(a, t0.Add(61*time.Second)); burst != 1 || minute != 2 {
		t.Errorf("after 61 s: burst %d minute %d", burst, minute)
	}
	if _, minute := w.counts(a, t0.Add(85*time.Second)); minute != 1 {
		t.Errorf("after 85 s: minute %d", minute)
	}
	if _, minute := w.counts(a, t0.Add(10*time.Minute)); minute != 0 {
		t.Errorf("after 10 min: minute %d", minute)
	}
}

// TestEnginePace: the engine counts page views per session (assets do not
// count) and the score falls as a client fetches page after page.
func TestEnginePace(t *testing.T) {
	m, err := EmbeddedModel()
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewWithModel(m, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	sess := &detect.Session{ID: "s1"}
	var scores []int
	for i := 0; i < 8; i++ {
		asset := page(testChromeUA, "/static/app.js", detect.Headers{"cookie": "a=b", "sec-fetch-dest": "script", "accept": "*/*"})
		asset.Time = t0.Add(time.Duration(i) * 500 * time.Millisecond)
		e.Score(asset, &detect.Verdict{Session: sess})
		r := page(testChromeUA, "/products/"+string(rune('a'+i)), detect.Headers{"cookie": "a=b", "referer": "https://shop.example/"})
		r.Time = t0.Add(time.Duration(i) * 500 * time.Millisecond)
		scores = append(scores, e.Score(r, &detect.Verdict{Session: sess}))
	}
	c := e.observe(&detect.Request{Time: t0.Add(4 * time.Second)}, &detect.Verdict{Session: sess})
	if c.Burst != 8 || c.Minute != 8 {
		t.Errorf("pace after 8 pages and 8 assets: %+v", c)
	}
	if scores[0] < 30 || scores[7] >= scores[0] {
		t.Errorf("scores over 8 pages in 4 s: %v", scores)
	}
	// Another session on the same address is its own client.
	if c := e.observe(&detect.Request{Time: t0.Add(4 * time.Second)}, &detect.Verdict{Session: &detect.Session{ID: "s2"}}); c.Burst != 0 {
		t.Errorf("another session's pace: %+v", c)
	}
	t.Logf("scores over 8 pages at 2 pages/s: %v", scores)
}

// TestBaseModel: a model trained on the 2026.08 feature list still loads
// and scores (without the context features).
func TestBaseModel(t *testing.T) {
	m := &Model{Version: "base", Features: featureNames[:baseFeatures], Weights: make([]float64, baseFeatures)}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	e, err := NewWithModel(m, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := e.Score(page(testChromeUA, "/", nil), nil); s != Score(0.5) {
		t.Errorf("all-zero base model scored %d", s)
	}
	bad := &Model{Version: "bad", Features: featureNames[:baseFeatures-1], Weights: make([]float64, baseFeatures-1)}
	if bad.Validate() == nil {
		t.Error("a truncated feature list validated")
	}
}

func TestCalibration(t *testing.T) {
	// Raw values whose true bot share rises in steps; PAV recovers a
	// non-decreasing map through them.
	var p, y, w []float64
	for i := 0; i < 1000; i++ {
		raw := float64(i) / 1000
		truth := 0.1
		if raw > 0.5 {
			truth = 0.9
		}
		p = append(p, raw)
		y = append(y, map[bool]float64{true: 1, false: 0}[float64(i%10)/10 < truth])
		w = append(w, 1)
	}
	c := fitIsotonic(p, y, w)
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(c.Raw) || !slices.IsSorted(c.Bot) {
		t.Fatalf("not monotone: %+v", c)
	}
	// Between the two blocks' mean raw values (0.25, 0.75) the map is a
	// straight line.
	for _, tc := range []struct{ raw, want float64 }{{0.1, 0.1}, {0.25, 0.1}, {0.5, 0.5}, {0.75, 0.9}, {0.99, 0.9}, {0, 0.1}, {1, 0.9}} {
		if got := c.apply(tc.raw); math.Abs(got-tc.want) > 0.02 {
			t.Errorf("apply(%v) = %v, want %v", tc.raw, got, tc.want)
		}
	}
	if (Calibration{}).apply(0.3) != 0.3 {
		t.Error("empty calibration is not the identity")
	}
	for _, bad := range []Calibration{
		{Raw: []float64{0.1}, Bot: nil},
		{Raw: []float64{0.5, 0.4}, Bot: []float64{0.1, 0.2}},
		{Raw: []float64{0.1, 0.2}, Bot: []float64{0.3, 0.2}},
		{Raw: []float64{math.NaN()}, Bot: []float64{0.1}},
		{Raw: []float64{0.1}, Bot: []float64{1.5}},
	} {
		if bad.validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

// TestJSDetectionMissing: where the invisible detection is expected (by
// configuration, or per request by the Wasm filter's marker), a session
// that fetched its third page without a result is likely automated; one
// with a result is not touched, nor is one whose pages are not expected to
// run it.
func TestJSDetectionMissing(t *testing.T) {
	m, err := EmbeddedModel()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name     string
		expected bool // js_detection.expected
		marker   bool // the filter's x-botwarden-js-expected: 1
		forged   string
		withJS   bool
		fires    bool
	}{
		{name: "expected, no result", expected: true, fires: true},
		{name: "expected, result", expected: true, withJS: true},
		{name: "marker, no result", marker: true, fires: true},
		{name: "marker, result", marker: true, withJS: true},
		{name: "neither", fires: false},
		{name: "marker of another value", forged: "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.JSDetection.Expected = tc.expected
			e, err := newEngine(cfg, m, zerolog.Nop(), nil)
			if err != nil {
				t.Fatal(err)
			}
			sess := &detect.Session{ID: "js-" + tc.name}
			for i := 1; i <= 4; i++ {
				h := detect.Headers{"cookie": "a=b", "referer": "https://shop.example/"}
				if tc.marker {
					h[detect.HeaderJSExpected] = "1"
				} else if tc.forged != "" {
					h[detect.HeaderJSExpected] = tc.forged
				}
				r := page(testChromeUA, fmt.Sprintf("/p/%d", i), h)
				r.Time = t0.Add(time.Duration(i) * 8 * time.Second) // a reader's pace
				v := &detect.Verdict{Session: sess, JSDetectionChecked: tc.withJS, JSDetectionPassed: tc.withJS}
				if err := e.Evaluate(t.Context(), r, v); err != nil {
					t.Fatal(err)
				}
				flagged := v.HasTag(TagJSDetectionMissing)
				if want := tc.fires && i >= cfg.JSDetection.Pages; flagged != want || want && v.Score > cfg.JSDetection.Score || !want && v.Score < 30 {
					t.Errorf("page %d: score %d tags %v, want flagged %v", i, v.Score, v.Tags, want)
				}
			}
		})
	}
	if err := (Config{JSDetection: JSDetectionRule{Pages: 3, Score: 40}}).Validate(); err == nil {
		t.Error("a score outside 2–29 validated")
	}
}
