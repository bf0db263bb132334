package extauthz

import (
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/botwarden/botwarden/detect"
)

// header is one name/value pair to send; names are lower-case.
type header struct{ name, value string }

// injects reports whether the verdict's headers go upstream: not in monitor
// mode (score, tag and log only). No mode (no decider) counts as inject.
func injects(v *detect.Verdict) bool { return v.Mode != detect.ModeMonitor }

// denies reports whether the request is stopped.
func denies(v *detect.Verdict) bool { return v.EnforcedAction.Denies() }

// verdictHeaders lists the upstream headers of an allowed request, in a
// fixed order. Empty values are left out (and any client copy is removed).
func verdictHeaders(v *detect.Verdict, dst []header) []header {
	src := v.Source
	if src == "" {
		src = detect.SourceNotComputed
	}
	verified := "false"
	if v.Verified {
		verified = "true"
	}
	dst = append(dst,
		header{detect.HeaderScore, strconv.Itoa(v.Score)},
		header{detect.HeaderScoreSrc, string(src)},
		header{detect.HeaderCategory, string(v.Category())},
		header{detect.HeaderVerified, verified},
		header{detect.HeaderAction, string(v.Action)},
	)
	if len(v.Tags) > 0 {
		dst = append(dst, header{detect.HeaderTags, headerSafe(strings.Join(v.Tags, ","))})
	}
	if len(v.DetectionIDs) > 0 {
		dst = append(dst, header{detect.HeaderDetectionIDs, joinInts(v.DetectionIDs)})
	}
	if v.Verified && v.VerifiedCategory != "" {
		dst = append(dst, header{detect.HeaderVerifiedCat, headerSafe(v.VerifiedCategory)})
	}
	if v.RuleID != "" {
		dst = append(dst, header{detect.HeaderRule, headerSafe(v.RuleID)})
	}
	if v.JSDetectionChecked {
		dst = append(dst, header{detect.HeaderJSDetection, v.JSDetectionResult()})
	}
	return dst
}

// isVerdictHeader reports whether name is one of the headers botwarden
// sets itself (verdictHeaders, the JA4 header Envoy sets), which the RayID
// header must not replace.
func isVerdictHeader(name string) bool {
	switch name {
	case detect.HeaderScore, detect.HeaderScoreSrc, detect.HeaderCategory, detect.HeaderTags,
		detect.HeaderVerified, detect.HeaderVerifiedCat, detect.HeaderDetectionIDs,
		detect.HeaderAction, detect.HeaderRule, detect.HeaderJSDetection, detect.HeaderJA4:
		return true
	}
	return false
}

// withRay appends the RayID header (named name, "" for none) to set: on
// every answer that lets the request through, so the origin can quote the
// same reference a page would have shown. In monitor mode nothing is set
// upstream, the reference included (the client's copy still goes).
func withRay(set []header, name string, r *detect.Request, v *detect.Verdict) []header {
	if name == "" || !injects(v) {
		return set
	}
	if ray := r.Reference(); ray != "" {
		set = append(set, header{name, ray})
	}
	return set
}

// spoofed lists, in name order, the reserved headers the client sent (and
// its copy of the RayID header, named ray) that are not overwritten by set:
// Envoy applies headers_to_remove after the headers it sets, so removing a
// name we also set would drop our own value.
func spoofed(h detect.Headers, set []header, ray string) []string {
	var out []string
next:
	for k := range h {
		if !(detect.Reserved(k) || k == ray && ray != "") || !httpguts.ValidHeaderFieldName(k) {
			continue // a name that is not a token cannot be a real header
		}
		for _, s := range set {
			if s.name == k {
				continue next
			}
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func joinInts(ids []int) string {
	var b []byte
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(b)
}

// headerSafe drops bytes a header value may not carry (controls other than
// tab, DEL): rule ids and tags come from configuration and engines, and one
// stray newline would make Envoy (validate_mutations) answer 500.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return strings.Map(func(r rune) rune {
				if (r < 0x20 && r != '\t') || r == 0x7f {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}

// denyStatus keeps a responder's status inside what the proxy treats as a
// denial: Envoy's http_service takes 200 as allow and 5xx as an error that
// failure_mode_allow would let through, Traefik passes any 2xx, and every
// transport needs a real status. Anything else becomes 403.
func denyStatus(status int) int {
	if status < 300 || status > 499 {
		return 403
	}
	return status
}
