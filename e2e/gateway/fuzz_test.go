package gateway

import (
	"strings"
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// FuzzNormalizePath: any :path gives a reply or a normalised path without
// dot segments or repeated slashes, and normalising again changes nothing
// (so the route the check saw is the route the request takes).
func FuzzNormalizePath(f *testing.F) {
	for _, p := range []string{"/", "/a/../b", "/.well-known/botwarden/../../admin?x=/../", "//a///b/./c/..", `/a\..\b`, "/a%2F..%2fb", "*", "/..", "/a/.", ""} {
		f.Add(p)
	}
	g := &InRepo{plan: &plan{hcm: hcmSettings{normalizePath: true, mergeSlashes: true,
		escapedSlashes: hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD}}}
	f.Fuzz(func(t *testing.T, path string) {
		s := &Stream{Headers: NewHeaderMap(Header{":path", path})}
		if reply := g.normalizePath(s); reply != nil {
			return
		}
		got := s.Headers.Value(":path")
		if !strings.HasPrefix(path, "/") {
			if got != path {
				t.Fatalf("%q changed to %q", path, got)
			}
			return
		}
		p, _, _ := strings.Cut(got, "?")
		dots := strings.ReplaceAll(strings.ToLower(p), "%2e", ".")
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.Contains(dots+"/", "/../") || strings.Contains(dots+"/", "/./") {
			t.Fatalf("%q normalised to %q", path, got)
		}
		again := &Stream{Headers: NewHeaderMap(Header{":path", got})}
		g.normalizePath(again)
		if again.Headers.Value(":path") != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", path, got, again.Headers.Value(":path"))
		}
	})
}

// FuzzParseFormatter: a format string parses or is refused; a parsed one
// renders without panicking on an empty stream.
func FuzzParseFormatter(f *testing.F) {
	for _, s := range []string{"%TLS_JA4_FINGERPRINT%", "a%%b", "%REQ(x-a?x-b)%", "%REQ(", "%%%", "%UNKNOWN%", "plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fm, err := parseFormatter(s)
		if err != nil {
			return
		}
		_ = fm.format(&Stream{Headers: NewHeaderMap()})
	})
}
