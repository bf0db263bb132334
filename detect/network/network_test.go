package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ranges"
)

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// inside returns an address in p other than its network address.
func inside(p netip.Prefix) netip.Addr {
	if p.IsSingleIP() {
		return p.Addr()
	}
	return p.Addr().Next()
}

var embeddedOnce = sync.OnceValues(EmbeddedRanges)

func embedded(t testing.TB) *ranges.Snapshot {
	t.Helper()
	s, err := embeddedOnce()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// relayInCDN finds a Private Relay prefix that a datacenter or cloud list
// also covers: relay egress runs on CDN networks.
func relayInCDN(t testing.TB, e *Engine) netip.Addr {
	t.Helper()
	tb := e.tables.Load()
	for _, p := range embedded(t).Prefixes(setPrivateRelay) {
		a := inside(p)
		if _, cloud := tb.cloud.Lookup(a); cloud || tb.dc.Contains(a) {
			return a
		}
	}
	t.Skip("no Private Relay prefix overlaps a datacenter list in this snapshot")
	return netip.Addr{}
}

func TestClassification(t *testing.T) {
	e := newEngine(t, DefaultConfig())
	s := embedded(t)
	onlyX4B := netip.Addr{}
	for _, p := range s.Prefixes(setDatacenter) {
		a := inside(p)
		if _, c := e.tables.Load().cloud.Lookup(a); !c && !e.tables.Load().relay.Contains(a) && !e.tables.Load().vpn.Contains(a) {
			onlyX4B = a
			break
		}
	}
	tests := []struct {
		name       string
		ip         netip.Addr
		datacenter bool
		relay      bool
		tags       []string
	}{
		{"aws", inside(s.Prefixes("cloud-amazon")[0]), true, false, []string{TagDatacenter, "cloud-amazon"}},
		{"gcp v6", inside(s.Prefixes("cloud-google")[len(s.Prefixes("cloud-google"))-1]), true, false, []string{TagDatacenter, "cloud-google"}},
		{"x4bnet only", onlyX4B, true, false, []string{TagDatacenter}},
		{"private relay in CDN space", relayInCDN(t, e), false, true, []string{TagPrivateRelay}},
		{"residential (Virgin Media)", netip.MustParseAddr("86.1.2.3"), false, false, nil},
		{"documentation address", netip.MustParseAddr("203.0.113.7"), false, false, nil},
		{"invalid", netip.Addr{}, false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &detect.Verdict{}
			if err := e.Evaluate(context.Background(), &detect.Request{ClientIP: tt.ip}, v); err != nil {
				t.Fatal(err)
			}
			if v.IP.Datacenter != tt.datacenter || v.IP.PrivateRelay != tt.relay {
				t.Fatalf("%v: %+v", tt.ip, v.IP)
			}
			for _, tag := range tt.tags {
				if !v.HasTag(tag) {
					t.Errorf("missing tag %s in %v", tag, v.Tags)
				}
			}
			if tt.relay && (v.HasTag(TagDatacenter) || v.HasTag(TagVPN)) {
				t.Errorf("relay tagged %v", v.Tags)
			}
			if v.Score != 0 {
				t.Errorf("network engine scored %d", v.Score)
			}
		})
	}
}

func TestVPN(t *testing.T) {
	e := newEngine(t, DefaultConfig())
	a := inside(embedded(t).Prefixes("vpn-protonvpn")[0])
	if _, tags, _ := e.Lookup(a); !slices.Contains(tags, TagVPN) {
		t.Fatalf("%v: %v", a, tags)
	}
	cfg := DefaultConfig()
	cfg.VPN = false
	if _, tags, _ := newEngine(t, cfg).Lookup(a); slices.Contains(tags, TagVPN) {
		t.Fatal("vpn tag while disabled")
	}
}

func TestAddressForms(t *testing.T) {
	e := newEngine(t, DefaultConfig())
	s := embedded(t)
	v4 := inside(s.Prefixes("cloud-amazon")[0])
	var v6 netip.Addr
	for _, p := range s.Prefixes("cloud-amazon") {
		if p.Addr().Is6() {
			v6 = inside(p)
			break
		}
	}
	for _, ip := range []netip.Addr{v4, netip.AddrFrom16(v4.As16()), v6, v6.WithZone("eth0")} {
		if info, _, _ := e.Lookup(ip); !info.Datacenter {
			t.Errorf("%v not a datacenter", ip)
		}
	}
}

func TestDisabledSignals(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Datacenter, cfg.PrivateRelay = false, false
	e := newEngine(t, cfg)
	s := embedded(t)
	for _, p := range []netip.Prefix{s.Prefixes("cloud-amazon")[0], s.Prefixes(setPrivateRelay)[0]} {
		if info, tags, _ := e.Lookup(inside(p)); info.Datacenter || info.PrivateRelay || len(tags) > 0 && tags[0] != TagVPN {
			t.Errorf("%v: %+v %v", p, info, tags)
		}
	}
}

// writeMMDB builds a small database with mmdbwriter.
func writeMMDB(t *testing.T, dbType string, records map[string]mmdbtype.Map) string {
	return writeMMDBB(t, dbType, records)
}

func writeMMDBB(t testing.TB, dbType string, records map[string]mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), strings.ToLower(dbType)+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMMDB(t *testing.T) {
	asnDB := writeMMDB(t, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"8.8.8.0/24":      {"autonomous_system_number": mmdbtype.Uint32(15169), "autonomous_system_organization": mmdbtype.String("GOOGLE")},
		"198.51.100.0/24": {"autonomous_system_number": mmdbtype.Uint32(16276), "autonomous_system_organization": mmdbtype.String("OVH SAS")},
		"2001:db8::/32":   {"autonomous_system_number": mmdbtype.Uint32(64500), "autonomous_system_organization": mmdbtype.String("EXAMPLE-V6")},
	})
	countryDB := writeMMDB(t, "GeoLite2-City", map[string]mmdbtype.Map{
		"8.8.8.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("US"), "names": mmdbtype.Map{"en": mmdbtype.String("United States")}},
			"city": mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Mountain View")}}},
		"203.0.113.0/24": {"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("NZ")}},
	})
	ipinfoLite := writeMMDB(t, "ipinfo ipinfo_lite.mmdb", map[string]mmdbtype.Map{
		"1.1.1.0/24": {"asn": mmdbtype.String("AS13335"), "as_name": mmdbtype.String("Cloudflare, Inc."),
			"country_code": mmdbtype.String("AU"), "country": mmdbtype.String("Australia")},
	})
	// IPinfo's older free database, under a type name we do not know: the
	// shape is probed ("country" is a string, not a map).
	ipinfoOld := writeMMDB(t, "custom-country-asn", map[string]mmdbtype.Map{
		"9.9.9.0/24": {"asn": mmdbtype.String("AS19281"), "name": mmdbtype.String("Quad9"), "country": mmdbtype.String("ch")},
	})

	cfg := DefaultConfig()
	cfg.MMDB = []string{asnDB, countryDB, ipinfoLite, ipinfoOld}
	e := newEngine(t, cfg)
	tests := []struct {
		ip      string
		asn     uint32
		org     string
		country string
		tags    []string
	}{
		{"8.8.8.8", 15169, "GOOGLE", "US", nil},
		{"1.1.1.1", 13335, "Cloudflare, Inc.", "AU", nil},
		{"9.9.9.9", 19281, "", "CH", nil},
		{"203.0.113.9", 0, "", "NZ", nil},
		{"198.51.100.7", 16276, "OVH SAS", "", []string{TagDatacenter, TagHostingASN}},
		{"2001:db8::1", 64500, "EXAMPLE-V6", "", nil},
		{"::ffff:8.8.8.8", 15169, "GOOGLE", "US", nil},
		{"192.0.2.1", 0, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			info, tags, err := e.Lookup(netip.MustParseAddr(tt.ip))
			if err != nil {
				t.Fatal(err)
			}
			if info.ASN != tt.asn || info.ASOrg != tt.org || info.Country != tt.country {
				t.Fatalf("%+v", info)
			}
			for _, tag := range tt.tags {
				if !slices.Contains(tags, tag) {
					t.Errorf("missing %s in %v", tag, tags)
				}
			}
		})
	}
	// Forcing the wrong shape gives a decode error, counted, not a panic;
	// the other signals are still returned.
	cfg.MMDB, cfg.MMDBFormat = []string{ipinfoLite}, FormatMaxMind
	bad := newEngine(t, cfg)
	v := &detect.Verdict{}
	err := bad.Evaluate(context.Background(), &detect.Request{ClientIP: netip.MustParseAddr("1.1.1.1")}, v)
	if err == nil || !strings.Contains(err.Error(), "ipinfo_lite") {
		t.Fatalf("err = %v", err)
	}
}

func TestMMDBErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("this is not a maxmind database"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"missing": filepath.Join(dir, "none.mmdb"), "garbage": garbage, "empty": ""} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MMDB = []string{path}
			_, err := New(cfg, zerolog.Nop(), nil)
			if err == nil || !strings.Contains(err.Error(), "mmdb[0]") {
				t.Fatalf("err = %v", err)
			}
		})
	}
	cfg := DefaultConfig()
	cfg.MMDBFormat = "geoip3"
	// Field names are relative: the config package prefixes the section.
	if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), "mmdb_format:") {
		t.Fatalf("err = %v", err)
	}
}

func TestRangesFileOverlay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ranges.json")
	cfg := DefaultConfig()
	cfg.RangesFile = path
	e := newEngine(t, cfg)                   // missing file: embedded only
	ip := netip.MustParseAddr("81.2.69.160") // a UK ISP, in no embedded set
	if info, _, _ := e.Lookup(ip); info.Datacenter {
		t.Fatal("residential address is a datacenter?")
	}
	s := ranges.New()
	s.Sets["cloud-example"] = &ranges.Set{Prefixes: []netip.Prefix{netip.MustParsePrefix("81.2.69.0/24")}}
	s.Sets["private-relay"] = &ranges.Set{Prefixes: []netip.Prefix{netip.MustParsePrefix("86.1.2.0/24")}}
	if err := s.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, tags, _ := e.Lookup(ip); !slices.Contains(tags, "cloud-example") {
		t.Fatalf("tags %v", tags)
	}
	if info, _, _ := e.Lookup(netip.MustParseAddr("86.1.2.3")); !info.PrivateRelay {
		t.Fatal("relay set from file not used")
	}
	old := inside(embedded(t).Prefixes(setPrivateRelay)[0])
	if info, _, _ := e.Lookup(old); info.PrivateRelay {
		t.Fatal("file set did not replace the embedded relay set")
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err == nil || !strings.Contains(err.Error(), "network.ranges_file") {
		t.Fatalf("err = %v", err)
	}
	if _, tags, _ := e.Lookup(ip); !slices.Contains(tags, "cloud-example") {
		t.Fatal("tables lost after a failed reload")
	}
}

func TestParseASNList(t *testing.T) {
	m, err := parseASNList([]byte("AS15169 # Google\n\n# comment\n  as13335\n16276\n"))
	if err != nil || len(m) != 3 || !m[15169] || !m[13335] || !m[16276] {
		t.Fatalf("%v %v", m, err)
	}
	if _, err := parseASNList([]byte("ASxyz\n")); err == nil {
		t.Fatal("accepted garbage")
	}
	if _, err := New(DefaultConfig(), zerolog.Nop(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestCountryCode(t *testing.T) {
	for in, want := range map[string]string{"us": "US", "US": "US", "USA": "", "1A": "", "": "", "Ü": ""} {
		if got := countryCode(in); got != want {
			t.Errorf("countryCode(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]uint32{"AS15169": 15169, "as1": 1, "15169": 15169, "AS": 0, "AS-1": 0, "AS99999999999": 0} {
		if got := parseASN(in); got != want {
			t.Errorf("parseASN(%q) = %d, want %d", in, got, want)
		}
	}
}

// FuzzNetworkLookup: any address (any bytes, any zone) gets a verdict, and
// a Private Relay address is never also a datacenter.
func FuzzNetworkLookup(f *testing.F) {
	e := newEngine(f, DefaultConfig())
	s := embedded(f)
	for _, set := range []string{setPrivateRelay, setDatacenter, "cloud-amazon", "vpn-x4bnet"} {
		f.Add(inside(s.Prefixes(set)[0]).AsSlice(), "")
	}
	f.Add([]byte{203, 0, 113, 7}, "")
	f.Add(netip.MustParseAddr("::ffff:8.8.8.8").AsSlice(), "")
	f.Add(netip.MustParseAddr("fe80::1").AsSlice(), "eth0")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, raw []byte, zone string) {
		ip, _ := netip.AddrFromSlice(raw)
		if ip.Is6() && zone != "" {
			ip = ip.WithZone(zone)
		}
		info, tags, err := e.Lookup(ip)
		if err != nil {
			t.Fatal(err)
		}
		if info.PrivateRelay && (info.Datacenter || slices.Contains(tags, TagDatacenter)) {
			t.Fatalf("%v: relay and datacenter", ip)
		}
		if info.Datacenter != slices.Contains(tags, TagDatacenter) {
			t.Fatalf("%v: flag %v tags %v", ip, info.Datacenter, tags)
		}
	})
}

// Lookups keep working while the ranges and MMDB files are reloaded (run
// with -race): replaced databases are closed only after a delay.
func TestConcurrentLookupReload(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MMDB = []string{writeMMDB(t, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"86.0.0.0/13": {"autonomous_system_number": mmdbtype.Uint32(5089), "autonomous_system_organization": mmdbtype.String("Virgin Media Limited")},
	})}
	e := newEngine(t, cfg)
	ip := netip.MustParseAddr("86.1.2.3")
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(done)
		for range 2000 {
			if info, _, err := e.Lookup(ip); err != nil || info.ASN != 5089 {
				errs <- fmt.Errorf("%+v %v", info, err)
				return
			}
		}
	}()
	for range 3 {
		if err := e.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}
