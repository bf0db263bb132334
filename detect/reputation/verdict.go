// Package reputation holds the verdicts the asynchronous analysis publishes
// (Netacea's "analysis results published for the plugin to read") and the
// engine that applies them on the hot path. A Store is keyed by client keys
// (session, IP, IP prefix, JA4); the embedded default is an in-process
// bigcache, and the interface is small so a shared backend (Redis) can
// implement it too.
package reputation

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/botwarden/botwarden/detect"
)

// Verdict is one published judgement about a client key.
type Verdict struct {
	Key    string        // see KeySession, KeyIP, KeyPrefix, KeyJA4
	Score  int           // 1–99 (Cloudflare scale); >29 means "tag only"
	Source detect.Source // behavioral_analysis or anomaly_detection
	Tags   []string
	Expiry time.Time
}

// Expired reports whether v is no longer valid at now.
func (v Verdict) Expired(now time.Time) bool { return !now.Before(v.Expiry) }

// Key prefixes: a key says which kind of client identity it names.
const (
	PrefixSession = "session:"
	PrefixIP      = "ip:"
	PrefixNet     = "net:"
	PrefixJA4     = "ja4:"
	// PrefixFeedback marks a verdict an operator's feedback report put
	// (see KeyFeedback): it lives beside the analysis's verdict for the
	// same client, so neither replaces the other.
	PrefixFeedback = "feedback:"
)

// Feedback verdicts: an exemption (a false positive) is a tag-only
// verdict with TagExempt; a false negative is a scored verdict with
// TagFalseNegative.
const (
	TagExempt        = "feedback_exempt"
	TagFalseNegative = "feedback_false_negative"
)

// KeyFeedback names the operator's verdict about client key k.
func KeyFeedback(k string) string { return PrefixFeedback + k }

// IsExemption reports whether v is an operator's false-positive exemption.
func (v Verdict) IsExemption() bool {
	return strings.HasPrefix(v.Key, PrefixFeedback) && slices.Contains(v.Tags, TagExempt)
}

// KeySession names a session id (from the session cookie).
func KeySession(id string) string { return PrefixSession + id }

// KeyIP names one client address.
func KeyIP(a netip.Addr) string { return PrefixIP + a.Unmap().String() }

// KeyPrefix names the network of a: a /v4Bits IPv4 or /v6Bits IPv6 prefix.
func KeyPrefix(a netip.Addr, v4Bits, v6Bits int) string {
	p, ok := Prefix(a, v4Bits, v6Bits)
	if !ok {
		return ""
	}
	return PrefixNet + p.String()
}

// Prefix returns the masked network of a (/v4Bits or /v6Bits).
func Prefix(a netip.Addr, v4Bits, v6Bits int) (netip.Prefix, bool) {
	a = a.Unmap()
	bits := v6Bits
	if a.Is4() {
		bits = v4Bits
	}
	p, err := a.Prefix(bits)
	return p, err == nil && a.IsValid()
}

// KeyJA4 names a TLS JA4 fingerprint.
func KeyJA4(fp string) string { return PrefixJA4 + fp }

// Encoding limits: a verdict record stays small whatever the analysis put in.
const (
	encVersion = 1
	maxTags    = 32
	maxTagLen  = 64
)

// sources maps Source values to one byte; index 0 is "unknown".
var sources = []detect.Source{
	"", detect.SourceNotComputed, detect.SourceHeuristics, detect.SourceML,
	detect.SourceBehavioral, detect.SourceVerifiedBot, detect.SourceJSDetection,
	detect.SourceAnomaly, detect.SourceReputation,
}

func sourceIndex(s detect.Source) byte {
	for i, x := range sources {
		if x == s {
			return byte(i)
		}
	}
	return 0
}

// AppendBinary appends the compact encoding of v (without its key, which
// the store keeps) to b: version, score, source, expiry (unix ms varint),
// then the tags as length-prefixed strings.
func (v Verdict) AppendBinary(b []byte) []byte {
	score := min(max(v.Score, 0), 255)
	b = append(b, encVersion, byte(score), sourceIndex(v.Source))
	b = binary.AppendVarint(b, v.Expiry.UnixMilli())
	n := min(len(v.Tags), maxTags)
	b = binary.AppendUvarint(b, uint64(n))
	for _, t := range v.Tags[:n] {
		t = fitTag(t)
		b = binary.AppendUvarint(b, uint64(len(t)))
		b = append(b, t...)
	}
	return b
}

var errCorrupt = errors.New("reputation: corrupt verdict record")

// fitTag makes a tag storable: valid UTF-8 (invalid bytes become U+FFFD) and
// at most maxTagLen bytes, cut at a rune boundary. Encoding and decoding both
// apply it, so a record always decodes to what re-encodes the same.
func fitTag(t string) string {
	if !utf8.ValidString(t) {
		t = strings.ToValidUTF8(t, "\uFFFD")
	}
	if len(t) <= maxTagLen {
		return t
	}
	cut := maxTagLen
	for cut > 0 && !utf8.RuneStart(t[cut]) {
		cut--
	}
	return t[:cut]
}

// DecodeVerdict parses a record written by AppendBinary. key is attached to
// the result. Corrupt input yields an error, never a panic.
func DecodeVerdict(key string, b []byte) (Verdict, error) {
	if len(b) < 4 || b[0] != encVersion {
		return Verdict{}, errCorrupt
	}
	v := Verdict{Key: key, Score: int(b[1])}
	if int(b[2]) < len(sources) {
		v.Source = sources[b[2]]
	}
	b = b[3:]
	ms, n := binary.Varint(b)
	if n <= 0 {
		return Verdict{}, errCorrupt
	}
	v.Expiry = time.UnixMilli(ms)
	b = b[n:]
	cnt, n := binary.Uvarint(b)
	if n <= 0 || cnt > maxTags {
		return Verdict{}, errCorrupt
	}
	b = b[n:]
	if cnt > 0 {
		v.Tags = make([]string, 0, cnt)
	}
	for range cnt {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > maxTagLen || uint64(len(b)-n) < l {
			return Verdict{}, errCorrupt
		}
		v.Tags = append(v.Tags, fitTag(string(b[n:n+int(l)])))
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return Verdict{}, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(b))
	}
	return v, nil
}
