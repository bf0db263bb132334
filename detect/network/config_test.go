package network

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestConfigYAML(t *testing.T) {
	in := `
ranges_file: /var/lib/botwarden/ranges.json
datacenter: true
private_relay: true
vpn: false
mmdb: [/usr/share/GeoIP/GeoLite2-ASN.mmdb, /usr/share/GeoIP/GeoLite2-Country.mmdb]
mmdb_format: auto
hosting_asns: true
`
	cfg := DefaultConfig()
	if err := yaml.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.VPN || len(cfg.MMDB) != 2 || cfg.RangesFile == "" {
		t.Fatalf("%+v", cfg)
	}
}
