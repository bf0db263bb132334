package verified

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The config section as a user writes it, decoded the way the server does.
func TestConfigYAML(t *testing.T) {
	in := `
ranges_file: /var/lib/botwarden/ranges.json
ai: true
disabled_bots: [ccbot]
bots:
  - id: acme-uptime
    operator: ACME
    category: monitoring
    tokens: [AcmeUptime]
    prefixes: [81.2.69.0/28]
dns:
  enabled: true
  server: 127.0.0.1:53
  timeout: 750ms
  workers: 8
  queue_size: 2048
  cache_size: 50000
  positive_ttl: 12h
  negative_ttl: 30m
  error_ttl: 30s
`
	cfg := DefaultConfig()
	if err := yaml.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.DNS.Timeout != 750*time.Millisecond || cfg.DNS.NegativeTTL != 30*time.Minute || cfg.DNS.Workers != 8 ||
		len(cfg.Bots) != 1 || cfg.Bots[0].Prefixes[0] != "81.2.69.0/28" || cfg.DisabledBots[0] != "ccbot" {
		t.Fatalf("%+v", cfg)
	}
	var bad Config
	err := yaml.Unmarshal([]byte("dns:\n  timeout: soon\n"), &bad)
	if err == nil || !strings.Contains(err.Error(), "soon") {
		t.Fatalf("bad duration: %v", err)
	}
}
