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
func (BlockResponder) Respond(r *detect.Request, v *detect.Verdict) detect.Response {
	h := http.Header{}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("X-Content-Type-Options", "nosniff")
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

// blockPage renders the page; ray is the request's reference (RayID, the
// key the store uses), ref its request id ("" when it had none).
func blockPage(title, text, ray, ref string) []byte {
	if len(ref) > maxRefLen {
		ref = ref[:maxRefLen]
	}
	b := make([]byte, 0, 768)
	b = append(b, `<!doctype html><html lang="en"><head><meta charset="utf-8">`+
		`<meta name="viewport" content="width=device-width,initial-scale=1"><title>`...)
	b = append(b, title...)
	b = append(b, `</title><style>body{font:16px/1.5 system-ui,sans-serif;color:#222;`+
		`max-width:34em;margin:12vh auto;padding:0 1em}h1{font-size:1.6em}`+
		`code{background:#eee;padding:.1em .3em;word-break:break-all}</style></head><body><h1>`...)
	b = append(b, title...)
	b = append(b, "</h1><p>"...)
	b = append(b, text...)
	b = append(b, "</p>"...)
	if ray != "" {
		// The short reference is what the site's log explorer finds the
		// request by; the request id stays for logs that only know it.
		b = append(b, "<p>If you think this is a mistake, contact the site owner and quote reference <code>"...)
		b = append(b, html.EscapeString(ray)...)
		if ref != "" {
			b = append(b, "</code> (request <code>"...)
			b = append(b, html.EscapeString(ref)...)
			b = append(b, "</code>)"...)
		} else {
			b = append(b, "</code>"...)
		}
		b = append(b, ".</p>"...)
		// The "I am human" form goes to botwarden's visitor feedback
		// endpoint under the challenge prefix Envoy routes to it; it is
		// bound to the reference and rate limited there.
		b = append(b, `<form method="post" action="`+FeedbackPath+`"><input type="hidden" name="ray" value="`...)
		b = append(b, html.EscapeString(ray)...)
		b = append(b, `"><p><label>I am human: <input name="message" maxlength="1000" placeholder="what were you doing?"></label> `+
			`<button type="submit">Tell the site</button></p></form>`...)
	}
	b = append(b, "</body></html>\n"...)
	return b
}
