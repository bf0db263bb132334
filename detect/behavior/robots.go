package behavior

import (
	"bufio"
	"bytes"
	"strings"
)

// maxRobotsRules bounds what a hostile robots.txt can make us keep.
const maxRobotsRules = 1000

// ParseRobots returns the Disallow prefixes that apply to every crawler
// ("User-agent: *") in a robots.txt body, for Config.Paths.RobotsDisallow.
// Crawler-specific groups are ignored: the question the analysis asks is
// whether a client ignores rules meant for all crawlers. Wildcards (*, $)
// are cut at the first wildcard, which keeps a prefix that the rule
// covers. Empty Disallow lines allow everything and add nothing.
func ParseRobots(body []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	inStar, groupOpen := false, false
	for sc.Scan() && len(out) < maxRobotsRules {
		line, _, _ := strings.Cut(sc.Text(), "#")
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		switch key {
		case "user-agent":
			// Consecutive user-agent lines share one group.
			if !groupOpen {
				inStar = false
			}
			groupOpen = true
			if val == "*" {
				inStar = true
			}
		case "disallow":
			groupOpen = false
			if !inStar || val == "" {
				continue
			}
			if i := strings.IndexAny(val, "*$"); i >= 0 {
				val = val[:i]
			}
			if strings.HasPrefix(val, "/") && len(val) > 1 {
				out = append(out, val)
			}
		default:
			groupOpen = false
		}
	}
	return out
}
