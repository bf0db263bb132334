package wasmfilter

import "strings"

// Header names and values shared with the server. They equal the constants
// and functions of package detect (names_test.go checks it); they are not
// imported from there because detect pulls net/http into the module, which
// nearly doubles its size for a handful of strings.
const (
	HeaderScore       = "x-bot-score"
	HeaderCategory    = "x-bot-category"
	HeaderJSDetection = "x-bot-js-detection"
	HeaderJA4         = "x-botwarden-ja4"
	// HeaderJSExpected marks a request to a page the filter injects the
	// detection into, for ext_authz (detect.HeaderJSExpected). Reserved,
	// so a client's copy is removed like every x-botwarden-* header.
	HeaderJSExpected   = "x-botwarden-js-expected"
	headerPrefixBot    = "x-bot-"
	headerPrefixWarden = "x-botwarden-"
)

// reserved reports whether a lower-case header name belongs to botwarden
// and must never be accepted from a client (as detect.Reserved): the JA4
// header is exempt because Envoy's header_mutation filter overwrites it
// before this filter runs.
func reserved(name string) bool {
	if name == HeaderJA4 {
		return false
	}
	return strings.HasPrefix(name, headerPrefixBot) || strings.HasPrefix(name, headerPrefixWarden)
}

// category maps a score to its category (docs/architecture.md,
// "Vocabulary"), as detect.CategoryOf does.
func category(score int) string {
	switch {
	case score <= 0:
		return "not_computed"
	case score == 1:
		return "automated"
	case score < 30:
		return "likely_automated"
	}
	return "likely_human"
}
