package analytics

import (
	"context"
	"html/template"
	"net/http"
	"net/netip"
	"regexp"
	"time"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ratelimit"
)

// visitorLimit bounds "I am human" reports per client address.
var visitorLimit = ratelimit.Limit{Rate: 5, Period: time.Hour, Burst: 3}

var rayRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

var visitorPage = template.Must(template.New("v").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">` +
	`<title>{{.Title}}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:12vh auto;padding:0 1em}</style></head>` +
	`<body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>`))

// VisitorHandler takes the block page's "I am human" form: a false-positive
// report bound to the page's reference. It is served on the Envoy-facing
// HTTP port (visitors cannot reach the admin listener), so it trusts
// nothing: the reference must name a stored request that was denied, and
// that request must have come from the reporting client's address; reports
// are rate limited per address. clientIP derives the visitor's address as
// the challenge endpoint does.
func (s *Service) VisitorHandler(clientIP func(*http.Request) netip.Addr, lim *ratelimit.Local) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply := func(code int, title, text string) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
			w.WriteHeader(code)
			visitorPage.Execute(w, map[string]string{"Title": title, "Text": text})
		}
		if r.Method != http.MethodPost {
			reply(http.StatusMethodNotAllowed, "Not allowed", "Send the form on the page you were shown.")
			return
		}
		ip := clientIP(r)
		if !ip.IsValid() {
			reply(http.StatusBadRequest, "Not sent", "Your address could not be determined.")
			return
		}
		if res, err := lim.Allow(r.Context(), "visitor-feedback:"+ip.String(), visitorLimit, time.Now()); err == nil && !res.Allowed {
			reply(http.StatusTooManyRequests, "Not sent", "Too many reports from your address; try again later.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if err := r.ParseForm(); err != nil {
			reply(http.StatusBadRequest, "Not sent", "The form was not readable.")
			return
		}
		ray, msg := r.PostForm.Get("ray"), r.PostForm.Get("message")
		if !rayRE.MatchString(ray) || len(msg) > 1000 {
			reply(http.StatusBadRequest, "Not sent", "The reference or the message is not valid.")
			return
		}
		st, err := s.available()
		if err != nil {
			reply(http.StatusServiceUnavailable, "Not sent", "Reports cannot be taken right now.")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		now := s.now()
		f := Filter{From: now.Add(-24 * time.Hour), To: now.Add(time.Minute), Match: map[Dim][]string{DimRef: {ray}, DimIP: {ip.String()}}}
		recs, _, err := st.Events(ctx, f, 1, "")
		if err != nil || len(recs) == 0 || !detect.Action(recs[0].EnforcedAction).Denies() {
			reply(http.StatusNotFound, "Not found", "No stopped request from your address has this reference in the last day.")
			return
		}
		fb, err := s.Report(ctx, st, f, FeedbackRequest{Kind: FalsePositive, Ref: ray, Key: "ip:" + ip.String(),
			Description: "visitor: " + msg}, OriginVisitor)
		if err != nil {
			reply(http.StatusServiceUnavailable, "Not sent", "Reports cannot be taken right now.")
			return
		}
		s.log.Info().Str("ray_id", ray).Str("feedback", fb.ID).Msg("visitor reported a false positive")
		reply(http.StatusOK, "Thank you", "Your report about request "+ray+" was sent to the site's operators.")
	})
}
