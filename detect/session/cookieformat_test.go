package session

import (
	"encoding/base64"
	"net/http"
	"testing"
)

// TestCookieFormat: the precomputed format writes what net/http writes.
func TestCookieFormat(t *testing.T) {
	values := []string{
		base64.RawURLEncoding.EncodeToString(make([]byte, 92)),
		"AQAAAAD6k9JPHbetXynwKhQz5K7PNtXBZypL5Vf9f0oGbwvcNvfcBwK2Wo37D_ZpEsbYo1PEteQgpeIfIFY3raz7qOrsZ9nPUMJnVWUcOwFRwPaqmg2iMdDET-CQ",
		"",
	}
	templates := []http.Cookie{
		{Name: "__bw", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode},
		{Name: "__bw", Path: "/", Domain: "shop.example", SameSite: http.SameSiteStrictMode},
		{Name: "bw_session", Path: "/", Domain: ".example.com", Secure: true, SameSite: http.SameSiteNoneMode},
		{Name: "x", Path: "/"},
		{Name: "Max-Age", Path: "/", HttpOnly: true},
	}
	for _, tmpl := range templates {
		f := newCookieFormat(tmpl)
		for _, v := range values {
			for _, maxAge := range []int{1, 86400, templateMaxAge, 0, -1} {
				want := tmpl
				want.Value, want.MaxAge = v, maxAge
				if got, w := f.format(v, maxAge), want.String(); got != w {
					t.Errorf("%+v value %q max-age %d:\n got %s\nwant %s", tmpl, v, maxAge, got, w)
				}
			}
		}
	}
}
