package network

import "github.com/botwarden/botwarden/detect/ranges"

// Sources returns the official URLs `botwarden update-ranges` refreshes the
// network sets from. Sets without a source of a supported shape here
// (cloud-microsoft: a download page; cloud-oracle, cloud-vultr, cloud-github:
// JSON shapes of their own; vpn-protonvpn) keep their embedded contents.
func Sources() []ranges.Source {
	const x4 = "https://raw.githubusercontent.com/X4BNet/lists_vpn/main/output/"
	txt, pj := ranges.FormatText, ranges.FormatPrefixesJSON
	return []ranges.Source{
		{Set: "private-relay", URL: "https://mask-api.icloud.com/egress-ip-ranges.csv", Format: txt,
			Doc: "https://developer.apple.com/icloud/prepare-your-network-for-icloud-private-relay/"},
		{Set: "datacenter-x4bnet", URL: x4 + "datacenter/ipv4.txt", Format: txt, Doc: "https://github.com/X4BNet/lists_vpn"},
		{Set: "datacenter-x4bnet", URL: x4 + "datacenter/ipv6.txt", Format: txt, Doc: "https://github.com/X4BNet/lists_vpn"},
		{Set: "vpn-x4bnet", URL: x4 + "vpn/ipv4.txt", Format: txt, Doc: "https://github.com/X4BNet/lists_vpn"},
		{Set: "vpn-x4bnet", URL: x4 + "vpn/ipv6.txt", Format: txt, Doc: "https://github.com/X4BNet/lists_vpn"},
		{Set: "cloud-amazon", URL: "https://ip-ranges.amazonaws.com/ip-ranges.json", Format: ranges.FormatAWSJSON,
			Doc: "https://docs.aws.amazon.com/vpc/latest/userguide/aws-ip-ranges.html"},
		{Set: "cloud-google", URL: "https://www.gstatic.com/ipranges/goog.json", Format: pj,
			Doc: "https://support.google.com/a/answer/10026322"},
		{Set: "cloud-google", URL: "https://www.gstatic.com/ipranges/cloud.json", Format: pj,
			Doc: "https://cloud.google.com/compute/docs/faq#find_ip_range"},
		{Set: "cloud-cloudflare", URL: "https://www.cloudflare.com/ips-v4", Format: txt, Doc: "https://www.cloudflare.com/ips/"},
		{Set: "cloud-cloudflare", URL: "https://www.cloudflare.com/ips-v6", Format: txt, Doc: "https://www.cloudflare.com/ips/"},
		{Set: "cloud-digitalocean", URL: "https://digitalocean.com/geo/google.csv", Format: txt,
			Doc: "https://docs.digitalocean.com/platform/"},
		{Set: "cloud-linode", URL: "https://geoip.linode.com/", Format: txt, Doc: "https://www.linode.com/docs/"},
	}
}
