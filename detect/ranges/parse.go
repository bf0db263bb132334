package ranges

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
)

// Format names the shape a source publishes its ranges in.
type Format string

const (
	// FormatPrefixesJSON is Google's shape, also used by Bing, OpenAI,
	// Perplexity, DuckDuckGo, Apple (applebot.json), Common Crawl and
	// Google Cloud: {"prefixes": [{"ipv4Prefix": "…"} | {"ipv6Prefix": "…"}]}.
	FormatPrefixesJSON Format = "prefixes-json"
	// FormatAWSJSON is AWS ip-ranges.json: {"prefixes": [{"ip_prefix"}],
	// "ipv6_prefixes": [{"ipv6_prefix"}]}.
	FormatAWSJSON Format = "aws-json"
	// FormatRIPEstat is RIPEstat's announced-prefixes answer for an AS:
	// {"data": {"prefixes": [{"prefix": "…"}]}}. Used for operators that
	// document their crawlers by AS number (Meta, X/Twitter).
	FormatRIPEstat Format = "ripestat-json"
	// FormatText is one CIDR or address per line; blank lines and '#'
	// comments are skipped; only the first comma- or blank-separated field
	// is read, so RFC 8805 geofeed CSVs (Apple's Private Relay egress list,
	// DigitalOcean) parse too.
	FormatText Format = "text"
)

// Formats lists the supported formats.
var Formats = []Format{FormatPrefixesJSON, FormatAWSJSON, FormatRIPEstat, FormatText}

// ParseFormat parses data in format f. It fails on anything it does not
// understand — an HTML error page served with status 200 must not become an
// empty or garbage range set.
func ParseFormat(f Format, data []byte) ([]netip.Prefix, error) {
	switch f {
	case FormatPrefixesJSON:
		return parsePrefixesJSON(data)
	case FormatAWSJSON:
		return parseAWSJSON(data)
	case FormatRIPEstat:
		return parseRIPEstat(data)
	case FormatText:
		return parseText(data)
	default:
		return nil, fmt.Errorf("unknown range format %q", f)
	}
}

func parsePrefixesJSON(data []byte) ([]netip.Prefix, error) {
	var doc struct {
		Prefixes *[]googlePrefix `json:"prefixes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("prefixes JSON: %w", err)
	}
	if doc.Prefixes == nil {
		return nil, errors.New(`prefixes JSON: no "prefixes" array`)
	}
	return collect(nil, *doc.Prefixes, "prefixes JSON: prefixes", func(p googlePrefix) string {
		if p.IPv4 != "" {
			return p.IPv4
		}
		return p.IPv6
	})
}

type googlePrefix struct {
	IPv4 string `json:"ipv4Prefix"`
	IPv6 string `json:"ipv6Prefix"`
}

// collect parses get(item) for every item, naming the failing one.
func collect[T any](out []netip.Prefix, items []T, where string, get func(T) string) ([]netip.Prefix, error) {
	for i, it := range items {
		pfx, err := parseOne(get(it))
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", where, i, err)
		}
		out = append(out, pfx)
	}
	return out, nil
}

func parseAWSJSON(data []byte) ([]netip.Prefix, error) {
	var doc struct {
		Prefixes *[]awsPrefix `json:"prefixes"`
		IPv6     []awsPrefix6 `json:"ipv6_prefixes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("AWS JSON: %w", err)
	}
	if doc.Prefixes == nil {
		return nil, errors.New(`AWS JSON: no "prefixes" array`)
	}
	out, err := collect(nil, *doc.Prefixes, "AWS JSON: prefixes", func(p awsPrefix) string { return p.IP })
	if err != nil {
		return nil, err
	}
	return collect(out, doc.IPv6, "AWS JSON: ipv6_prefixes", func(p awsPrefix6) string { return p.IP })
}

type (
	awsPrefix struct {
		IP string `json:"ip_prefix"`
	}
	awsPrefix6 struct {
		IP string `json:"ipv6_prefix"`
	}
)

func parseRIPEstat(data []byte) ([]netip.Prefix, error) {
	var doc struct {
		Status string `json:"status"`
		Data   struct {
			Prefixes *[]ripePrefix `json:"prefixes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("RIPEstat JSON: %w", err)
	}
	if doc.Status != "" && doc.Status != "ok" {
		return nil, fmt.Errorf("RIPEstat JSON: status %q", doc.Status)
	}
	if doc.Data.Prefixes == nil {
		return nil, errors.New(`RIPEstat JSON: no "data.prefixes" array`)
	}
	return collect(nil, *doc.Data.Prefixes, "RIPEstat JSON: prefixes", func(p ripePrefix) string { return p.Prefix })
}

type ripePrefix struct {
	Prefix string `json:"prefix"`
}

func parseText(data []byte) ([]netip.Prefix, error) {
	var out []netip.Prefix
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if i := strings.IndexAny(s, ", \t;"); i >= 0 {
			s = s[:i]
		}
		pfx, err := parseOne(s)
		if err != nil {
			return nil, fmt.Errorf("text: line %d: %w", line, err)
		}
		out = append(out, pfx)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("text: line %d: %w", line+1, err)
	}
	return out, nil
}

// parseOne parses a CIDR or a bare address (taken as a host prefix). It drops
// invisible characters first: Bing's bingbot.json has carried zero-width
// spaces inside prefixes (noted in lord-alfred/ipranges bing/downloader.sh).
func parseOne(s string) (netip.Prefix, error) {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return netip.Prefix{}, errors.New("empty prefix")
	}
	if strings.ContainsRune(s, '/') {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("prefix %q has a zone", s)
		}
		return Canonical(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("address %q has a zone", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
