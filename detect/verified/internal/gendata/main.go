// Command gendata builds detect/verified/data/ranges.json.gz, the embedded
// verified-bot range snapshot, from the reference data in ../shared/data
// (copies of the operators' published lists; see data/NOTICE).
//
//	go run ./detect/verified/internal/gendata -shared ../shared/data
package main

import (
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/botwarden/botwarden/detect/ranges"
)

func main() {
	shared := flag.String("shared", "../shared/data", "reference data directory")
	out := flag.String("out", "detect/verified/data/ranges.json.gz", "output snapshot")
	flag.Parse()
	if err := run(*shared, *out); err != nil {
		log.Fatal(err)
	}
}

type input struct {
	set    string
	source string // official URL the copy was taken from
	files  []string
}

func run(shared, out string) error {
	ip := filepath.Join(shared, "ipranges")
	la := func(p string) string { return filepath.Join(ip, "lord-alfred", p) }
	an := func(p string) string { return filepath.Join(ip, "anubis-policies", p) }
	gg := func(p string) string { return filepath.Join(ip, "google", p) }
	const gURL = "https://developers.google.com/static/crawling/ipranges/"
	inputs := []input{
		{set: "google-crawlers", source: gURL + "common-crawlers.json", files: []string{gg("googlebot.json")}},
		{set: "google-special-crawlers", source: gURL + "special-crawlers.json", files: []string{gg("special-crawlers.json")}},
		{set: "google-fetchers", source: gURL + "user-triggered-fetchers-google.json", files: []string{an("clients/google-user-triggered-fetchers.yaml")}},
		{set: "google-fetchers-gcp", source: gURL + "user-triggered-fetchers.json", files: []string{gg("user-triggered-fetchers.json")}},
		{set: "bingbot", source: "https://www.bing.com/toolbox/bingbot.json", files: []string{la("bing/ipv4.txt")}},
		{set: "openai-gptbot", source: "https://openai.com/gptbot.json", files: []string{an("crawlers/openai-gptbot.yaml")}},
		{set: "openai-searchbot", source: "https://openai.com/searchbot.json", files: []string{an("crawlers/openai-searchbot.yaml")}},
		{set: "openai-chatgpt-user", source: "https://openai.com/chatgpt-user.json", files: []string{an("clients/openai-chatgpt-user.yaml")}},
		{set: "openai", source: "https://openai.com/{gptbot,searchbot,chatgpt-user}.json", files: []string{la("openai/ipv4.txt")}},
		{set: "perplexitybot", source: "https://www.perplexity.ai/perplexitybot.json", files: []string{an("crawlers/perplexitybot.yaml")}},
		{set: "perplexity-user", source: "https://www.perplexity.ai/perplexity-user.json", files: []string{an("clients/perplexity-user.yaml")}},
		{set: "perplexity", source: "https://www.perplexity.ai/{perplexitybot,perplexity-user}.json", files: []string{la("perplexity/ipv4.txt")}},
		{set: "duckduckbot", source: "https://duckduckgo.com/duckduckbot.json", files: []string{la("duckduckbot/ipv4.txt")}},
		{set: "duckassistbot", source: "https://duckduckgo.com/duckassistbot.json", files: []string{la("duckassistbot/ipv4.txt")}},
		{set: "applebot", source: "https://search.developer.apple.com/applebot.json", files: []string{an("crawlers/applebot.yaml")}},
		{set: "ccbot", source: "https://index.commoncrawl.org/ccbot.json", files: []string{an("crawlers/commoncrawl.yaml")}},
		{set: "facebook", source: "routes of AS32934, AS54115, AS63293, AS149642 (IRR/RIS)", files: []string{la("facebook/ipv4_merged.txt"), la("facebook/ipv6_merged.txt")}},
		{set: "twitter", source: "routes of AS13414, AS35995, AS54888, AS63179 (IRR/RIS)", files: []string{la("twitter/ipv4_merged.txt"), la("twitter/ipv6_merged.txt")}},
		{set: "telegram", source: "https://core.telegram.org/resources/cidr.txt", files: []string{la("telegram/ipv4.txt"), la("telegram/ipv6.txt")}},
		{set: "mistralai-user", source: "https://mistral.ai/mistralai-user-ips.json", files: []string{an("clients/mistral-mistralai-user.yaml")}},
		{set: "kagibot", source: "https://kagi.com/bot", files: []string{an("crawlers/kagibot.yaml")}},
		{set: "mojeekbot", source: "https://www.mojeek.com/mojeekbot.json", files: []string{an("crawlers/mojeekbot.yaml")}},
		{set: "qwantbot", source: "https://help.qwant.com/wp-content/uploads/sites/latest/qwantbot.json", files: []string{an("crawlers/qwantbot.yaml")}},
		{set: "marginalia", source: "published by Marginalia Search (via TecharoHQ/anubis)", files: []string{an("crawlers/marginalia.yaml")}},
		{set: "internet-archive", source: "routes of AS7941", files: []string{an("crawlers/internet-archive.yaml")}},
		{set: "pingdom", source: "https://my.pingdom.com/probes/{ipv4,ipv6}", files: []string{la("pingdom/ipv4.txt"), la("pingdom/ipv6.txt")}},
		{set: "statuscake", source: "https://app.statuscake.com/Workfloor/Locations.php?format=txt", files: []string{la("statuscake/ipv4.txt")}},
		{set: "uptimerobot", source: "https://uptimerobot.com/inc/files/ips/IPv4andIPv6.txt", files: []string{an("services/uptime-robot.yaml")}},
		{set: "updown", source: "https://updown.io/about", files: []string{an("services/updown.yaml")}},
	}
	snap := ranges.New()
	var newest time.Time
	for _, in := range inputs {
		set := &ranges.Set{Sources: []string{in.source}}
		for _, f := range in.files {
			ps, mirror, fetched, err := readFile(f)
			if err != nil {
				return fmt.Errorf("set %s: %w", in.set, err)
			}
			set.Prefixes = append(set.Prefixes, ps...)
			if !contains(set.Sources, mirror) {
				set.Sources = append(set.Sources, mirror)
			}
			if fetched.After(set.Fetched) {
				set.Fetched = fetched
			}
		}
		if len(set.Prefixes) == 0 {
			return fmt.Errorf("set %s: no prefixes", in.set)
		}
		if set.Fetched.After(newest) {
			newest = set.Fetched
		}
		snap.Sets[in.set] = set
	}
	snap.Generated = newest
	if err := snap.WriteFile(out); err != nil {
		return err
	}
	for _, n := range snap.Names() {
		fmt.Printf("%-24s %5d\n", n, snap.Len(n))
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// readFile parses one reference file and names the mirror it came from
// (repository@commit from the SOURCE_COMMIT beside it).
func readFile(path string) ([]netip.Prefix, string, time.Time, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	mirror, fetched := provenance(path)
	var ps []netip.Prefix
	switch filepath.Ext(path) {
	case ".json":
		ps, err = ranges.ParseFormat(ranges.FormatPrefixesJSON, data)
	case ".yaml", ".yml":
		ps, err = parseAnubis(data)
	default:
		ps, err = ranges.ParseFormat(ranges.FormatText, data)
	}
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	return ps, mirror, fetched, nil
}

func parseAnubis(data []byte) ([]netip.Prefix, error) {
	var rules []struct {
		RemoteAddresses []string `yaml:"remote_addresses"`
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, r := range rules {
		for _, a := range r.RemoteAddresses {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
		}
		if len(out) > 0 {
			break // the first rule with addresses is the bot's
		}
	}
	return out, nil
}

var mirrors = map[string]string{
	"lord-alfred":     "lord-alfred/ipranges",
	"anubis-policies": "TecharoHQ/anubis data/",
	"google":          "aminvakil/google-ip-list (copy of Google's JSON files)",
}

func provenance(path string) (string, time.Time) {
	dir := filepath.Dir(path)
	for d := dir; d != "." && d != "/"; d = filepath.Dir(d) {
		raw, err := os.ReadFile(filepath.Join(d, "SOURCE_COMMIT"))
		if err != nil {
			continue
		}
		lines := strings.Fields(string(raw))
		name := mirrors[filepath.Base(d)]
		var at time.Time
		if len(lines) > 1 {
			at, _ = time.Parse(time.RFC3339, lines[1])
		}
		if len(lines) > 0 {
			return name + "@" + lines[0], at.UTC()
		}
	}
	return "", time.Time{}
}
