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
		Prefixes *[]struct {
			IPv4 string `json:"ipv4Prefix"`
			IPv6 string `json:"ipv6Prefix"`
		} `json:"prefixes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("prefixes JSON: %w", err)
	}
	if doc.Prefixes == nil {
		return nil, errors.New(`prefixes JSON: no "prefixes" array`)
	}
	out := make([]netip.Prefix, 0, len(*doc.Prefixes))
	for i, p := range *doc.Prefixes {
		s := p.IPv4
		if s == "" {
			s = p.IPv6
		}
		pfx, err := parseOne(s)
		if err != nil {
			return nil, fmt.Errorf("prefixes JSON: entry %d: %w", i, err)
		}
		out = append(out, pfx)
	}
	return out, nil
}

func parseAWSJSON(data []byte) ([]netip.Prefix, error) {
	var doc struct {
		Prefixes *[]struct {
			IP string `json:"ip_prefix"`
		} `json:"prefixes"`
		IPv6 []struct {
			IP string `json:"ipv6_prefix"`
		} `json:"ipv6_prefixes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("AWS JSON: %w", err)
	}
	if doc.Prefixes == nil {
		return nil, errors.New(`AWS JSON: no "prefixes" array`)
	}
	out := make([]netip.Prefix, 0, len(*doc.Prefixes)+len(doc.IPv6))
	for i, p := range *doc.Prefixes {
		pfx, err := parseOne(p.IP)
		if err != nil {
			return nil, fmt.Errorf("AWS JSON: prefixes[%d]: %w", i, err)
		}
		out = append(out, pfx)
	}
	for i, p := range doc.IPv6 {
		pfx, err := parseOne(p.IP)
		if err != nil {
			return nil, fmt.Errorf("AWS JSON: ipv6_prefixes[%d]: %w", i, err)
		}
		out = append(out, pfx)
	}
	return out, nil
}

func parseRIPEstat(data []byte) ([]netip.Prefix, error) {
	var doc struct {
		Status string `json:"status"`
		Data   struct {
			Prefixes *[]struct {
				Prefix string `json:"prefix"`
			} `json:"prefixes"`
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
	out := make([]netip.Prefix, 0, len(*doc.Data.Prefixes))
	for i, p := range *doc.Data.Prefixes {
		pfx, err := parseOne(p.Prefix)
		if err != nil {
			return nil, fmt.Errorf("RIPEstat JSON: prefixes[%d]: %w", i, err)
		}
		out = append(out, pfx)
	}
	return out, nil
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
