package behavior

import (
	"hash/maphash"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect"
)

// Key kinds: which client identity a tracked state belongs to.
const (
	kindSession uint8 = iota
	kindIP
	kindNet
	kindJA4
	numKinds
)

var kindNames = [numKinds]string{"session", "ip", "net", "ja4"}

// obs is what the detectors need from one event, derived once before the
// event is fanned out to the workers owning its keys.
type obs struct {
	ev   *detect.Event
	recv time.Time // when Offer took it (for the analysis-lag metric)
	ms   int64     // event time, unix milliseconds

	static, page, denied bool
	loginPost, loginFail bool
	challengeFail        bool
	robots, robotsTxt    bool
	pathHash, uaHash     uint64
	ipHash, acctHash     uint64 // 0: none
	seqTmpl              uint32 // path template with its numeric id replaced
	seqID                uint32
	hasSeq               bool
	status               int
	primary              uint8 // the kind that runs the per-event extras (anomaly)
	keys                 [numKinds]uint64
	hasKey               [numKinds]bool
	features             [numFeatures]uint64 // anomaly features, hashed
	host                 uint64
}

type classifier struct {
	cfg    *Config
	seed   maphash.Seed
	ipInfo IPInfoFunc
}

func (c *classifier) hash(s string) uint64 { return maphash.String(c.seed, s) }

// hashKind hashes a key of a kind (the kind is mixed in so that the same
// string under two kinds are two keys).
func (c *classifier) hashKind(kind uint8, s string) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteByte(kind)
	h.WriteString(s)
	return h.Sum64() | 1 // never 0
}

func (c *classifier) hashAddr(kind uint8, a netip.Addr) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteByte(kind)
	b := a.As16()
	h.Write(b[:])
	return h.Sum64() | 1
}

// observe derives the features of ev at receive time recv.
func (c *classifier) observe(ev *detect.Event, recv time.Time) *obs {
	cfg := c.cfg
	o := &obs{ev: ev, recv: recv, ms: ev.Time.UnixMilli(), status: ev.Status}
	path, query, _ := strings.Cut(ev.Path, "?")
	if i := strings.IndexByte(path, '#'); i >= 0 {
		path = path[:i]
	}
	o.static = c.isStatic(path, ev.ContentType)
	o.denied = slices.Contains(ev.ResponseFlags, "UAEX") ||
		detect.Action(ev.Action).Denies() && (ev.Status == 403 || ev.Status == 429 || ev.Status == 503)
	api := hasAnyPrefix(path, cfg.Paths.APIPrefixes)
	okStatus := ev.Status >= 200 && ev.Status < 300 || ev.Status == 304
	isHTML := strings.HasPrefix(ev.ContentType, "text/html")
	o.page = !o.static && !api && ev.Method == "GET" && okStatus && !o.denied &&
		(isHTML || ev.ContentType == "")
	o.pathHash = c.hash(ev.Path)
	if ev.UserAgent != "" {
		o.uaHash = c.hash(ev.UserAgent)
	}
	if ip := ev.ClientIP.Unmap(); ip.IsValid() {
		if ip.Is6() {
			ip = netip.PrefixFrom(ip, 64).Masked().Addr() // privacy addresses rotate within a /64
		}
		o.ipHash = c.hashAddr(0xff, ip)
	}
	if isLogin(path, cfg.Paths.LoginPaths) && ev.Method == "POST" {
		o.loginPost = true
		o.loginFail = !o.denied && slices.Contains(cfg.Paths.LoginFailureStatuses, ev.Status)
		if acct := c.account(ev, query); acct != "" {
			o.acctHash = c.hash(strings.ToLower(acct))
		}
	}
	challenged := ev.Action == string(detect.ActionManagedChallenge) || ev.Action == string(detect.ActionJSChallenge)
	o.challengeFail = challenged && ev.Status >= 400 ||
		slices.ContainsFunc(ev.BotTags, func(t string) bool { return t == "challenge-failed" || t == "pow-failed" })
	o.robotsTxt = path == "/robots.txt"
	o.robots = !o.robotsTxt && hasAnyPrefix(path, cfg.Paths.RobotsDisallow)
	if !o.static {
		o.seqTmpl, o.seqID, o.hasSeq = c.sequence(path, query)
	}

	// Keys: the first one present is the primary.
	o.primary = numKinds
	set := func(kind uint8, h uint64) {
		o.keys[kind], o.hasKey[kind] = h, true
		if o.primary == numKinds {
			o.primary = kind
		}
	}
	if cfg.Keys.Session && ev.SessionID != "" {
		set(kindSession, c.hashKind(kindSession, ev.SessionID))
	}
	if ip := ev.ClientIP.Unmap(); ip.IsValid() {
		if cfg.Keys.IP {
			set(kindIP, c.hashAddr(kindIP, ip))
		}
		if p, ok := netPrefix(ip, cfg.Keys); cfg.Keys.Net && ok {
			set(kindNet, c.hashAddr(kindNet, p.Addr())^uint64(p.Bits())<<56|1)
		}
	}
	if cfg.Keys.JA4 && ev.JA4 != "" && ev.JA4 != "-" {
		set(kindJA4, c.hashKind(kindJA4, ev.JA4))
	}
	if cfg.Anomaly.Enabled {
		c.anomalyFeatures(o, api)
	}
	return o
}

func netPrefix(ip netip.Addr, k KeysConfig) (netip.Prefix, bool) {
	bits := k.V6PrefixBits
	if ip.Is4() {
		bits = k.V4PrefixBits
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

func (c *classifier) isStatic(path, contentType string) bool {
	switch {
	case strings.HasPrefix(contentType, "text/css"), strings.HasPrefix(contentType, "image/"),
		strings.HasPrefix(contentType, "font/"), strings.Contains(contentType, "javascript"):
		return true
	}
	dot := strings.LastIndexByte(path, '.')
	if dot < 0 || strings.IndexByte(path[dot:], '/') >= 0 {
		return false
	}
	ext := path[dot:]
	for _, e := range c.cfg.Paths.StaticExtensions {
		if strings.EqualFold(ext, e) {
			return true
		}
	}
	return false
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// isLogin matches a login path exactly, with a trailing slash, or below a
// configured prefix that ends in "/".
func isLogin(path string, logins []string) bool {
	for _, l := range logins {
		if path == l || strings.TrimSuffix(path, "/") == l || strings.HasSuffix(l, "/") && strings.HasPrefix(path, l) {
			return true
		}
	}
	return false
}

func (c *classifier) account(ev *detect.Event, query string) string {
	if h := c.cfg.Paths.AccountHeader; h != "" {
		if v := ev.Headers.Get(h); v != "" {
			return v
		}
	}
	if p := c.cfg.Paths.AccountParam; p != "" && query != "" {
		if q, err := url.ParseQuery(query); err == nil {
			return q.Get(p)
		}
	}
	return ""
}

// sequence finds the last run of digits in the path (or else the query)
// and returns the hash of the path with that run replaced, and its value:
// /product/1001 and /product/1002 share a template and differ by one.
func (c *classifier) sequence(path, query string) (tmpl, id uint32, ok bool) {
	s, isQuery := path, false
	end := lastDigitRun(s)
	if end < 0 && query != "" {
		s, isQuery = query, true
		end = lastDigitRun(s)
	}
	if end < 0 {
		return 0, 0, false
	}
	start := end
	for start > 0 && s[start-1] >= '0' && s[start-1] <= '9' {
		start--
	}
	if end-start > 9 { // longer than uint32: a hash or timestamp, not a counter
		return 0, 0, false
	}
	var n uint32
	for _, ch := range []byte(s[start:end]) {
		n = n*10 + uint32(ch-'0')
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	if isQuery {
		h.WriteString(path)
		h.WriteByte('?')
	}
	h.WriteString(s[:start])
	h.WriteByte('#')
	h.WriteString(s[end:])
	return uint32(h.Sum64()), n, true
}

// lastDigitRun returns the index just past the last digit in s, or -1.
func lastDigitRun(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] >= '0' && s[i] <= '9' {
			return i + 1
		}
	}
	return -1
}
