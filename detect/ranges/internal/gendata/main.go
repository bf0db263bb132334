// Command gendata builds the embedded range snapshots from the reference
// data (copies of the operators' published lists, found through
// internal/refdata: $BOTWARDEN_DATA or its default; see the NOTICE files
// beside the outputs):
//
//   - detect/verified/data/ranges.json.gz: verified-bot ranges;
//   - detect/network/data/network.json.gz: datacenter, cloud, VPN and iCloud
//     Private Relay prefixes, and detect/network/data/hosting-asns.txt.
//
// Run from the repository root:
//
//	go run ./detect/ranges/internal/gendata [-shared DIR]
package main

import (
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/botwarden/botwarden/detect/ranges"
	"github.com/botwarden/botwarden/internal/refdata"
)

func main() {
	shared := flag.String("shared", "", "reference data directory (default: $"+refdata.Env+" or "+refdata.DefaultRel+" from the repository root)")
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if *shared == "" {
		dir, err := refdata.Dir()
		if err != nil {
			log.Fatal(err)
		}
		*shared = dir
	}
	if err := run(*shared, *root); err != nil {
		log.Fatal(err)
	}
}

type input struct {
	set, source string // snapshot set; the official URL the copy came from
	files       []string
}

func run(shared, root string) error {
	ip := filepath.Join(shared, "ipranges")
	la := func(p string) string { return filepath.Join(ip, "lord-alfred", p) }
	an := func(p string) string { return filepath.Join(ip, "anubis-policies", p) }
	gg := func(p string) string { return filepath.Join(ip, "google", p) }
	x4 := func(p string) string { return filepath.Join(ip, "x4bnet", p) }
	both := func(dir string) []string {
		return []string{la(dir + "/ipv4_merged.txt"), la(dir + "/ipv6_merged.txt")}
	}
	const gURL = "https://developers.google.com/static/crawling/ipranges/"
	bots := []input{
		{set: "google-crawlers", source: gURL + "common-crawlers.json", files: []string{gg("googlebot.json")}},
		{set: "google-special-crawlers", source: gURL + "special-crawlers.json", files: []string{gg("special-crawlers.json")}},
		{set: "google-fetchers", source: gURL + "user-triggered-fetchers-google.json", files: []string{an("clients/google-user-triggered-fetchers.yaml")}},
		{set: "google-fetchers-gcp", source: gURL + "user-triggered-fetchers.json", files: []string{gg("user-triggered-fetchers.json")}},
		{"bingbot", "https://www.bing.com/toolbox/bingbot.json", []string{la("bing/ipv4.txt")}},
		{"openai-gptbot", "https://openai.com/gptbot.json", []string{an("crawlers/openai-gptbot.yaml")}},
		{"openai-searchbot", "https://openai.com/searchbot.json", []string{an("crawlers/openai-searchbot.yaml")}},
		{"openai-chatgpt-user", "https://openai.com/chatgpt-user.json", []string{an("clients/openai-chatgpt-user.yaml")}},
		{"openai", "https://openai.com/{gptbot,searchbot,chatgpt-user}.json", []string{la("openai/ipv4.txt")}},
		{"perplexitybot", "https://www.perplexity.ai/perplexitybot.json", []string{an("crawlers/perplexitybot.yaml")}},
		{"perplexity-user", "https://www.perplexity.ai/perplexity-user.json", []string{an("clients/perplexity-user.yaml")}},
		{"perplexity", "https://www.perplexity.ai/{perplexitybot,perplexity-user}.json", []string{la("perplexity/ipv4.txt")}},
		{"duckduckbot", "https://duckduckgo.com/duckduckbot.json", []string{la("duckduckbot/ipv4.txt")}},
		{"duckassistbot", "https://duckduckgo.com/duckassistbot.json", []string{la("duckassistbot/ipv4.txt")}},
		{"applebot", "https://search.developer.apple.com/applebot.json", []string{an("crawlers/applebot.yaml")}},
		{"ccbot", "https://index.commoncrawl.org/ccbot.json", []string{an("crawlers/commoncrawl.yaml")}},
		{"facebook", "routes of AS32934, AS54115, AS63293, AS149642 (IRR/RIS)", []string{la("facebook/ipv4_merged.txt"), la("facebook/ipv6_merged.txt")}},
		{"twitter", "routes of AS13414, AS35995, AS54888, AS63179 (IRR/RIS)", []string{la("twitter/ipv4_merged.txt"), la("twitter/ipv6_merged.txt")}},
		{"telegram", "https://core.telegram.org/resources/cidr.txt", []string{la("telegram/ipv4.txt"), la("telegram/ipv6.txt")}},
		{"mistralai-user", "https://mistral.ai/mistralai-user-ips.json", []string{an("clients/mistral-mistralai-user.yaml")}},
		{"kagibot", "https://kagi.com/bot", []string{an("crawlers/kagibot.yaml")}},
		{"mojeekbot", "https://www.mojeek.com/mojeekbot.json", []string{an("crawlers/mojeekbot.yaml")}},
		{"qwantbot", "https://help.qwant.com/wp-content/uploads/sites/latest/qwantbot.json", []string{an("crawlers/qwantbot.yaml")}},
		{"marginalia", "published by Marginalia Search (via TecharoHQ/anubis)", []string{an("crawlers/marginalia.yaml")}},
		{"internet-archive", "routes of AS7941", []string{an("crawlers/internet-archive.yaml")}},
		{"pingdom", "https://my.pingdom.com/probes/{ipv4,ipv6}", []string{la("pingdom/ipv4.txt"), la("pingdom/ipv6.txt")}},
		{"statuscake", "https://app.statuscake.com/Workfloor/Locations.php?format=txt", []string{la("statuscake/ipv4.txt")}},
		{"uptimerobot", "https://uptimerobot.com/inc/files/ips/IPv4andIPv6.txt", []string{an("services/uptime-robot.yaml")}},
		{"updown", "https://updown.io/about", []string{an("services/updown.yaml")}}}
	network := []input{
		{"datacenter-x4bnet", "X4BNet/lists_vpn output/datacenter", []string{x4("output/datacenter/ipv4.txt"), x4("output/datacenter/ipv6.txt")}},
		{"vpn-x4bnet", "X4BNet/lists_vpn output/vpn", []string{x4("output/vpn/ipv4.txt"), x4("output/vpn/ipv6.txt")}},
		{"vpn-protonvpn", "ProtonVPN exit nodes (lord-alfred/ipranges protonvpn)", []string{la("protonvpn/ipv4_merged.txt")}},
		{"private-relay", "https://mask-api.icloud.com/egress-ip-ranges.csv", both("apple-proxy")},
		{"cloud-amazon", "https://ip-ranges.amazonaws.com/ip-ranges.json", both("amazon")},
		{"cloud-google", "https://www.gstatic.com/ipranges/goog.json + cloud.json", both("google")},
		{"cloud-microsoft", "Azure service tags and Microsoft public IPs", both("microsoft")},
		{"cloud-oracle", "https://docs.oracle.com/en-us/iaas/tools/public_ip_ranges.json", []string{la("oracle/ipv4_merged.txt")}},
		{"cloud-digitalocean", "https://digitalocean.com/geo/google.csv", both("digitalocean")},
		{"cloud-linode", "https://geoip.linode.com/", both("linode")},
		{"cloud-vultr", "Vultr geofeed", both("vultr")},
		{"cloud-github", "https://api.github.com/meta", both("github")},
		{"cloud-cloudflare", "https://www.cloudflare.com/ips-v4 + ips-v6", both("cloudflare")},
	}
	if err := write(bots, filepath.Join(root, "detect/verified/data/ranges.json.gz")); err != nil {
		return err
	}
	if err := write(network, filepath.Join(root, "detect/network/data/network.json.gz")); err != nil {
		return err
	}
	asns, err := os.ReadFile(x4("input/datacenter/ASN.txt"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, "detect/network/data/hosting-asns.txt"), asns, 0o644)
}

// write builds one snapshot from inputs and writes it to out.
func write(inputs []input, out string) error {
	snap := ranges.New()
	for _, in := range inputs {
		set := &ranges.Set{Sources: []string{in.source}}
		for _, f := range in.files {
			ps, mirror, fetched, err := readFile(f)
			if err != nil {
				return fmt.Errorf("set %s: %w", in.set, err)
			}
			set.Prefixes = append(set.Prefixes, ps...)
			if !slices.Contains(set.Sources, mirror) {
				set.Sources = append(set.Sources, mirror)
			}
			if fetched.After(set.Fetched) {
				set.Fetched = fetched
			}
		}
		if len(set.Prefixes) == 0 {
			return fmt.Errorf("set %s: no prefixes", in.set)
		}
		if set.Fetched.After(snap.Generated) {
			snap.Generated = set.Fetched
		}
		snap.Sets[in.set] = set
	}
	if err := snap.WriteFile(out); err != nil {
		return err
	}
	total := 0
	for _, n := range snap.Names() {
		total += snap.Len(n)
		fmt.Printf("%-24s %6d\n", n, snap.Len(n))
	}
	fmt.Printf("%s: %d sets, %d prefixes\n", out, len(snap.Sets), total)
	return nil
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

// parseAnubis reads the remote_addresses of the first rule that has any.
func parseAnubis(data []byte) ([]netip.Prefix, error) {
	var rules []struct {
		RemoteAddresses []string `yaml:"remote_addresses"`
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		return nil, err
	}
	for _, r := range rules {
		if len(r.RemoteAddresses) > 0 {
			return ranges.ParseFormat(ranges.FormatText, []byte(strings.Join(r.RemoteAddresses, "\n")))
		}
	}
	return nil, nil
}

var mirrors = map[string]string{
	"lord-alfred":     "lord-alfred/ipranges",
	"anubis-policies": "TecharoHQ/anubis data/",
	"google":          "aminvakil/google-ip-list (copy of Google's JSON files)",
	"x4bnet":          "X4BNet/lists_vpn",
}

func provenance(path string) (string, time.Time) {
	for d := filepath.Dir(path); d != "." && d != "/"; d = filepath.Dir(d) {
		raw, err := os.ReadFile(filepath.Join(d, "SOURCE_COMMIT"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(raw))
		var at time.Time
		if len(f) > 1 {
			at, _ = time.Parse(time.RFC3339, f[1])
		}
		if len(f) > 0 {
			return mirrors[filepath.Base(d)] + "@" + f[0], at.UTC()
		}
	}
	return "", time.Time{}
}
