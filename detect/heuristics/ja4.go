package heuristics

import (
	"fmt"
	"strings"
)

// JA4Entry is one known TLS client fingerprint.
type JA4Entry struct {
	// JA4 is a full fingerprint (a_b_c) or its first one or two sections as
	// a prefix ("t13d1812h1_85036bcba153" matches any c). The SNI flag (the
	// fourth character, d or i) is ignored: the same client gives "i" when
	// it connects to an IP address.
	JA4 string `yaml:"ja4"`
	// Stack names the TLS client ("curl", "python-requests", "chromium").
	Stack string `yaml:"stack"`
	// Browser is true for browser stacks; false entries are the non-browser
	// clients whose fingerprint under a browser UA is a spoof.
	Browser bool `yaml:"browser"`
	// Source says where the value comes from (a citation or a measurement).
	Source string `yaml:"source"`
}

// Sources of the built-in values. "measured" rows were taken in this
// repository's build environment (Debian 12) by TestJA4TableMatchesRealClients,
// which re-measures them with the installed clients against a local TLS
// listener; "FoxIO" rows are from FoxIO-LLC/ja4's ja4plus-mapping.csv.
const (
	srcFoxIO    = "FoxIO-LLC/ja4 ja4plus-mapping.csv"
	srcMeasured = "measured: TestJA4TableMatchesRealClients, Debian 12"
)

// DefaultJA4 is the built-in table. Browser fingerprints change with every
// TLS change in a browser (Chrome's ML-KEM, ECH): they are listed for
// classification only and never required, so an unknown JA4 is never a
// detection by itself.
var DefaultJA4 = []JA4Entry{
	{"t13d3112h2_e8f1e7e78f70_b26ce05bbdd6", "curl", false, srcMeasured + " (curl 7.88.1, OpenSSL 3.0.19)"},
	{"t13d291300_723694b0fccc_899037bd0b8c", "wget", false, srcMeasured + " (GNU Wget 1.21.3, GnuTLS)"},
	{"t13d1812h1_85036bcba153_b26ce05bbdd6", "python-requests", false, srcMeasured + " (requests 2.34.2, urllib3, OpenSSL 3.0.19)"},
	{"t13d181100_85036bcba153_d41ae481755e", "python-urllib", false, srcMeasured + " (Python urllib.request, OpenSSL 3.0.19)"},
	{"t13d181000_85036bcba153_d41ae481755e", "python", false, srcFoxIO + " (Python)"},
	{"t13d190900_9dc949149365_97f8aa674fd9", "go", false, srcFoxIO + " (GoLang)"},
	{"t13d1312h2_f57a46bbacb6_ab7e3b40a677", "go", false, srcMeasured + " (Go 1.26 net/http)"},
	{"t13d591000_a33745022dd6_1f22a2ca17c4", "node", false, srcMeasured + " (Node.js 20 https, OpenSSL 3.0)"},
	{"t13d5911h1_a33745022dd6_1f22a2ca17c4", "node", false, srcMeasured + " (Node.js 20 fetch/undici)"},
	{"t13d3713h2_db35923f8641_7c76daad20ec", "java", false, srcMeasured + " (OpenJDK 17 java.net.http.HttpClient)"},

	{"t13d1516h2_8daaf6152771_02713d6af862", "chromium", true, srcFoxIO + " (Chromium Browser)"},
	{"t13d1517h2_8daaf6152771_b0da82dd1658", "chromium", true, srcFoxIO + " (Chromium Browser)"},
	{"t13d1517h2_8daaf6152771_b1ff8ab2d16f", "chromium", true, srcFoxIO + " (Chromium Browser)"},
	{"q13d0312h3_55b375c5d22e_06cda9e17597", "chromium", true, srcFoxIO + " (Chromium Browser, QUIC)"},
	{"t13d1517h2_8daaf6152771_cb7bf5808d99", "chromium", true, srcMeasured + " (Debian chromium 156)"},
}

// JA4Table classifies JA4 fingerprints.
type JA4Table struct {
	exact  map[string]JA4Entry
	prefix []JA4Entry
}

// NewJA4Table builds a table from entries (later entries win on equal keys).
func NewJA4Table(entries []JA4Entry) (*JA4Table, error) {
	t := &JA4Table{exact: map[string]JA4Entry{}}
	for i, e := range entries {
		if err := validJA4(e.JA4); err != nil {
			return nil, fmt.Errorf("ja4 entry %d (%s): %w", i, e.Stack, err)
		}
		if e.Stack == "" {
			return nil, fmt.Errorf("ja4 entry %d (%s): stack is empty", i, e.JA4)
		}
		e.JA4 = normaliseJA4(e.JA4)
		if strings.Count(e.JA4, "_") == 2 {
			t.exact[e.JA4] = e
		} else {
			t.prefix = append(t.prefix, e)
		}
	}
	return t, nil
}

// Lookup returns the entry for fingerprint ja4, if known.
func (t *JA4Table) Lookup(ja4 string) (JA4Entry, bool) {
	if len(ja4) < 10 || len(ja4) > 64 {
		return JA4Entry{}, false
	}
	n := normaliseJA4(ja4)
	if e, ok := t.exact[n]; ok {
		return e, true
	}
	for _, e := range t.prefix {
		if strings.HasPrefix(n, e.JA4) && (len(n) == len(e.JA4) || n[len(e.JA4)] == '_') {
			return e, true
		}
	}
	return JA4Entry{}, false
}

// normaliseJA4 lower-cases a fingerprint and sets its SNI flag to "d".
func normaliseJA4(s string) string {
	s = strings.ToLower(s)
	if len(s) > 3 && s[3] == 'i' {
		s = s[:3] + "d" + s[4:]
	}
	return s
}

// validJA4 checks the shape: section a is 10 characters starting with t, q
// or d; b and c are 12 hex characters.
func validJA4(s string) error {
	parts := strings.Split(strings.ToLower(s), "_")
	if len(parts) > 3 {
		return fmt.Errorf("want at most 3 sections, got %d", len(parts))
	}
	if len(parts[0]) != 10 || !strings.ContainsRune("tqd", rune(parts[0][0])) {
		return fmt.Errorf("section a %q: want 10 characters starting with t, q or d", parts[0])
	}
	for _, p := range parts[1:] {
		if len(p) != 12 || strings.Trim(p, "0123456789abcdef") != "" {
			return fmt.Errorf("section %q: want 12 hex characters", p)
		}
	}
	return nil
}
