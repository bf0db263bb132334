package session

import (
	"net/http"
	"strconv"
	"strings"
)

// cookieFormat writes the session cookie's Set-Cookie value. net/http
// formats a template once, at start-up; only the two parts that change per
// cookie (the sealed value and Max-Age) are filled in per issue. Formatting
// each cookie with http.Cookie.String re-validated the constant name,
// path, domain and attributes every time, a third of the cost of issuing
// a cookie. The sealed value is unpadded base64url, which net/http would
// write unchanged; TestCookieFormat compares the two.
type cookieFormat struct {
	nameEq       string // "name="
	beforeMaxAge string // "; Path=/; Domain=…; Max-Age="
	after        string // "; HttpOnly; Secure; SameSite=…"
	template     http.Cookie
}

// templateMaxAge is a Max-Age no attribute can contain, to find its place.
const templateMaxAge = 1234567891

func newCookieFormat(c http.Cookie) cookieFormat {
	f := cookieFormat{template: c}
	c.Value, c.MaxAge = "v", templateMaxAge
	s := c.String()
	maxAge := "; Max-Age=" + strconv.Itoa(templateMaxAge)
	head, tail, ok := strings.Cut(s, maxAge)
	if !ok || !strings.HasPrefix(head, c.Name+"=v") {
		return f // an unusual template: format every cookie with net/http
	}
	f.nameEq = c.Name + "="
	f.beforeMaxAge = head[len(c.Name)+2:] + "; Max-Age="
	f.after = tail
	return f
}

func (f cookieFormat) format(value string, maxAge int) string {
	if f.nameEq == "" || maxAge <= 0 {
		c := f.template
		c.Value, c.MaxAge = value, maxAge
		return c.String()
	}
	return f.nameEq + value + f.beforeMaxAge + strconv.Itoa(maxAge) + f.after
}
