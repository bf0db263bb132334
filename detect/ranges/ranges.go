// Package ranges holds named sets of IP prefixes (an operator's published
// crawler ranges, a cloud's address space, iCloud Private Relay egress) in
// one snapshot format, the parsers for the shapes operators publish them in,
// and Update, which refreshes a snapshot file from the official URLs.
//
// The same format is embedded in the binary (detect/verified/data,
// detect/network/data) and written by `botwarden update-ranges`; engines load
// the embedded snapshot and let sets of the same name from the configured
// ranges file replace it (Overlay).
package ranges

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/botwarden/botwarden/internal/atomicfile"
)

// FormatVersion identifies the snapshot file format.
const FormatVersion = "botwarden-ranges/1"

// Snapshot is a set of named prefix lists.
type Snapshot struct {
	Format    string          `json:"format"`
	Generated time.Time       `json:"generated"`
	Sets      map[string]*Set `json:"sets"`
}

// Set is one named prefix list and where it came from.
type Set struct {
	// Sources are the URLs (or the description of the data) the set was
	// built from, for attribution and for `update-ranges` reports.
	Sources  []string       `json:"sources"`
	Fetched  time.Time      `json:"fetched"`
	Prefixes []netip.Prefix `json:"prefixes"`
}

// New returns an empty snapshot.
func New() *Snapshot {
	return &Snapshot{Format: FormatVersion, Sets: map[string]*Set{}}
}

// Len returns the number of prefixes in set name (0 when absent).
func (s *Snapshot) Len(name string) int {
	if s == nil || s.Sets[name] == nil {
		return 0
	}
	return len(s.Sets[name].Prefixes)
}

// Prefixes returns the prefixes of set name (nil when absent).
func (s *Snapshot) Prefixes(name string) []netip.Prefix {
	if s == nil || s.Sets[name] == nil {
		return nil
	}
	return s.Sets[name].Prefixes
}

// Names returns the set names in sorted order.
func (s *Snapshot) Names() []string {
	names := make([]string, 0, len(s.Sets))
	for n := range s.Sets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Overlay returns a snapshot with every set of s, where sets of the same
// name in over replace those of s. Neither input is modified.
func (s *Snapshot) Overlay(over *Snapshot) *Snapshot {
	out := New()
	out.Generated = s.Generated
	for n, set := range s.Sets {
		out.Sets[n] = set
	}
	if over != nil {
		for n, set := range over.Sets {
			out.Sets[n] = set
		}
		if over.Generated.After(out.Generated) {
			out.Generated = over.Generated
		}
	}
	return out
}

// Normalize masks, de-duplicates and sorts every set and drops prefixes
// that are not Plausible, so files diff well, lookups never see a prefix
// with host bits set, and a documentation range in an operator's list
// cannot mark test or private addresses.
func (s *Snapshot) Normalize() {
	for _, set := range s.Sets {
		set.Prefixes = normalize(set.Prefixes)
	}
}

func normalize(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p = Canonical(p); Plausible(p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out)
}

// Canonical masks p and turns an IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/n,
// n ≥ 96) into its IPv4 form, because lookups unmap addresses first. Any other
// prefix comes back masked; an invalid one comes back invalid.
func Canonical(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return p.Masked()
		}
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// Parse decodes a snapshot (plain or gzip-compressed JSON) and validates it.
func Parse(data []byte) (*Snapshot, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("ranges snapshot: gzip: %w", err)
		}
		data, err = io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("ranges snapshot: gzip: %w", err)
		}
	}
	s := New()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("ranges snapshot: %w", err)
	}
	if s.Format != FormatVersion {
		return nil, fmt.Errorf("ranges snapshot: format %q, want %q", s.Format, FormatVersion)
	}
	for name, set := range s.Sets {
		if set == nil {
			return nil, fmt.Errorf("ranges snapshot: set %q is null", name)
		}
		for _, p := range set.Prefixes {
			if !p.IsValid() {
				return nil, fmt.Errorf("ranges snapshot: set %q holds an invalid prefix", name)
			}
		}
	}
	s.Normalize()
	return s, nil
}

// Load reads and parses the snapshot file at path.
func Load(path string) (*Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ranges snapshot: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Marshal encodes s as indented JSON (gzip-compressed when compress is set).
func (s *Snapshot) Marshal(compress bool) ([]byte, error) {
	s.Format = FormatVersion
	s.Normalize()
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return nil, fmt.Errorf("ranges snapshot: %w", err)
	}
	data = append(data, '\n')
	if !compress {
		return data, nil
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, fmt.Errorf("ranges snapshot: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("ranges snapshot: gzip: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteFile writes s to path atomically: a temporary file in the same
// directory is written, synced and renamed over path, so a reader (the
// server loading the file) sees the old or the new snapshot, never half.
// Paths ending in .gz are written compressed.
func (s *Snapshot) WriteFile(path string) error {
	data, err := s.Marshal(filepath.Ext(path) == ".gz")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data)
}

// Layer returns base with the sets of the snapshot file at path laid over
// it (Overlay). An empty path or a missing file yields base alone — missing
// tells the latter apart, for a warning; a file that exists but cannot be
// read or parsed is an error, so a broken update is noticed at start.
func Layer(base *Snapshot, path string) (s *Snapshot, missing bool, err error) {
	if path == "" {
		return base, false, nil
	}
	file, err := Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return base, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return base.Overlay(file), false, nil
}
