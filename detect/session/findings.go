package session

import "math/bits"

// Findings names the bits of token.Claims.Findings: what the JavaScript
// detection found, kept in the cookie so that later requests carry the same
// tags without re-running it. The order is part of the cookie format:
// append, never reorder.
var findingTags = [...]string{
	"headless",                 // HeadlessChrome in UA or UA-CH brands
	"webdriver",                // navigator.webdriver
	"automation",               // automation-framework globals or attributes
	"devtools",                 // side effects of an attached DevTools protocol client
	"swiftshader",              // software WebGL renderer (SwiftShader, llvmpipe, Mesa OffScreen)
	"no-plugins",               // a desktop Chrome without its built-in PDF plugins
	"no-languages",             // navigator.languages empty
	"permissions-inconsistent", // Notification.permission vs permissions.query disagree
	"no-window-chrome",         // Chrome UA without window.chrome
	"window-size",              // zero outer window, window larger than the screen, or a redefined screen size
	"ua-mismatch",              // UA and UA-CH disagree (brand or platform)
	"js-signals-missing",       // the submission carried no signals
	"product-sub",              // navigator.productSub wrong for the engine
	"worker-mismatch",          // a worker's navigator or WebGL disagrees with the page's
	"tampered",                 // a navigator getter or native function replaced by JavaScript
	"synthetic-events",         // input events dispatched by a script (isTrusted false)
}

// EncodeFindings turns tags into the cookie bitmask; unknown tags are
// dropped (they are still on the verdict that produced them).
func EncodeFindings(tags []string) uint16 {
	var f uint16
	for _, t := range tags {
		for i, name := range findingTags {
			if t == name {
				f |= 1 << i
			}
		}
	}
	return f
}

// DecodeFindings returns the tags of a bitmask, appended to dst.
func DecodeFindings(f uint16, dst []string) []string {
	for f != 0 {
		i := bits.TrailingZeros16(f)
		f &^= 1 << i
		if i < len(findingTags) {
			dst = append(dst, findingTags[i])
		}
	}
	return dst
}

// KnownFinding reports whether tag has a cookie bit.
func KnownFinding(tag string) bool { return EncodeFindings([]string{tag}) != 0 }
