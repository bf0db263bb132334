package extauthz

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect"
)

// flavour is one proxy's dialect of "ask a URL whether to let a request in".
type flavour struct {
	transport string
	// method, uri and host name the headers carrying the original request
	// ("" = the authz request's own method, URI or Host).
	method, uri, host string
	// control lists headers the proxy adds for us that are not the client's.
	control []string
}

var (
	flavourEnvoy = flavour{transport: TransportHTTPEnvoy}
	// nginx auth_request subrequests are always GET to the auth location,
	// so the original method and URI come from headers the config sets.
	flavourNginx = flavour{
		transport: TransportNginx,
		method:    "x-original-method", uri: "x-original-uri", host: "x-forwarded-host",
		control: []string{"x-original-method", "x-original-uri"},
	}
	// Traefik forwardAuth sends GET with X-Forwarded-Method/-Uri/-Host.
	flavourTraefik = flavour{
		transport: TransportTraefik,
		method:    "x-forwarded-method", uri: "x-forwarded-uri", host: "x-forwarded-host",
		control: []string{"x-forwarded-method", "x-forwarded-uri"},
	}
)

// Decision headers on nginx denials, and what the error_page location sends
// back to Prefix+"/nginx/denied" (see README.md).
const (
	headerRetryAfter          = "Retry-After"
	headerChallengeDifficulty = "X-Botwarden-Challenge-Difficulty"
	headerEnvoyRemove         = "x-envoy-auth-headers-to-remove"
)

// HTTPHandler serves the HTTP authz endpoint under cfg.HTTP.Prefix:
//
//	Prefix/envoy/...     Envoy ext_authz http_service (path_prefix: Prefix/envoy)
//	Prefix/nginx         nginx auth_request
//	Prefix/nginx/denied  nginx error_page target that renders the real denial
//	Prefix/traefik       Traefik forwardAuth
//
// Mount it on the prefix, e.g. mux.Handle(cfg.HTTP.Prefix+"/", h).
func (s *Server) HTTPHandler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, hr *http.Request) {
	prefix := s.cfg.HTTP.Prefix
	if prefix == "/" {
		prefix = ""
	}
	uri := hr.RequestURI
	if uri == "" {
		uri = hr.URL.RequestURI()
	}
	if rest, ok := strings.CutPrefix(uri, prefix+"/envoy"); ok && (rest == "" || rest[0] == '/' || rest[0] == '?') {
		if rest == "" || rest[0] == '?' {
			rest = "/" + rest
		}
		s.serveCheck(w, hr, flavourEnvoy, rest)
		return
	}
	switch hr.URL.Path {
	case prefix + "/nginx":
		s.serveCheck(w, hr, flavourNginx, "")
	case prefix + "/traefik":
		s.serveCheck(w, hr, flavourTraefik, "")
	case prefix + "/nginx/denied":
		s.serveNginxDenied(w, hr)
	default:
		http.NotFound(w, hr)
	}
}

func (s *Server) serveCheck(w http.ResponseWriter, hr *http.Request, f flavour, envoyPath string) {
	start := time.Now()
	r, iss := s.fromHTTP(hr, f)
	if f.transport == TransportHTTPEnvoy {
		r.Path, iss = capValue(envoyPath, s.lim, iss)
	}
	v := s.pipeline.Check(hr.Context(), r)
	switch {
	case !denies(v):
		s.writeAllow(w, r, v, f)
	case f.transport == TransportNginx:
		s.writeNginxDeny(w, r, v)
	default:
		writeResponse(w, s.respond(r, v), v.SetCookies)
	}
	s.m.observe(f.transport, v, iss, time.Since(start))
	s.logDecision(f.transport, r, v, iss)
}

// writeAllow answers 200 with the verdict headers for the proxy to copy
// upstream (Envoy allowed_upstream_headers, nginx auth_request_set, Traefik
// authResponseHeaders) and Set-Cookie for the client.
func (s *Server) writeAllow(w http.ResponseWriter, r *detect.Request, v *detect.Verdict, f flavour) {
	h := w.Header()
	var set []header
	if injects(v) {
		var buf [11]header
		set = withRay(verdictHeaders(v, buf[:0]), s.cfg.RayIDHeader, r, v)
		for _, x := range set {
			h[http.CanonicalHeaderKey(x.name)] = []string{x.value}
		}
	}
	if f.transport == TransportHTTPEnvoy {
		if rm := spoofed(r.Headers, set, s.cfg.RayIDHeader); len(rm) > 0 {
			h.Set(headerEnvoyRemove, strings.Join(rm, ", "))
		}
	}
	for _, c := range v.SetCookies {
		h.Add("Set-Cookie", c)
	}
	w.WriteHeader(http.StatusOK)
}

// writeNginxDeny maps a denial to what auth_request understands: it honours
// only 2xx, 401 and 403 (any other status is an error and becomes 500), and
// drops the body. So block and rate_limit answer 403, the challenges 401,
// and the decision travels in headers that the error_page location passes
// to Prefix/nginx/denied, which renders the real reply (429, block page,
// challenge page).
func (s *Server) writeNginxDeny(w http.ResponseWriter, r *detect.Request, v *detect.Verdict) {
	h := w.Header()
	var buf [10]header
	for _, x := range verdictHeaders(v, buf[:0]) {
		h[http.CanonicalHeaderKey(x.name)] = []string{x.value}
	}
	// The reference, for the denied location to quote on the page it
	// renders (a request without x-request-id has a random one, which
	// only this header carries there).
	if ray := r.Reference(); ray != "" && s.cfg.RayIDHeader != "" {
		h.Set(s.cfg.RayIDHeader, ray)
	}
	if v.EnforcedAction == detect.ActionRateLimit {
		h.Set(headerRetryAfter, strconv.Itoa(RetryAfterSeconds(v.RetryAfter)))
	}
	if v.ChallengeDifficulty > 0 {
		h.Set(headerChallengeDifficulty, strconv.Itoa(v.ChallengeDifficulty))
	}
	for _, c := range v.SetCookies {
		h.Add("Set-Cookie", c)
	}
	status := http.StatusForbidden
	if v.EnforcedAction == detect.ActionManagedChallenge || v.EnforcedAction == detect.ActionJSChallenge {
		status = http.StatusUnauthorized
	}
	w.WriteHeader(status)
}

// serveNginxDenied renders the reply for a denial nginx already decided on
// (via auth_request): it does not run the pipeline again, which would count
// the request twice against rate limits. The decision comes from the
// headers the nginx config forwards (X-Bot-Action, X-Bot-Rule,
// Retry-After, X-Botwarden-Challenge-Difficulty, and the RayID header so the
// page quotes the reference auth_request decided under); a missing or non-denying
// action renders the block page.
func (s *Server) serveNginxDenied(w http.ResponseWriter, hr *http.Request) {
	r, _ := s.fromHTTP(hr, flavourNginx)
	if ray := hr.Header.Get(s.cfg.RayIDHeader); s.cfg.RayIDHeader != "" && detect.ValidRayID(ray) {
		r.Ray = ray // what auth_request decided on, not a new one
	}
	for k := range r.Headers {
		if detect.Reserved(k) || k == "retry-after" {
			delete(r.Headers, k) // the decision, not the client's headers
		}
	}
	action := detect.Action(hr.Header.Get(detect.HeaderAction))
	if !action.Denies() {
		action = detect.ActionBlock
	}
	v := &detect.Verdict{
		Source:         detect.SourceNotComputed,
		Action:         action,
		EnforcedAction: action,
		Mode:           detect.ModeMitigate,
		RuleID:         hr.Header.Get(detect.HeaderRule),
	}
	if n, err := strconv.Atoi(hr.Header.Get(headerRetryAfter)); err == nil && n > 0 {
		v.RetryAfter = time.Duration(min(n, 86400)) * time.Second
	}
	if n, err := strconv.Atoi(hr.Header.Get(headerChallengeDifficulty)); err == nil && n > 0 {
		v.ChallengeDifficulty = min(n, 64)
	}
	if n, err := strconv.Atoi(hr.Header.Get(detect.HeaderScore)); err == nil && n >= 0 {
		v.Score = min(n, detect.ScoreMax)
	}
	writeResponse(w, s.respond(r, v), nil)
}

func writeResponse(w http.ResponseWriter, d detect.Response, cookies []string) {
	h := w.Header()
	for name, values := range d.Headers {
		h[http.CanonicalHeaderKey(name)] = append([]string(nil), values...)
	}
	for _, c := range cookies {
		if !hasValue(d.Headers, "Set-Cookie", c) {
			h.Add("Set-Cookie", c)
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(d.Body)))
	w.WriteHeader(d.Status)
	w.Write(d.Body)
}

// fromHTTP converts an authz request into the original request it asks
// about. Header names are lower-cased, repeated headers joined with ","
// (Envoy's rule), and the flavour's control headers, which are not the
// client's, are left out.
func (s *Server) fromHTTP(hr *http.Request, f flavour) (*detect.Request, issue) {
	var iss issue
	h := make(detect.Headers, min(len(hr.Header), s.lim.maxHeaders))
	for name, values := range hr.Header {
		k := strings.ToLower(name)
		if isControl(f, k) {
			continue
		}
		if len(h) >= s.lim.maxHeaders {
			iss |= issueTooManyHeaders
			continue
		}
		v := values[0]
		if len(values) > 1 {
			v = strings.Join(values, ",")
		}
		h[k], iss = capValue(v, s.lim, iss)
	}
	r := &detect.Request{
		Time:    time.Now(),
		Method:  hr.Method,
		Host:    hr.Host,
		Path:    hr.URL.RequestURI(),
		Scheme:  hr.Header.Get("X-Forwarded-Proto"),
		Headers: h,
	}
	if f.method != "" {
		if m := hr.Header.Get(f.method); m != "" {
			r.Method = m
		}
	}
	if f.uri != "" {
		r.Path = hr.Header.Get(f.uri)
		if r.Path == "" {
			r.Path = "/"
		}
	}
	if f.host != "" {
		if host := hr.Header.Get(f.host); host != "" {
			r.Host = host
		}
	}
	r.Path, iss = capValue(r.Path, s.lim, iss)
	r.Host, iss = capValue(lowerASCII(r.Host), s.lim, iss)
	r.ID = h["x-request-id"]
	r.Ray = detect.NewRayID(r.ID)
	r.PeerIP = remoteAddr(hr)
	r.ClientIP, iss = s.cfg.HTTP.ClientIP.resolve(h, r.PeerIP, iss)
	return r, iss
}

func isControl(f flavour, k string) bool {
	for _, c := range f.control {
		if c == k {
			return true
		}
	}
	return false
}
