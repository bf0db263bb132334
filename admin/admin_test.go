package admin

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/internal/configtest"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:9090", "", true},
		{"[::1]:9090", "", true},
		{"localhost:9090", "", true},
		{":9090", "", false},
		{"0.0.0.0:9090", "", false},
		{"10.0.0.5:9090", "", false},
		{"0.0.0.0:9090", "0123456789abcdef", true},
	}
	for _, tt := range tests {
		err := CheckAddr(tt.addr, Config{Token: tt.token})
		if (err == nil) != tt.ok {
			t.Errorf("%s token=%q: err %v", tt.addr, tt.token, err)
		}
		if err != nil && !strings.Contains(err.Error(), "admin.token") {
			t.Errorf("%s: error does not say why: %v", tt.addr, err)
		}
	}
}

func TestValidate(t *testing.T) {
	configtest.Check(t, DefaultConfig(), func(c *Config) {}, "")
	configtest.Check(t, DefaultConfig(), func(c *Config) { c.Token = "short" }, "token")
	configtest.Check(t, DefaultConfig(), func(c *Config) { c.Token, c.TokenFile = "0123456789abcdef", "/x" }, "token_file")
}

func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("dashboard")) })
	tokFile := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tokFile, []byte("s3cret-s3cret-s3cret\n"), 0o600)
	g, err := New(Config{TokenFile: tokFile}, ok)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	get := func(path, auth string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get("/api/v1/status", ""); r.StatusCode != 401 {
		t.Fatalf("no token: %d", r.StatusCode)
	}
	if r := get("/api/v1/status", "Bearer wrong"); r.StatusCode != 401 {
		t.Fatalf("wrong token: %d", r.StatusCode)
	}
	if r := get("/api/v1/status", "Bearer s3cret-s3cret-s3cret"); r.StatusCode != 200 {
		t.Fatalf("token: %d", r.StatusCode)
	}
	if r := get("/?since=1h", ""); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/login?next=") {
		t.Fatalf("page without token: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	login := func(tok, next string) *http.Response {
		resp, err := noRedirect.PostForm(srv.URL+"/login", url.Values{"token": {tok}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := login("nope", "/"); r.StatusCode != 401 || len(r.Cookies()) != 0 {
		t.Fatalf("bad login: %d", r.StatusCode)
	}
	r := login("s3cret-s3cret-s3cret", "//evil.example/")
	if r.StatusCode != 303 || r.Header.Get("Location") != "/" || len(r.Cookies()) != 1 {
		t.Fatalf("login: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	c := r.Cookies()[0]
	if strings.Contains(c.Value, "s3cret") || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v", c)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.AddCookie(c)
	if resp, _ := noRedirect.Do(req); resp.StatusCode != 200 {
		t.Fatalf("with cookie: %d", resp.StatusCode)
	}
}

func TestNoTokenAnswersOnlyLoopbackNames(t *testing.T) {
	g, _ := New(Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for host, want := range map[string]int{"127.0.0.1:9090": 200, "localhost:9090": 200, "[::1]:9090": 200, "evil.example:9090": 403, "attacker.example": 403} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = host
		g.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %s: %d, want %d", host, rec.Code, want)
		}
	}
}
