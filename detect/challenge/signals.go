package challenge

import (
	"errors"
	"fmt"
	"net/url"
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
}

// hardWeight fails a submission on its own at any sensible fail_weight.
const hardWeight = 10

// rule is one detection: a weight of hardWeight fails on its own.
type rule struct {
	tag    string
	weight int
	match  func(s *Signals, headerUA string) bool
}

// rules are evaluated in order; each tag is added once. Weights follow the
// false-positive reports against BotD (peers.md §5): signals that real
// browsers show (no PDF plugins, a software GPU in a VM, odd window sizes)
// are soft and fail only together.
var rules = []rule{
	{"webdriver", hardWeight, func(s *Signals, _ string) bool { return s.Webdriver == "1" }},
	{"headless", hardWeight, func(s *Signals, h string) bool {
		return containsAny(s.UserAgent, "HeadlessChrome", "Headless") || strings.Contains(s.AppVersion, "Headless") ||
			strings.Contains(s.Brands, "HeadlessChrome") || strings.Contains(h, "HeadlessChrome")
	}},
	{"automation", hardWeight, func(s *Signals, _ string) bool {
		return (s.Automation != "" && s.Automation != "err") ||
			containsAny(s.UserAgent, "PhantomJS", "SlimerJS", "Electron/")
	}},
	{"devtools", hardWeight, func(s *Signals, _ string) bool { return s.DevTools == "1" }},
	// The page's navigator.userAgent differs from the header: the client
	// rewrites one of them.
	{"ua-mismatch", hardWeight, func(s *Signals, h string) bool { return s.UserAgent != "" && h != "" && s.UserAgent != h }},
	{"ua-mismatch", 3, func(s *Signals, _ string) bool { return uaChMismatch(s) }},
	{"swiftshader", 1, func(s *Signals, _ string) bool {
		return containsAny(s.GLRenderer, "SwiftShader", "llvmpipe", "Mesa OffScreen", "softpipe")
	}},
	{"no-plugins", 2, func(s *Signals, _ string) bool { return desktopChrome(s.UserAgent) && s.Plugins == 0 }},
	{"no-languages", 2, func(s *Signals, _ string) bool { return s.Languages == "" }},
	// Headless Chrome answered "denied" to Notification.permission while
	// the permissions API said "prompt".
	{"permissions-inconsistent", 2, func(s *Signals, _ string) bool { return s.NotifPerm == "denied" && s.PermQuery == "prompt" }},
	{"no-window-chrome", 2, func(s *Signals, _ string) bool { return desktopChrome(s.UserAgent) && s.Chrome != "object" }},
	{"window-size", 2, func(s *Signals, _ string) bool { return s.OuterW == 0 && s.OuterH == 0 }},
	{"window-size", 1, func(s *Signals, _ string) bool {
		return s.ScreenW > 0 && s.ScreenH > 0 && (s.InnerW > s.ScreenW*2 || s.InnerH > s.ScreenH*2)
	}},
	{"product-sub", 2, func(s *Signals, _ string) bool {
		return s.ProductSub != "" && s.ProductSub != "20030107" && strings.Contains(s.UserAgent, "AppleWebKit")
	}},
}

// Evaluate judges the signals of a submission from a client whose request
// carried user-agent header headerUA. failWeight is the passing limit.
func Evaluate(s *Signals, headerUA string, failWeight int) Judgement {
	if !s.Present {
		// The page's script did not run (or the answer was crafted
		// without it): nothing else to judge.
		return Judgement{Weight: hardWeight, Tags: []string{"js-signals-missing"}}
	}
	var j Judgement
	for i := range rules {
		r := &rules[i]
		if !r.match(s, headerUA) {
			continue
		}
		j.Weight += r.weight
		if !containsTag(j.Tags, r.tag) {
			j.Tags = append(j.Tags, r.tag)
		}
	}
	j.Passed = j.Weight < failWeight
	return j
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
