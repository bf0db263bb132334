package wasmfilter

import (
	"testing"

	"github.com/botwarden/botwarden/detect"
)

// The filter keeps its own copies of detect's names (see names.go); these
// tests fail if the two drift apart.
func TestNamesMatchDetect(t *testing.T) {
	for got, want := range map[string]string{
		HeaderScore:        detect.HeaderScore,
		HeaderCategory:     detect.HeaderCategory,
		HeaderJSDetection:  detect.HeaderJSDetection,
		HeaderJA4:          detect.HeaderJA4,
		HeaderJSExpected:   detect.HeaderJSExpected,
		headerPrefixBot:    detect.HeaderPrefixBot,
		headerPrefixWarden: detect.HeaderPrefixWarden,
	} {
		if got != want {
			t.Errorf("%q != detect's %q", got, want)
		}
	}
	for _, name := range []string{"x-bot-score", "x-bot-", "x-botwarden-", "x-botwarden-session", detect.HeaderJA4,
		"x-botnet", "x-bo", "accept", "", "x-botwarden-ja4x", "x-bot-verified", HeaderJSExpected} {
		if reserved(name) != detect.Reserved(name) {
			t.Errorf("reserved(%q) = %v, detect.Reserved = %v", name, reserved(name), detect.Reserved(name))
		}
	}
	for score := -1; score <= 100; score++ {
		if category(score) != string(detect.CategoryOf(score)) {
			t.Errorf("category(%d) = %q, detect.CategoryOf = %q", score, category(score), detect.CategoryOf(score))
		}
	}
}
