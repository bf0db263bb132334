// Command gendata builds detect/network/data/network.json.gz, the embedded
// datacenter, cloud, VPN and iCloud Private Relay prefix snapshot, and
// data/hosting-asns.txt, from the reference data in ../shared/data.
//
//	go run ./detect/network/internal/gendata -shared ../shared/data
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect/ranges"
)

func main() {
	shared := flag.String("shared", "../shared/data", "reference data directory")
	out := flag.String("out", "detect/network/data", "output directory")
	flag.Parse()
	if err := run(*shared, *out); err != nil {
		log.Fatal(err)
	}
}

type input struct {
	set, source string
	files       []string
}

func run(shared, out string) error {
	ip := filepath.Join(shared, "ipranges")
	x4 := func(p string) string { return filepath.Join(ip, "x4bnet", p) }
	la := func(p string) string { return filepath.Join(ip, "lord-alfred", p) }
	both := func(dir string) []string {
		return []string{la(dir + "/ipv4_merged.txt"), la(dir + "/ipv6_merged.txt")}
	}
	inputs := []input{
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
	snap := ranges.New()
	for _, in := range inputs {
		set := &ranges.Set{Sources: []string{in.source}}
		for _, f := range in.files {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			ps, err := ranges.ParseFormat(ranges.FormatText, data)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			set.Prefixes = append(set.Prefixes, ps...)
			mirror, at := provenance(f)
			if !contains(set.Sources, mirror) {
				set.Sources = append(set.Sources, mirror)
			}
			if at.After(set.Fetched) {
				set.Fetched = at
			}
		}
		if set.Fetched.After(snap.Generated) {
			snap.Generated = set.Fetched
		}
		snap.Sets[in.set] = set
	}
	if err := snap.WriteFile(filepath.Join(out, "network.json.gz")); err != nil {
		return err
	}
	total := 0
	for _, n := range snap.Names() {
		fmt.Printf("%-20s %6d\n", n, snap.Len(n))
		total += snap.Len(n)
	}
	fmt.Printf("%-20s %6d\n", "total", total)
	asns, err := os.ReadFile(x4("input/datacenter/ASN.txt"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "hosting-asns.txt"), asns, 0o644)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

var mirrors = map[string]string{"lord-alfred": "lord-alfred/ipranges", "x4bnet": "X4BNet/lists_vpn"}

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
