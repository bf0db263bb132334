// Package admin is botwarden's admin listener: the dashboard, its JSON API,
// /metrics and pprof, on a port of their own (server.admin_addr), never on
// the ports Envoy talks to. It is an attack surface, so: with a token
// configured every request needs it (a bearer header, or the cookie the
// login page sets); without one it binds only loopback, refuses to start
// otherwise, and answers only requests addressed to a loopback name (a DNS
// rebinding page cannot reach it through the visitor's browser).
package admin

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
)

// Config is the `admin:` section.
type Config struct {
	// Token guards the admin listener; empty means loopback only.
	Token string `yaml:"token"`
	// TokenFile reads the token from a file (a mounted secret) instead.
	TokenFile string `yaml:"token_file"`
}

// DefaultConfig returns the defaults: no token (loopback only).
func DefaultConfig() Config { return Config{} }

// Validate names the bad field.
func (c Config) Validate() error {
	switch {
	case c.Token != "" && c.TokenFile != "":
		return errors.New("token_file: set token or token_file, not both")
	case c.Token != "" && len(c.Token) < 16:
		return fmt.Errorf("token: must be at least 16 characters, got %d", len(c.Token))
	}
	return nil
}

// token returns the configured token, reading TokenFile.
func (c Config) token() (string, error) {
	if c.TokenFile == "" {
		return c.Token, nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("admin.token_file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if len(t) < 16 {
		return "", fmt.Errorf("admin.token_file: token must be at least 16 characters, got %d", len(t))
	}
	return t, nil
}

// CookieName is the login cookie.
const CookieName = "botwarden_admin"

// Guard wraps the admin handler with access control.
type Guard struct {
	token  string
	cookie string // the cookie value: an HMAC of the token, never the token
	next   http.Handler
}

// CheckAddr refuses a non-loopback address without a token, saying why.
func CheckAddr(addr string, c Config) error {
	tok, err := c.token()
	if err != nil {
		return err
	}
	if tok != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("server.admin_addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("server.admin_addr %q is not a loopback address and admin.token is empty: the dashboard shows client IPs and "+
			"request paths and its API changes verdicts, so it is not served to the network without a token "+
			"(set admin.token or admin.token_file, or bind 127.0.0.1)", addr)
	}
	return nil
}

// New wraps next (the dashboard, API, metrics and pprof) with the guard.
func New(c Config, next http.Handler) (*Guard, error) {
	tok, err := c.token()
	if err != nil {
		return nil, err
	}
	g := &Guard{token: tok, next: next}
	if tok != "" {
		m := hmac.New(sha256.New, []byte(tok))
		m.Write([]byte("botwarden admin cookie v1"))
		g.cookie = hex.EncodeToString(m.Sum(nil))
	}
	return g, nil
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (g *Guard) authorized(r *http.Request) bool {
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(auth), []byte(g.token)) == 1
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return subtle.ConstantTimeCompare([]byte(c.Value), []byte(g.cookie)) == 1
	}
	return false
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>botwarden — sign in</title>
<style>body{font:15px system-ui,sans-serif;display:grid;place-items:center;height:90vh;background:#f4f5f7}
form{background:#fff;padding:2em;border-radius:8px;box-shadow:0 1px 4px #0002}input{font:inherit;padding:.4em;width:20em}
button{font:inherit;padding:.4em 1em;margin-top:1em}.err{color:#b00020}</style></head>
<body><form method="post" action="/login"><h1>botwarden</h1>
{{if .Failed}}<p class="err">Wrong token.</p>{{end}}
<label>Admin token<br><input type="password" name="token" autofocus autocomplete="current-password"></label>
<input type="hidden" name="next" value="{{.Next}}"><br><button type="submit">Sign in</button></form></body></html>`))

// safeNext keeps a post-login redirect on this site.
func safeNext(s string) string {
	if s == "" || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
		return "/"
	}
	return s
}

// ServeHTTP implements http.Handler.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if g.token == "" {
		if !loopbackHost(r.Host) {
			http.Error(w, "admin listener without a token answers only loopback names (Host: localhost, 127.0.0.1, [::1])", http.StatusForbidden)
			return
		}
		g.next.ServeHTTP(w, r)
		return
	}
	if r.URL.Path == "/login" {
		g.login(w, r)
		return
	}
	if !g.authorized(r) {
		if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/metrics" && !strings.HasPrefix(r.URL.Path, "/debug/") {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="botwarden admin"`)
		http.Error(w, "admin token required (Authorization: Bearer <admin.token>, or sign in at /login)", http.StatusUnauthorized)
		return
	}
	g.next.ServeHTTP(w, r)
}

func (g *Guard) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet:
		loginPage.Execute(w, map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		next := safeNext(r.PostForm.Get("next"))
		if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("token")), []byte(g.token)) != 1 {
			w.WriteHeader(http.StatusUnauthorized)
			loginPage.Execute(w, map[string]any{"Failed": true, "Next": next})
			return
		}
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: g.cookie, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 7 * 24 * 3600})
		http.Redirect(w, r, next, http.StatusSeeOther)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}
