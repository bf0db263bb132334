package ranges

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		name    string
		format  Format
		in      string
		want    []netip.Prefix
		wantErr string
	}{
		{"google shape", FormatPrefixesJSON,
			`{"creationTime":"x","prefixes":[{"ipv6Prefix":"2001:4860:4801:10::/64"},{"ipv4Prefix":"66.249.64.0/27"}]}`,
			prefixes("2001:4860:4801:10::/64", "66.249.64.0/27"), ""},
		{"bing zero-width space", FormatPrefixesJSON,
			"{\"prefixes\":[{\"ipv4Prefix\":\"157.55.39.0/24\u200b\"}]}",
			prefixes("157.55.39.0/24"), ""},
		{"host bits are masked", FormatPrefixesJSON,
			`{"prefixes":[{"ipv4Prefix":"10.1.2.3/8"}]}`, prefixes("10.0.0.0/8"), ""},
		{"mapped prefix becomes v4", FormatText, "::ffff:1.2.3.0/120\n", prefixes("1.2.3.0/24"), ""},
		{"no prefixes key", FormatPrefixesJSON, `{"foo":[]}`, nil, `no "prefixes" array`},
		{"bad json", FormatPrefixesJSON, `{"prefixes":[`, nil, "prefixes JSON"},
		{"bad prefix", FormatPrefixesJSON, `{"prefixes":[{"ipv4Prefix":"300.1.1.0/24"}]}`, nil, "prefixes[0]"},
		{"empty entry", FormatPrefixesJSON, `{"prefixes":[{}]}`, nil, "empty prefix"},
		{"aws", FormatAWSJSON,
			`{"prefixes":[{"ip_prefix":"3.5.140.0/22","region":"x"}],"ipv6_prefixes":[{"ipv6_prefix":"2600:1f00::/24"}]}`,
			prefixes("3.5.140.0/22", "2600:1f00::/24"), ""},
		{"aws missing", FormatAWSJSON, `{}`, nil, "no \"prefixes\""},
		{"ripestat", FormatRIPEstat,
			`{"status":"ok","data":{"prefixes":[{"prefix":"31.13.24.0/21"},{"prefix":"2a03:2880::/32"}]}}`,
			prefixes("31.13.24.0/21", "2a03:2880::/32"), ""},
		{"ripestat error status", FormatRIPEstat, `{"status":"error","data":{}}`, nil, `status "error"`},
		{"text with comments and bare IPs", FormatText,
			"# pingdom probes\n\n13.48.110.214\n2a00:1a28:2000::4055 # v6\n17.241.208.160/27\n",
			prefixes("13.48.110.214/32", "2a00:1a28:2000::4055/128", "17.241.208.160/27"), ""},
		{"geofeed csv", FormatText, "172.225.46.0/24,US,US-CA,Los Angeles,\n",
			prefixes("172.225.46.0/24"), ""},
		{"html page", FormatText, "<!doctype html>\n<html>", nil, "line 1"},
		{"zone rejected", FormatText, "fe80::1%eth0\n", nil, "zone"},
		{"unknown format", Format("xml"), "", nil, "unknown range format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFormat(tt.format, []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, name := range []string{"r.json", "r.json.gz"} {
		t.Run(name, func(t *testing.T) {
			s := New()
			s.Sets["b"] = &Set{Sources: []string{"https://example.test/b.json"}, Prefixes: prefixes("66.249.64.0/27", "66.249.64.0/27", "2001:4860:4801:10::/64", "192.0.2.0/24")}
			s.Sets["a"] = &Set{Prefixes: prefixes("157.55.39.0/24")}
			path := filepath.Join(t.TempDir(), name)
			if err := s.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Names(), []string{"a", "b"}) {
				t.Fatalf("names %v", got.Names())
			}
			if got.Len("b") != 2 { // duplicate and documentation range removed
				t.Fatalf("b has %d prefixes", got.Len("b"))
			}
		})
	}
}

func TestPlausible(t *testing.T) {
	for s, want := range map[string]bool{
		"66.249.64.0/27": true, "2001:4860:4801:10::/64": true, "8.0.0.0/8": true, "2600::/16": true,
		"192.0.2.0/24": false, "198.51.100.0/25": false, "203.0.113.7/32": false, "10.1.0.0/16": false,
		"127.0.0.1/32": false, "0.0.0.0/0": false, "1.0.0.0/7": false, "2001:db8:1::/48": false,
		"fe80::/64": false, "::/0": false, "2000::/3": false, "fd00::/8": false, "100.64.0.0/10": false,
		"192.0.0.0/8": true, // wider than 192.0.2.0/24: a real (if odd) allocation, kept
	} {
		if got := Plausible(netip.MustParsePrefix(s)); got != want {
			t.Errorf("Plausible(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"wrong format":   `{"format":"other/1","sets":{}}`,
		"unknown field":  `{"format":"botwarden-ranges/1","sets":{},"x":1}`,
		"null set":       `{"format":"botwarden-ranges/1","sets":{"a":null}}`,
		"bad prefix":     `{"format":"botwarden-ranges/1","sets":{"a":{"prefixes":["1.2.3.4/40"]}}}`,
		"empty prefix":   `{"format":"botwarden-ranges/1","sets":{"a":{"prefixes":[""]}}}`,
		"truncated gzip": "\x1f\x8b\x08\x00",
		"not json":       "hello",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(in)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestOverlay(t *testing.T) {
	base := New()
	base.Sets["a"] = &Set{Prefixes: prefixes("10.0.0.0/8")}
	base.Sets["b"] = &Set{Prefixes: prefixes("11.0.0.0/8")}
	over := New()
	over.Sets["b"] = &Set{Prefixes: prefixes("12.0.0.0/8")}
	got := base.Overlay(over)
	if got.Prefixes("a")[0] != netip.MustParsePrefix("10.0.0.0/8") || got.Prefixes("b")[0] != netip.MustParsePrefix("12.0.0.0/8") {
		t.Fatalf("overlay: %+v", got.Sets)
	}
	if base.Prefixes("b")[0] != netip.MustParsePrefix("11.0.0.0/8") {
		t.Fatal("base modified")
	}
}

func TestLayer(t *testing.T) {
	base := New()
	base.Sets["a"] = &Set{Prefixes: prefixes("66.249.64.0/27")}
	if s, missing, err := Layer(base, ""); s != base || missing || err != nil {
		t.Fatalf("empty path: %v %v %v", s, missing, err)
	}
	if s, missing, err := Layer(base, filepath.Join(t.TempDir(), "missing.json")); s != base || !missing || err != nil {
		t.Fatalf("missing file: %v %v %v", s, missing, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Layer(base, bad); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Fatalf("bad file: %v", err)
	}
	good := filepath.Join(t.TempDir(), "good.json")
	over := New()
	over.Sets["b"] = &Set{Prefixes: prefixes("157.55.39.0/24")}
	if err := over.WriteFile(good); err != nil {
		t.Fatal(err)
	}
	s, missing, err := Layer(base, good)
	if err != nil || missing || s.Len("a") != 1 || s.Len("b") != 1 {
		t.Fatalf("good file: %v %v %v", s.Names(), missing, err)
	}
}

// FuzzParseFormat feeds arbitrary bodies to every parser: an error is fine,
// a panic or an invalid prefix in the result is not.
func FuzzParseFormat(f *testing.F) {
	f.Add(uint8(0), []byte(`{"prefixes":[{"ipv4Prefix":"66.249.64.0/27"},{"ipv6Prefix":"2001:db8::/32"}]}`))
	f.Add(uint8(1), []byte(`{"prefixes":[{"ip_prefix":"3.5.140.0/22"}],"ipv6_prefixes":[{"ipv6_prefix":"2600::/16"}]}`))
	f.Add(uint8(2), []byte(`{"status":"ok","data":{"prefixes":[{"prefix":"31.13.24.0/21"}]}}`))
	f.Add(uint8(3), []byte("# c\n1.2.3.4\n10.0.0.0/8,US\n::ffff:1.2.3.4/128\n"))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		ps, err := ParseFormat(Formats[int(which)%len(Formats)], data)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("parser returned non-canonical prefix %v", p)
			}
		}
	})
}
