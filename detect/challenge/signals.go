package challenge

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Submission is what the challenge page posts (application/x-www-form-
// urlencoded): the ticket (n), the proof-of-work counter (c) and the
// JavaScript detection signals (s_*). Nothing in it is trusted: the ticket
// is verified, the work recomputed, and the signals only ever count
// against the client (a bot can send perfect ones, which is why passing
// also needs the work, the binding and a clean record elsewhere).
type Submission struct {
	Ticket  string
	Counter uint64
	Signals Signals
}

// Signals are the JavaScript detection readings (see assets/challenge.js
// for how each is taken).
type Signals struct {
	Present bool // any s_* field was sent

	Webdriver  string // "1", "0" or "u" (undefined)
	UserAgent  string // navigator.userAgent
	AppVersion string
	Brands     string // UA-CH brands "name/version,…", "n/a" without UA-CH
	Platform   string // UA-CH platform
	Mobile     string
	Chrome     string // typeof window.chrome
	Plugins    int
	MimeTypes  int
	Languages  string
	NotifPerm  string // Notification.permission
	PermQuery  string // permissions.query({name:"notifications"}).state
	ProductSub string
	Cores      int
	TimeZone   string
	ScreenW    int
	ScreenH    int
	AvailW     int
	AvailH     int
	OuterW     int
	OuterH     int
	InnerW     int
	InnerH     int
	GLVendor   string
	GLRenderer string
	Automation string // automation globals/attributes found, comma-separated
	DevTools   string // "1" when the console serialised an Error (CDP attached)
	ElapsedMS  int    // client-side time from page start to submit

	NavPlatform string // navigator.platform
	PixelRatio  string // devicePixelRatio
	MediaWidth  string // "1" when (device-width: screen.width px) matches
	Tampering   string // getters/functions whose shape betrays a JS replacement, comma-separated
	// The same readings taken in a dedicated worker.
	WorkerState     string // ok, timeout, error, unsupported
	WorkerUA        string
	WorkerLanguages string
	WorkerCores     string
	WorkerPlatform  string
	WorkerBrands    string
	WorkerRenderer  string
	EventsTrusted   int // input events from the window system while the page ran
	EventsUntrusted int // events a script dispatched

	// Binding is the page's digest over the ticket and every s_ field;
	// want is that digest computed here (Bound compares the two).
	Binding string
	want    string
	// oversized: an s_ value was longer than the page ever sends (it cuts
	// them at 500 bytes).
	oversized bool
}

// Bound reports whether the signals carry the digest the page computes
// over ticket and the s_ fields: readings moved to another ticket, or
// edited, do not.
func (s *Signals) Bound() bool {
	return len(s.Binding) == 64 && subtle.ConstantTimeCompare([]byte(s.want), []byte(s.Binding)) == 1
}

// BindSignals returns the digest the challenge page posts as s_bd: SHA-256
// in hex over the ticket followed by "\n" + name + "=" + value for every
// s_ field but s_bd, by name. Exported for clients written in Go that
// answer as the page does (tests, tools).
func BindSignals(ticket string, form url.Values) string {
	var keys []string
	for k := range form {
		if strings.HasPrefix(k, "s_") && k != "s_bd" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	h.Write([]byte(ticket))
	for _, k := range keys {
		v := ""
		if len(form[k]) > 0 {
			v = form[k][0]
		}
		h.Write([]byte("\n" + k + "=" + v))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Limits on a submission, beyond the body size.
const (
	maxFields   = 64
	maxValueLen = 512
)

var (
	errNoTicket  = errors.New("no ticket")
	errBadWork   = errors.New("bad counter")
	errTooMany   = errors.New("too many fields")
	errDuplicate = errors.New("repeated field")
)

// ParseSubmission parses a form-encoded submission body. Unknown fields are
// ignored, over-long values truncated; it fails only when the ticket or the
// counter is missing or unusable, or the form itself is abusive.
func ParseSubmission(body string) (Submission, error) {
	var s Submission
	form, err := url.ParseQuery(body)
	if err != nil {
		return s, fmt.Errorf("form: %w", err)
	}
	if len(form) > maxFields {
		return s, errTooMany
	}
	get := func(k string) (string, error) {
		v := form[k]
		switch len(v) {
		case 0:
			return "", nil
		case 1:
			if len(v[0]) > maxValueLen {
				s.Signals.oversized = s.Signals.oversized || strings.HasPrefix(k, "s_")
				return v[0][:maxValueLen], nil
			}
			return v[0], nil
		}
		return "", fmt.Errorf("%w: %s", errDuplicate, k)
	}
	// The ticket is never truncated: a cut ticket would only fail later.
	switch n := form["n"]; {
	case len(n) > 1:
		return s, fmt.Errorf("%w: n", errDuplicate)
	case len(n) == 0 || n[0] == "":
		return s, errNoTicket
	case len(n[0]) > maxTicketLen:
		return s, fmt.Errorf("%w: %d bytes", errTicketMalformed, len(n[0]))
	default:
		s.Ticket = n[0]
	}
	c, err := get("c")
	if err != nil {
		return s, err
	}
	if s.Counter, err = strconv.ParseUint(c, 10, 64); err != nil {
		return s, fmt.Errorf("%w: %q", errBadWork, c)
	}
	sig := &s.Signals
	strs := []struct {
		key string
		dst *string
	}{
		{"s_wd", &sig.Webdriver}, {"s_ua", &sig.UserAgent}, {"s_av", &sig.AppVersion}, {"s_br", &sig.Brands},
		{"s_pf", &sig.Platform}, {"s_mob", &sig.Mobile}, {"s_ch", &sig.Chrome}, {"s_lg", &sig.Languages},
		{"s_np", &sig.NotifPerm}, {"s_pq", &sig.PermQuery}, {"s_ps", &sig.ProductSub}, {"s_tz", &sig.TimeZone},
		{"s_gv", &sig.GLVendor}, {"s_gr", &sig.GLRenderer}, {"s_ag", &sig.Automation}, {"s_dt", &sig.DevTools},
		{"s_npf", &sig.NavPlatform}, {"s_dpr", &sig.PixelRatio}, {"s_mq", &sig.MediaWidth}, {"s_tp", &sig.Tampering},
		{"s_wst", &sig.WorkerState}, {"s_wua", &sig.WorkerUA}, {"s_wlg", &sig.WorkerLanguages}, {"s_whc", &sig.WorkerCores},
		{"s_wpf", &sig.WorkerPlatform}, {"s_wbr", &sig.WorkerBrands}, {"s_wgr", &sig.WorkerRenderer}, {"s_bd", &sig.Binding},
	}
	for _, f := range strs {
		if *f.dst, err = get(f.key); err != nil {
			return s, err
		}
	}
	ints := []struct {
		key string
		dst *int
	}{
		{"s_pl", &sig.Plugins}, {"s_mt", &sig.MimeTypes}, {"s_hc", &sig.Cores}, {"s_sw", &sig.ScreenW},
		{"s_sh", &sig.ScreenH}, {"s_aw", &sig.AvailW}, {"s_ah", &sig.AvailH}, {"s_ow", &sig.OuterW},
		{"s_oh", &sig.OuterH}, {"s_iw", &sig.InnerW}, {"s_ih", &sig.InnerH}, {"s_ms", &sig.ElapsedMS},
		{"s_evt", &sig.EventsTrusted}, {"s_evu", &sig.EventsUntrusted},
	}
	for _, f := range ints {
		v, err := get(f.key)
		if err != nil {
			return s, err
		}
		*f.dst = atoi(v)
	}
	for k := range form {
		if strings.HasPrefix(k, "s_") {
			sig.Present = true
			break
		}
	}
	// Over the values exactly as sent (ones the parser truncated whole).
	sig.want = BindSignals(s.Ticket, form)
	return s, nil
}

// atoi reads a browser-reported number: -1 when absent or garbled.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < -1 {
		return -1
	}
	return n
}

// Judgement is the server's reading of the signals.
type Judgement struct {
	Passed bool
	Weight int
	Tags   []string
	// Results says, per signal (Signals lists them), whether it passed,
	// failed or was missing from the answer.
	Results []SignalResult
}

// SignalResult is one signal's outcome.
type SignalResult struct {
	Signal string
	Result string // ResultPassed, ResultFailed, ResultMissing
}

// Per-signal outcomes (the JSDetectionPassed vocabulary).
const (
	ResultPassed  = "passed"
	ResultFailed  = "failed"
	ResultMissing = "missing"
)

// hardWeight fails a submission on its own at any sensible fail_weight.
const hardWeight = 10

// rule is one detection: a weight of hardWeight fails on its own.
type rule struct {
	signal string
	tag    string
	weight int
	match  func(s *Signals, headerUA string) bool
}

// check is one signal: the rules judging it, and when it counts as
// missing (the page could not take the reading, or the answer lacks it).
type check struct {
	name    string
	missing func(s *Signals) bool
}

// unread: a string reading the page could not take.
func unread(v string) bool { return v == "" || v == "err" }

// checks lists the signals in the order they are reported.
var checks = []check{
	{"webdriver", func(s *Signals) bool { return s.Webdriver == "" }},
	{"headless", func(s *Signals) bool { return s.UserAgent == "" }},
	{"automation", func(s *Signals) bool { return s.Automation == "err" }},
	{"devtools", func(s *Signals) bool { return unread(s.DevTools) }},
	{"user-agent", func(s *Signals) bool { return s.UserAgent == "" }},
	{"worker", func(s *Signals) bool { return s.WorkerState != "ok" }},
	{"tampering", func(s *Signals) bool { return s.Tampering == "err" }},
	{"webgl", func(s *Signals) bool { return unread(s.GLRenderer) }},
	{"permissions", func(s *Signals) bool { return unread(s.NotifPerm) || unread(s.PermQuery) }},
	{"plugins", func(s *Signals) bool { return s.Plugins < 0 }},
	{"languages", func(s *Signals) bool { return s.Languages == "err" }},
	{"window", func(s *Signals) bool { return s.OuterW < 0 || s.InnerW < 0 }},
	{"screen", func(s *Signals) bool { return unread(s.MediaWidth) || s.ScreenW < 0 }},
	{"product-sub", func(s *Signals) bool { return s.ProductSub == "" }},
	{"events", func(s *Signals) bool { return s.EventsTrusted < 0 || s.EventsUntrusted < 0 }},
}

// SignalNames returns the names of the signals judged, in report order.
func SignalNames() []string {
	out := make([]string, len(checks))
	for i, c := range checks {
		out[i] = c.name
	}
	return out
}

// rules are evaluated in order; each tag is added once. Weights follow the
// false positives reported against BotD's detectors: signals that real
// browsers show (no PDF plugins, a software GPU in a VM, odd window sizes)
// are soft and fail only together. The hard ones are what a real browser
// never shows: a JavaScript-shaped navigator getter, a worker that sees
// another browser than the page, a page-dispatched input event.
var rules = []rule{
	{"webdriver", "webdriver", hardWeight, func(s *Signals, _ string) bool { return s.Webdriver == "1" }},
	{"headless", "headless", hardWeight, func(s *Signals, h string) bool {
		return containsAny(s.UserAgent, "HeadlessChrome", "Headless") || strings.Contains(s.AppVersion, "Headless") ||
			strings.Contains(s.Brands, "HeadlessChrome") || strings.Contains(h, "HeadlessChrome") ||
			strings.Contains(s.WorkerUA, "HeadlessChrome") || strings.Contains(s.WorkerBrands, "HeadlessChrome")
	}},
	{"automation", "automation", hardWeight, func(s *Signals, _ string) bool {
		return (s.Automation != "" && s.Automation != "err") ||
			containsAny(s.UserAgent, "PhantomJS", "SlimerJS", "Electron/")
	}},
	{"devtools", "devtools", hardWeight, func(s *Signals, _ string) bool { return s.DevTools == "1" }},
	// The page's navigator.userAgent differs from the header: the client
	// rewrites one of them.
	{"user-agent", "ua-mismatch", hardWeight, func(s *Signals, h string) bool { return s.UserAgent != "" && h != "" && s.UserAgent != h }},
	{"user-agent", "ua-mismatch", 3, func(s *Signals, _ string) bool { return uaChMismatch(s) }},
	// A worker is a realm page-level patches do not reach: its navigator
	// must read what the page's does.
	{"worker", "worker-mismatch", hardWeight, func(s *Signals, _ string) bool { return workerMismatch(s) }},
	{"tampering", "tampered", hardWeight, func(s *Signals, _ string) bool { return s.Tampering != "" && s.Tampering != "err" }},
	{"webgl", "swiftshader", 1, func(s *Signals, _ string) bool {
		return containsAny(s.GLRenderer, "SwiftShader", "llvmpipe", "Mesa OffScreen", "softpipe")
	}},
	{"plugins", "no-plugins", 2, func(s *Signals, _ string) bool { return desktopChrome(s.UserAgent) && s.Plugins == 0 }},
	{"languages", "no-languages", 2, func(s *Signals, _ string) bool { return s.Languages == "" }},
	// Headless Chrome answered "denied" to Notification.permission while
	// the permissions API said "prompt".
	{"permissions", "permissions-inconsistent", 2, func(s *Signals, _ string) bool { return s.NotifPerm == "denied" && s.PermQuery == "prompt" }},
	{"plugins", "no-window-chrome", 2, func(s *Signals, _ string) bool { return desktopChrome(s.UserAgent) && s.Chrome != "object" }},
	{"window", "window-size", 2, func(s *Signals, _ string) bool { return s.OuterW == 0 && s.OuterH == 0 }},
	{"window", "window-size", 1, func(s *Signals, _ string) bool {
		return s.ScreenW > 0 && s.ScreenH > 0 && (s.InnerW > s.ScreenW*2 || s.InnerH > s.ScreenH*2)
	}},
	// screen.width redefined by a script: the layout engine's own media
	// query disagrees.
	{"screen", "window-size", 3, func(s *Signals, _ string) bool { return s.MediaWidth == "0" }},
	{"product-sub", "product-sub", 2, func(s *Signals, _ string) bool {
		return s.ProductSub != "" && s.ProductSub != "20030107" && strings.Contains(s.UserAgent, "AppleWebKit")
	}},
	{"events", "synthetic-events", hardWeight, func(s *Signals, _ string) bool { return s.EventsUntrusted > 0 }},
}

// Evaluate judges the signals of a submission from a client whose request
// carried user-agent header headerUA. failWeight is the passing limit.
func Evaluate(s *Signals, headerUA string, failWeight int) Judgement {
	if !s.Present {
		// The page's script did not run (or the answer was crafted
		// without it): nothing else to judge.
		j := Judgement{Weight: hardWeight, Tags: []string{"js-signals-missing"}}
		for _, c := range checks {
			j.Results = append(j.Results, SignalResult{c.name, ResultMissing})
		}
		return j
	}
	var j Judgement
	failed := map[string]bool{}
	for i := range rules {
		r := &rules[i]
		if !r.match(s, headerUA) {
			continue
		}
		failed[r.signal] = true
		j.Weight += r.weight
		if !containsTag(j.Tags, r.tag) {
			j.Tags = append(j.Tags, r.tag)
		}
	}
	for _, c := range checks {
		res := ResultPassed
		switch {
		case failed[c.name]:
			res = ResultFailed
		case c.missing(s):
			res = ResultMissing
		}
		j.Results = append(j.Results, SignalResult{c.name, res})
	}
	j.Passed = j.Weight < failWeight
	return j
}

// workerMismatch: the worker ran and read another user agent, language
// list, core count, platform or UA-CH brand list than the page, or WebGL
// rendered by another GPU (readings it could not take are not compared).
func workerMismatch(s *Signals) bool {
	if s.WorkerState != "ok" {
		return false
	}
	differ := func(page, worker string) bool {
		return !unread(page) && !unread(worker) && page != "n/a" && worker != "n/a" && page != worker
	}
	glWorker := s.WorkerRenderer != "none" && s.GLRenderer != "none" // one side without WebGL: nothing to compare
	return differ(s.UserAgent, s.WorkerUA) || differ(s.Languages, s.WorkerLanguages) ||
		differ(strconv.Itoa(s.Cores), s.WorkerCores) || differ(s.NavPlatform, s.WorkerPlatform) ||
		differ(s.Brands, s.WorkerBrands) || glWorker && differ(s.GLRenderer, s.WorkerRenderer)
}

func containsTag(tags []string, t string) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// desktopChrome: a Chromium-family desktop UA, where plugins (the PDF
// viewer) and window.chrome are always present.
func desktopChrome(ua string) bool {
	return strings.Contains(ua, "Chrome/") && !containsAny(ua, "Mobile", "Android", "CriOS", "wv)")
}

// uaChMismatch: UA-CH (Chromium only) disagrees with the UA string: brands
// on a UA claiming another engine, or another platform.
func uaChMismatch(s *Signals) bool {
	if s.Brands == "" || s.Brands == "n/a" || s.Brands == "err" {
		return false
	}
	if !strings.Contains(s.UserAgent, "Chrome/") && !strings.Contains(s.UserAgent, "Chromium/") {
		return true // UA-CH exists only in Chromium browsers
	}
	want := map[string]string{"Windows": "Windows", "macOS": "Macintosh", "Linux": "Linux", "Android": "Android", "Chrome OS": "CrOS"}[s.Platform]
	return want != "" && !strings.Contains(s.UserAgent, want)
}
