package extauthz

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/botwarden/botwarden/detect"
)

func TestParseIP(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = rejected
	}{
		{"192.0.2.1", "192.0.2.1"},
		{"  192.0.2.1\t", "192.0.2.1"},
		{"192.0.2.1:8080", "192.0.2.1"},
		{"2001:db8::1", "2001:db8::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"[fe80::1%25eth0]:80", "fe80::1"}, // any zone text is dropped
		{"[fe80::1%eth0]:80", "fe80::1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:9", "192.0.2.1"},
		{"::ffff:c000:0201", "192.0.2.1"},
		{"0.0.0.0", ""},
		{"::", ""},
		{"unknown", ""},
		{"_hidden", ""},
		{"", ""},
		{"   ", ""},
		{"192.0.2.1:", ""},
		{"192.0.2.1:http", ""},
		{"192.0.2.1:123456", ""},
		{"[2001:db8::1", ""},
		{"[2001:db8::1]x", ""},
		{"2001:db8::1:", ""},
		{"256.1.1.1", ""},
		{"1.2.3", ""},
		{"01.2.3.4", ""}, // leading zeros are ambiguous (octal); netip rejects them
		{"example.com", ""},
		{"192.0.2.1, 192.0.2.2", ""},
		{string(make([]byte, 200)), ""},
		{"\xff\xfe", ""},
	}
	for _, tt := range tests {
		got, ok := ParseIP(tt.in)
		if tt.want == "" {
			if ok {
				t.Errorf("ParseIP(%q) = %v, want rejected", tt.in, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("ParseIP(%q) = %v %v, want %s", tt.in, got, ok, tt.want)
		}
	}
}

func TestXFFClient(t *testing.T) {
	const xff = "203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5"
	tests := []struct {
		xff  string
		hops int
		want string
	}{
		{xff, 0, "192.0.2.5"},
		{xff, 1, "203.0.113.1"},
		{xff, 2, "203.0.113.10"},
		{xff, 3, "203.0.113.128"},
		{xff, 4, ""}, // fewer entries than hops+1
		{"192.0.2.5", 0, "192.0.2.5"},
		{"192.0.2.5", 1, ""},
		{"", 0, ""},
		{"garbage, 192.0.2.5", 0, "192.0.2.5"},
		{"192.0.2.5, garbage", 0, ""}, // the chosen entry is bad: no skipping ahead
		{"192.0.2.9, , 192.0.2.5", 1, ""},
		{"192.0.2.9,192.0.2.5,", 0, ""}, // trailing comma: empty last entry
		{"2001:db8::7, [2001:db8::1]:443", 0, "2001:db8::1"},
		{"2001:db8::7, [2001:db8::1]:443", 1, "2001:db8::7"},
		{"::ffff:198.51.100.3,10.0.0.1", 1, "198.51.100.3"},
		{xff, -1, ""},
	}
	for _, tt := range tests {
		got, ok := XFFClient(tt.xff, tt.hops)
		if tt.want == "" {
			if ok {
				t.Errorf("XFFClient(%q, %d) = %v, want none", tt.xff, tt.hops, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("XFFClient(%q, %d) = %v %v, want %s", tt.xff, tt.hops, got, ok, tt.want)
		}
	}
}

// TestClientIPEnvoyExamples replays the examples of Envoy's x-forwarded-for
// documentation on the header as ext_authz sees it (after the HCM appended
// the peer when use_remote_address is true).
func TestClientIPEnvoyExamples(t *testing.T) {
	peer := netip.MustParseAddr("192.0.2.5")
	tests := []struct {
		name    string
		cfg     ClientIPConfig
		headers detect.Headers
		peer    netip.Addr
		want    string
		src     IPSource
	}{
		{
			name: "default trusts only the peer, whatever XFF says",
			cfg:  DefaultConfig().ClientIP,
			headers: detect.Headers{
				"x-forwarded-for":          "203.0.113.128, 192.0.2.5",
				"x-envoy-external-address": "203.0.113.128",
			},
			peer: peer, want: "192.0.2.5", src: IPFromPeer,
		},
		{
			name: "edge Envoy, 0 hops: the appended peer is the client",
			cfg:  ClientIPConfig{UseXFF: true, PeerFallback: true},
			// client sent "203.0.113.128, 203.0.113.10, 203.0.113.1"; Envoy appended 192.0.2.5
			headers: detect.Headers{"x-forwarded-for": "203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5"},
			peer:    peer, want: "192.0.2.5", src: IPFromXFF,
		},
		{
			name: "one trusted LB in front (use_remote_address, N=1)",
			cfg:  ClientIPConfig{UseXFF: true, XFFNumTrustedHops: 1},
			// LB 10.0.0.2 appended the client 198.51.100.7; Envoy appended the LB.
			headers: detect.Headers{"x-forwarded-for": "6.6.6.6, 198.51.100.7, 10.0.0.2"},
			peer:    netip.MustParseAddr("10.0.0.2"), want: "198.51.100.7", src: IPFromXFF,
		},
		{
			name:    "too few entries falls back to the peer",
			cfg:     ClientIPConfig{UseXFF: true, XFFNumTrustedHops: 2, PeerFallback: true},
			headers: detect.Headers{"x-forwarded-for": "198.51.100.7, 10.0.0.2"},
			peer:    peer, want: "192.0.2.5", src: IPFromPeer,
		},
		{
			name:    "too few entries without peer fallback stays unknown",
			cfg:     ClientIPConfig{UseXFF: true, XFFNumTrustedHops: 2},
			headers: detect.Headers{"x-forwarded-for": "198.51.100.7, 10.0.0.2"},
			peer:    peer, src: IPUnknown,
		},
		{
			name:    "malformed chosen entry falls back",
			cfg:     ClientIPConfig{UseXFF: true, XFFNumTrustedHops: 1, PeerFallback: true},
			headers: detect.Headers{"x-forwarded-for": "198.51.100.7, bogus, 10.0.0.2"},
			peer:    peer, want: "192.0.2.5", src: IPFromPeer,
		},
		{
			name: "external address wins when trusted",
			cfg:  ClientIPConfig{UseExternalAddress: true, UseXFF: true, PeerFallback: true},
			headers: detect.Headers{
				"x-envoy-external-address": "2001:db8::42",
				"x-forwarded-for":          "198.51.100.7",
			},
			peer: peer, want: "2001:db8::42", src: IPFromExternalAddress,
		},
		{
			name:    "external address absent (internal request) uses XFF",
			cfg:     ClientIPConfig{UseExternalAddress: true, UseXFF: true},
			headers: detect.Headers{"x-forwarded-for": "10.1.2.3"},
			peer:    peer, want: "10.1.2.3", src: IPFromXFF,
		},
		{
			name:    "external address malformed, no fallback",
			cfg:     ClientIPConfig{UseExternalAddress: true},
			headers: detect.Headers{"x-envoy-external-address": "not-an-ip"},
			peer:    peer, src: IPUnknown,
		},
		{
			name:    "IPv4-mapped peer is unmapped by the caller; invalid peer is unknown",
			cfg:     DefaultConfig().ClientIP,
			headers: detect.Headers{},
			src:     IPUnknown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, src := tt.cfg.ClientIP(tt.headers, tt.peer)
			if src != tt.src {
				t.Fatalf("source = %s, want %s (addr %v)", src, tt.src, got)
			}
			if tt.want == "" {
				if got.IsValid() {
					t.Fatalf("got %v, want unknown", got)
				}
				return
			}
			if got != netip.MustParseAddr(tt.want) {
				t.Fatalf("got %v, want %s", got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"negative hops", func(c *Config) { c.ClientIP.UseXFF = true; c.ClientIP.XFFNumTrustedHops = -1 }, "client_ip.xff_num_trusted_hops"},
		{"hops without xff", func(c *Config) { c.ClientIP.XFFNumTrustedHops = 2 }, "client_ip.xff_num_trusted_hops"},
		{"http hops too many", func(c *Config) { c.HTTP.ClientIP.XFFNumTrustedHops = 1000 }, "http.client_ip.xff_num_trusted_hops"},
		{"prefix relative", func(c *Config) { c.HTTP.Prefix = "authz" }, "http.prefix"},
		{"prefix trailing slash", func(c *Config) { c.HTTP.Prefix = "/authz/" }, "http.prefix"},
		{"prefix query", func(c *Config) { c.HTTP.Prefix = "/a?b" }, "http.prefix"},
		{"tiny cap", func(c *Config) { c.MaxHeaderValueBytes = 10 }, "max_header_value_bytes"},
		{"few headers", func(c *Config) { c.MaxHeaders = 1 }, "max_headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !containsField(err.Error(), tt.field) {
				t.Fatalf("want error naming %s, got %v", tt.field, err)
			}
		})
	}
}

func containsField(msg, field string) bool {
	return strings.HasPrefix(msg, field) || strings.Contains(msg, "\n"+field)
}

func TestConfigYAML(t *testing.T) {
	src := `
client_ip:
  use_xff: true
  xff_num_trusted_hops: 1
  use_external_address: true
  peer_fallback: false
http:
  prefix: /bot
  client_ip: {use_xff: true}
max_header_value_bytes: 4096
max_headers: 64
ray_id_header: x-request-ref
`
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{
		ClientIP:            ClientIPConfig{UseXFF: true, XFFNumTrustedHops: 1, UseExternalAddress: true},
		HTTP:                HTTPConfig{Prefix: "/bot", ClientIP: ClientIPConfig{UseXFF: true, PeerFallback: true}},
		MaxHeaderValueBytes: 4096,
		MaxHeaders:          64,
		RayIDHeader:         "x-request-ref",
	}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFromHTTP(t *testing.T) {
	tests := []struct {
		name   string
		cfg    ClientIPConfig
		remote string
		xff    []string
		want   string
	}{
		{"proxied, last entry", DefaultConfig().HTTP.ClientIP, "127.0.0.1:5000", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"repeated lines joined", ClientIPConfig{UseXFF: true, XFFNumTrustedHops: 1}, "127.0.0.1:5000", []string{"198.51.100.7", "10.0.0.2"}, "198.51.100.7"},
		{"no xff: peer", DefaultConfig().HTTP.ClientIP, "[::ffff:192.0.2.1]:80", nil, "192.0.2.1"},
		{"bad remote, no xff", DefaultConfig().HTTP.ClientIP, "pipe", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hr, _ := http.NewRequest("GET", "/", nil)
			hr.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				hr.Header.Add("X-Forwarded-For", v)
			}
			got := tt.cfg.FromHTTP(hr)
			if (tt.want == "" && got.IsValid()) || (tt.want != "" && got != netip.MustParseAddr(tt.want)) {
				t.Fatalf("got %v, want %q", got, tt.want)
			}
		})
	}
}
