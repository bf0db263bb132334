package network

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/oschwald/maxminddb-golang/v2"
)

// MMDB shapes. MaxMind's GeoLite2/GeoIP2 ASN, Country and City databases
// keep autonomous_system_number / autonomous_system_organization and
// country.iso_code; IPinfo's databases keep asn ("AS15169"), as_name and
// country_code (Lite) or a two-letter country (the older country_asn).
const (
	FormatAuto    = "auto"
	FormatMaxMind = "maxmind"
	FormatIPinfo  = "ipinfo"
)

const (
	shapeUnknown int32 = iota
	shapeMaxMind
	shapeIPinfo
)

type isoField struct {
	ISOCode string `maxminddb:"iso_code"`
}

type maxmindRecord struct {
	ASN               uint32   `maxminddb:"autonomous_system_number"`
	ASOrg             string   `maxminddb:"autonomous_system_organization"`
	Country           isoField `maxminddb:"country"`
	RegisteredCountry isoField `maxminddb:"registered_country"`
}

type ipinfoRecord struct {
	ASN         string `maxminddb:"asn"`
	ASName      string `maxminddb:"as_name"`
	CountryCode string `maxminddb:"country_code"`
	Country     string `maxminddb:"country"`
}

// geoRecord is what one database says about an address.
type geoRecord struct {
	ASN     uint32
	ASOrg   string
	Country string
}

// mmdb is one opened database.
type mmdb struct {
	path  string
	r     *maxminddb.Reader
	shape atomic.Int32
}

func openMMDB(path, format string) (*mmdb, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	db := &mmdb{path: path, r: r}
	dt := strings.ToLower(r.Metadata.DatabaseType)
	switch {
	case format == FormatMaxMind:
		db.shape.Store(shapeMaxMind)
	case format == FormatIPinfo:
		db.shape.Store(shapeIPinfo)
	case strings.Contains(dt, "ipinfo"):
		db.shape.Store(shapeIPinfo)
	case strings.HasPrefix(dt, "geolite") || strings.HasPrefix(dt, "geoip"):
		db.shape.Store(shapeMaxMind)
	}
	return db, nil
}

func (db *mmdb) close() error { return db.r.Close() }

// lookup decodes ip's record. A database of unknown type is probed: the
// MaxMind shape first, then IPinfo's (their "country" fields have different
// types, so the wrong one fails to decode), and the answer is remembered.
func (db *mmdb) lookup(ip netip.Addr) (geoRecord, error) {
	res := db.r.Lookup(ip)
	if err := res.Err(); err != nil {
		return geoRecord{}, fmt.Errorf("%s: %w", db.path, err)
	}
	if !res.Found() {
		return geoRecord{}, nil
	}
	shape := db.shape.Load()
	if shape != shapeIPinfo {
		var m maxmindRecord
		err := res.Decode(&m)
		if err == nil {
			if shape == shapeUnknown {
				db.shape.Store(shapeMaxMind)
			}
			c := m.Country.ISOCode
			if c == "" {
				c = m.RegisteredCountry.ISOCode
			}
			return geoRecord{ASN: m.ASN, ASOrg: m.ASOrg, Country: countryCode(c)}, nil
		}
		if shape == shapeMaxMind {
			return geoRecord{}, fmt.Errorf("%s: %w", db.path, err)
		}
	}
	var p ipinfoRecord
	if err := res.Decode(&p); err != nil {
		return geoRecord{}, fmt.Errorf("%s: %w", db.path, err)
	}
	db.shape.Store(shapeIPinfo)
	c := p.CountryCode
	if c == "" && len(p.Country) == 2 {
		c = p.Country
	}
	return geoRecord{ASN: parseASN(p.ASN), ASOrg: p.ASName, Country: countryCode(c)}, nil
}

// parseASN reads "AS15169" or "15169"; anything else is 0.
func parseASN(s string) uint32 {
	s = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "AS")
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// countryCode keeps a valid ISO 3166-1 alpha-2 code, upper-cased.
func countryCode(s string) string {
	if len(s) != 2 {
		return ""
	}
	s = strings.ToUpper(s)
	if s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return ""
	}
	return s
}
