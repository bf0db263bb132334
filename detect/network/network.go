// Package network tells what kind of network a client address belongs to:
// a datacenter or cloud (embedded X4BNet datacenter list and the clouds'
// published ranges), a VPN, or iCloud Private Relay — a human behind Apple's
// proxy, never counted as a datacenter — and, from a user-supplied MaxMind or
// IPinfo MMDB, its ASN and country. It fills detect.Verdict.IP and tags; it
// does not score.
package network

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ranges"
	"github.com/botwarden/botwarden/internal/promreg"
)

// Tags this engine adds.
const (
	TagDatacenter   = "datacenter-ip"
	TagPrivateRelay = "private-relay"
	TagVPN          = "vpn-ip"
	TagHostingASN   = "hosting-asn"
	// TagCloudPrefix + provider ("cloud-amazon", "cloud-google", ...).
	TagCloudPrefix = "cloud-"
)

// Set names in the snapshot.
const (
	setDatacenter   = "datacenter-x4bnet"
	setPrivateRelay = "private-relay"
	setVPNPrefix    = "vpn-"
	setCloudPrefix  = "cloud-"
)

// Config configures the network engine. The engine has no on/off switch of
// its own: it runs when detection.engines lists "network".
type Config struct {
	// RangesFile is the snapshot written by `botwarden update-ranges` (the
	// same file as verified.ranges_file); its sets replace embedded ones of
	// the same name.
	RangesFile string `yaml:"ranges_file"`
	// Datacenter marks datacenter and cloud addresses (ip.datacenter).
	Datacenter bool `yaml:"datacenter"`
	// PrivateRelay recognises iCloud Private Relay egress (a human).
	PrivateRelay bool `yaml:"private_relay"`
	// VPN tags known VPN exits (vpn-ip).
	VPN bool `yaml:"vpn"`
	// MMDB lists MaxMind (GeoLite2/GeoIP2 ASN, Country, City) or IPinfo
	// databases for ip.asn and ip.country; the first that answers a field
	// wins.
	MMDB []string `yaml:"mmdb"`
	// MMDBFormat is auto (from the database type, else probed), maxmind or
	// ipinfo.
	MMDBFormat string `yaml:"mmdb_format"`
	// HostingASNs marks an address whose ASN (from an MMDB) is a known
	// hosting provider as a datacenter even outside the prefix lists.
	HostingASNs bool `yaml:"hosting_asns"`
}

// DefaultConfig enables every embedded signal; no MMDB.
func DefaultConfig() Config {
	return Config{Datacenter: true, PrivateRelay: true, VPN: true, MMDBFormat: FormatAuto, HostingASNs: true}
}

// Validate reports every invalid field, each named relative to the
// section (the config package adds "network.").
func (c Config) Validate() error {
	var errs []error
	switch c.MMDBFormat {
	case "", FormatAuto, FormatMaxMind, FormatIPinfo:
	default:
		errs = append(errs, fmt.Errorf("mmdb_format: %q: want auto, maxmind or ipinfo", c.MMDBFormat))
	}
	for i, p := range c.MMDB {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, fmt.Errorf("mmdb[%d]: empty path", i))
		}
	}
	return errors.Join(errs...)
}

//go:embed data/network.json.gz
var embeddedRanges []byte

//go:embed data/hosting-asns.txt
var hostingASNText []byte

// EmbeddedRanges parses the snapshot compiled into the binary. It is not
// cached: once the tables are built the ~90k parsed prefixes (2.8 MB) would
// only double the memory, and a reload is rare.
func EmbeddedRanges() (*ranges.Snapshot, error) { return ranges.Parse(embeddedRanges) }

// mmdbCloseDelay is how long replaced MMDB files stay open after Reload.
const mmdbCloseDelay = 30 * time.Second

// tables are the lookup structures built from one snapshot.
type tables struct {
	relay    *bart.Lite
	vpn      *bart.Lite
	dc       *bart.Lite
	cloud    *bart.Table[uint8] // value: index into providers
	provider []string           // "amazon", "google", ...
	prefixes int
}

// Engine implements detect.Engine.
type Engine struct {
	cfg      Config
	log      zerolog.Logger
	tables   atomic.Pointer[tables]
	dbs      atomic.Pointer[[]*mmdb]
	hosting  map[uint32]bool
	reloadMu sync.Mutex
	errs     prometheus.Counter
}

// New builds the engine from the embedded snapshot, cfg.RangesFile and the
// configured MMDB files. It starts no goroutine; Close releases the MMDBs.
// log is used as given: the server's wiring has already named the engine
// in it (engine=...), and a second With would repeat the field.
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	e := &Engine{cfg: cfg, log: log}
	e.errs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "botwarden_network_mmdb_errors_total",
		Help: "MMDB lookups that failed to decode (the request kept its other network signals).",
	})
	var err error
	if e.errs, err = promreg.Register(reg, e.errs); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	hosting, err := parseASNList(hostingASNText)
	if err != nil {
		return nil, fmt.Errorf("network: embedded hosting ASNs: %w", err)
	}
	e.hosting = hosting
	empty := []*mmdb{}
	e.dbs.Store(&empty)
	if err := e.Reload(); err != nil {
		return nil, err
	}
	return e, nil
}

// Reload re-reads the ranges file and re-opens the MMDB files, swapping
// both atomically; on error the current ones stay.
func (e *Engine) Reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	base, err := EmbeddedRanges()
	if err != nil {
		return fmt.Errorf("network: embedded ranges: %w", err)
	}
	snap, missing, err := ranges.Layer(base, e.cfg.RangesFile)
	if err != nil {
		return fmt.Errorf("network.ranges_file: %w", err)
	}
	if missing {
		e.log.Warn().Str("ranges_file", e.cfg.RangesFile).Msg("ranges file not found; using the embedded snapshot (run update-ranges)")
	}
	var dbs []*mmdb
	for i, path := range e.cfg.MMDB {
		db, err := openMMDB(path, e.cfg.MMDBFormat)
		if err != nil {
			for _, d := range dbs {
				_ = d.close()
			}
			return fmt.Errorf("network.mmdb[%d]: %w", i, err)
		}
		dbs = append(dbs, db)
	}
	t := buildTables(snap)
	e.tables.Store(t)
	old := *e.dbs.Swap(&dbs)
	if len(old) > 0 {
		// A request may still be mid-lookup in the old, memory-mapped
		// files; unmapping under it would fault. Lookups take
		// microseconds, so the old files are closed a while later.
		time.AfterFunc(mmdbCloseDelay, func() {
			for _, db := range old {
				_ = db.close()
			}
		})
	}
	e.log.Info().Int("prefixes", t.prefixes).Int("mmdb", len(dbs)).Msg("network ranges loaded")
	return nil
}

func buildTables(s *ranges.Snapshot) *tables {
	t := &tables{relay: new(bart.Lite), vpn: new(bart.Lite), dc: new(bart.Lite), cloud: new(bart.Table[uint8])}
	for _, name := range s.Names() {
		ps := s.Prefixes(name)
		switch {
		case name == setPrivateRelay:
			insertAll(t.relay, ps)
		case name == setDatacenter:
			insertAll(t.dc, ps)
		case strings.HasPrefix(name, setVPNPrefix):
			insertAll(t.vpn, ps)
		case strings.HasPrefix(name, setCloudPrefix) && len(t.provider) < 255:
			idx := uint8(len(t.provider))
			t.provider = append(t.provider, strings.TrimPrefix(name, setCloudPrefix))
			for _, p := range ps {
				t.cloud.Insert(ranges.Canonical(p), idx)
			}
		default:
			continue
		}
		t.prefixes += len(ps)
	}
	return t
}

func insertAll(l *bart.Lite, ps []netip.Prefix) {
	for _, p := range ps {
		l.Insert(ranges.Canonical(p))
	}
}

// Close releases the MMDB files.
func (e *Engine) Close() error {
	var errs []error
	for _, db := range *e.dbs.Swap(&[]*mmdb{}) {
		errs = append(errs, db.close())
	}
	return errors.Join(errs...)
}

// Name implements detect.Engine.
func (e *Engine) Name() string { return "network" }

// Evaluate implements detect.Engine: it fills v.IP and adds tags.
func (e *Engine) Evaluate(_ context.Context, r *detect.Request, v *detect.Verdict) error {
	info, tags, err := e.Lookup(r.ClientIP)
	v.IP = info
	v.AddTags(tags...)
	if err != nil {
		e.errs.Inc()
	}
	return err
}

// Lookup classifies one address. Zones are ignored and IPv4-mapped IPv6 is
// treated as IPv4; an invalid address yields an empty IPInfo.
func (e *Engine) Lookup(ip netip.Addr) (detect.IPInfo, []string, error) {
	var info detect.IPInfo
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return info, nil, nil
	}
	t := e.tables.Load()
	var tags []string
	if e.cfg.PrivateRelay && t.relay.Contains(ip) {
		// Apple's relay egress sits in CDN (Cloudflare, Akamai, Fastly)
		// address space that the datacenter lists include: the relay wins.
		info.PrivateRelay = true
		tags = append(tags, TagPrivateRelay)
	}
	if e.cfg.Datacenter && !info.PrivateRelay {
		if idx, ok := t.cloud.Lookup(ip); ok {
			info.Datacenter = true
			tags = append(tags, TagDatacenter, TagCloudPrefix+t.provider[idx])
		} else if t.dc.Contains(ip) {
			info.Datacenter = true
			tags = append(tags, TagDatacenter)
		}
	}
	if e.cfg.VPN && !info.PrivateRelay && t.vpn.Contains(ip) {
		tags = append(tags, TagVPN)
	}
	var errs []error
	for _, db := range *e.dbs.Load() {
		if info.ASN != 0 && info.Country != "" {
			break
		}
		rec, err := db.lookup(ip)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info.ASN == 0 && rec.ASN != 0 {
			info.ASN, info.ASOrg = rec.ASN, rec.ASOrg
		}
		if info.Country == "" {
			info.Country = rec.Country
		}
	}
	if e.cfg.HostingASNs && e.cfg.Datacenter && !info.Datacenter && !info.PrivateRelay && e.hosting[info.ASN] {
		info.Datacenter = true
		tags = append(tags, TagDatacenter, TagHostingASN)
	}
	if len(errs) > 0 {
		return info, tags, fmt.Errorf("network: %w", errors.Join(errs...))
	}
	return info, tags, nil
}

// parseASNList reads "AS123 # comment" lines.
func parseASNList(data []byte) (map[uint32]bool, error) {
	out := map[uint32]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		s, _, _ := strings.Cut(sc.Text(), "#")
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n := parseASN(s)
		if n == 0 {
			return nil, fmt.Errorf("line %d: %q is not an AS number", line, s)
		}
		out[n] = true
	}
	return out, sc.Err()
}

// Providers returns the cloud provider names loaded.
func (e *Engine) Providers() []string { return slices.Clone(e.tables.Load().provider) }
