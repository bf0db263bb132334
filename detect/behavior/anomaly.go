package behavior

import (
	"hash/maphash"
	"net/netip"
	"strconv"
	"strings"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics/useragent"
)

// Anomaly features, learned per host.
const (
	featUAFamily = iota
	featJA4
	featCountry
	featASN
	featPathClass
	numFeatures
)

// Count-min sketch size: 4 rows × 2048 counters (32 KiB per host). Its
// estimates only overcount, so a value it calls rare is rare.
const (
	cmsDepth = 4
	cmsWidth = 2048
)

// baseline is one host's online model of its traffic: how often each
// feature value occurs, forgetting old traffic by halving.
type baseline struct {
	rows  [cmsDepth][cmsWidth]uint32
	total uint32
}

func (b *baseline) index(h uint64, row int) int {
	return int((uint32(h) + uint32(row)*uint32(h>>32)) % cmsWidth)
}

func (b *baseline) freq(h uint64) uint32 {
	m := ^uint32(0)
	for r := range cmsDepth {
		m = min(m, b.rows[r][b.index(h, r)])
	}
	return m
}

func (b *baseline) add(h uint64) {
	for r := range cmsDepth {
		b.rows[r][b.index(h, r)]++
	}
}

func (b *baseline) halve() {
	for r := range cmsDepth {
		for i := range b.rows[r] {
			b.rows[r][i] >>= 1
		}
	}
	b.total >>= 1
}

// judge reports whether the event with features f is an outlier for this
// baseline, then learns it.
func (b *baseline) judge(f *[numFeatures]uint64, a *AnomalyConfig) bool {
	outlier := false
	if int(b.total) >= a.Warmup {
		rare := 0
		for _, h := range f {
			if h != 0 && float64(b.freq(h)) < a.RareBelow*float64(b.total) {
				rare++
			}
		}
		outlier = rare >= a.MinRareFeatures
	}
	for _, h := range f {
		if h != 0 {
			b.add(h)
		}
	}
	b.total++
	if int(b.total) >= a.Memory {
		b.halve()
	}
	return outlier
}

// baselines holds a worker's baselines, one per host up to max; further
// hosts share one.
type baselines struct {
	byHost map[uint64]*baseline
	max    int
}

func (bs *baselines) get(host uint64) *baseline {
	if b, ok := bs.byHost[host]; ok {
		return b
	}
	if len(bs.byHost) >= bs.max {
		host = 0
		if b, ok := bs.byHost[0]; ok {
			return b
		}
	}
	b := &baseline{}
	bs.byHost[host] = b
	return b
}

// anomalyFeatures hashes the event's features. The user agent is reduced
// to its family so that version churn is not novelty; country and ASN come
// from the IPInfo hook when one is configured.
func (c *classifier) anomalyFeatures(o *obs, api bool) {
	ev := o.ev
	feat := func(i int, v string) uint64 {
		var h maphash.Hash
		h.SetSeed(c.seed)
		h.WriteByte(byte(i))
		h.WriteString(v)
		return h.Sum64() | 1
	}
	o.host = c.hash(strings.ToLower(ev.Host))
	o.features[featUAFamily] = feat(featUAFamily, UAFamily(ev.UserAgent))
	ja4 := ev.JA4
	if ja4 == "" || ja4 == "-" {
		ja4 = "none"
	}
	o.features[featJA4] = feat(featJA4, ja4)
	if c.ipInfo != nil && ev.ClientIP.IsValid() {
		info := c.ipInfo(ev.ClientIP)
		if info.Country != "" {
			o.features[featCountry] = feat(featCountry, info.Country)
		}
		if info.ASN != 0 {
			o.features[featASN] = feat(featASN, strconv.FormatUint(uint64(info.ASN), 10))
		}
	}
	class := "page"
	switch {
	case o.static:
		class = "static"
	case o.loginPost:
		class = "login"
	case api:
		class = "api"
	case ev.Method != "GET" && ev.Method != "HEAD":
		class = "write"
	}
	o.features[featPathClass] = feat(featPathClass, class)
}

// IPInfoFunc looks up what is known about an address (ASN, country); it
// must be fast and never block (an in-memory database).
type IPInfoFunc func(netip.Addr) detect.IPInfo

// UAFamily reduces a user agent to its family: the browser it claims (as
// useragent.Parse names it, "mozilla-other" for an unlisted Mozilla/
// browser), or the client library, "crawler", "empty" or "other". The
// library and crawler buckets are this package's own: useragent only knows
// browsers.
func UAFamily(ua string) string {
	if ua == "" {
		return "empty"
	}
	a := useragent.Parse(ua)
	if a.Family == useragent.FamilyHeadless {
		return a.Family.String()
	}
	l := strings.ToLower(ua)
	if strings.Contains(l, "bot") || strings.Contains(l, "crawler") || strings.Contains(l, "spider") {
		return "crawler"
	}
	for _, lib := range []string{"curl/", "wget/", "python-requests", "python-urllib", "aiohttp", "scrapy", "go-http-client", "java/", "okhttp", "node-fetch", "axios", "libwww-perl", "httrack"} {
		if strings.Contains(l, lib) {
			return strings.TrimSuffix(lib, "/")
		}
	}
	switch a.Family {
	case useragent.FamilyUnknown:
		return "other"
	case useragent.FamilyOther:
		return "mozilla-other"
	}
	return a.Family.String()
}
