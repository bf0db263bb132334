package extauthz

import (
	"html"
	"net/http"
	"strconv"
	"time"

	"github.com/botwarden/botwarden/detect"
)

// BlockResponder is botwarden's own denial reply: a 403 block page, or 429
// with Retry-After for rate_limit. Challenge actions also get the 403 page
// when no challenge responder is configured (the challenge package wraps
// this responder and handles them itself). The page is small and
// self-contained: no scripts, no third-party assets, styles inline, and a
// reference id (the request id) the visitor can quote.
type BlockResponder struct{}

// Respond implements detect.Responder.
//
// The header values of a reply share their backing arrays with every other
// reply (the fixed ones are built once): append to them or replace them,
// never write into them.
func (BlockResponder) Respond(r *detect.Request, v *detect.Verdict) detect.Response {
	h := make(http.Header, 5)
	h["Content-Type"], h["Cache-Control"] = blockContentType, blockCacheControl
	h["Content-Security-Policy"], h["X-Content-Type-Options"] = blockCSP, blockNoSniff
	status, title, text := http.StatusForbidden, "Access denied",
		"This request was blocked by the site's bot protection."
	if v != nil && v.EnforcedAction == detect.ActionRateLimit {
		status, title, text = http.StatusTooManyRequests, "Too many requests",
			"You are sending requests too quickly. Please wait and try again."
		h.Set("Retry-After", strconv.Itoa(RetryAfterSeconds(v.RetryAfter)))
	}
	var id, ray string
	if r != nil {
		id, ray = r.ID, r.Reference()
	}
	return detect.Response{Status: status, Headers: h, Body: blockPage(title, text, ray, id)}
}

// The fixed headers of every block page, canonical names as http.Header.Set
// would store them; each slice is full (len == cap), so an append copies.
var (
	blockContentType  = fixedValue("text/html; charset=utf-8")
	blockCacheControl = fixedValue("no-store")
	blockCSP          = fixedValue("default-src 'none'; style-src 'unsafe-inline'")
	blockNoSniff      = fixedValue("nosniff")
)

func fixedValue(v string) []string { return []string{v}[:1:1] }

// RetryAfterSeconds rounds d up to whole seconds, at least 1: a client told
// "0" would retry at once, and a fraction would be rounded down by many.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

const maxRefLen = 128

// FeedbackPath is where the block page's form posts: under the challenge
// endpoint's default prefix, which the shipped Envoy configurations route to
// botwarden's HTTP port.
const FeedbackPath = "/.well-known/botwarden/feedback"

// The block page's fixed parts, in order; blockPage fills in the title
// (twice), the text, the reference and the request id between them.
const (
	pageHead = `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width,initial-scale=1"><title>`
	pageStyle = `</title><style>body{font:16px/1.5 system-ui,sans-serif;color:#222;` +
		`max-width:34em;margin:12vh auto;padding:0 1em}h1{font-size:1.6em}` +
		`code{background:#eee;padding:.1em .3em;word-break:break-all}</style></head><body><h1>`
	pageText    = "</h1><p>"
	pageTextEnd = "</p>"
	pageRef     = "<p>If you think this is a mistake, contact the site owner and quote reference <code>"
	pageID      = "</code> (request <code>"
	pageIDEnd   = "</code>)"
	pageRefEnd  = "</code>"
	pageRefDot  = ".</p>"
	pageForm    = `<form method="post" action="` + FeedbackPath + `"><input type="hidden" name="ray" value="`
	pageFormEnd = `"><p><label>I am human: <input name="message" maxlength="1000" placeholder="what were you doing?"></label> ` +
		`<button type="submit">Tell the site</button></p></form>`
	pageEnd = "</body></html>\n"
)

// blockPage renders the page; ray is the request's reference (RayID, the
// key the store uses), ref its request id ("" when it had none). The
// buffer is sized for the whole page up front: one allocation per denial.
func blockPage(title, text, ray, ref string) []byte {
	if len(ref) > maxRefLen {
		ref = ref[:maxRefLen]
	}
	n := len(pageHead) + 2*len(title) + len(pageStyle) + len(pageText) + len(text) + len(pageTextEnd) + len(pageEnd)
	if ray != "" {
		ray = html.EscapeString(ray)
		n += len(pageRef) + 2*len(ray) + len(pageRefDot) + len(pageForm) + len(pageFormEnd)
		if ref != "" {
			ref = html.EscapeString(ref)
			n += len(pageID) + len(ref) + len(pageIDEnd)
		} else {
			n += len(pageRefEnd)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, pageHead...)
	b = append(b, title...)
	b = append(b, pageStyle...)
	b = append(b, title...)
	b = append(b, pageText...)
	b = append(b, text...)
	b = append(b, pageTextEnd...)
	if ray != "" {
		// The short reference is what the site's log explorer finds the
		// request by; the request id stays for logs that only know it.
		b = append(b, pageRef...)
		b = append(b, ray...)
		if ref != "" {
			b = append(b, pageID...)
			b = append(b, ref...)
			b = append(b, pageIDEnd...)
		} else {
			b = append(b, pageRefEnd...)
		}
		b = append(b, pageRefDot...)
		// The "I am human" form goes to botwarden's visitor feedback
		// endpoint under the challenge prefix Envoy routes to it; it is
		// bound to the reference and rate limited there.
		b = append(b, pageForm...)
		b = append(b, ray...)
		b = append(b, pageFormEnd...)
	}
	b = append(b, pageEnd...)
	return b
}
