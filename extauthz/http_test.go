package extauthz

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/internal/metricstest"
)

// serveHTTPTest runs one authz request through the handler.
func serveHTTPTest(t *testing.T, s *Server, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.HTTPHandler().ServeHTTP(w, req)
	return w.Result()
}

func TestHTTPEnvoyService(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newTestServer(t, testPipeline(), Options{Registerer: reg})
	t.Run("allow", func(t *testing.T) {
		resp := serveHTTPTest(t, s, "POST", "/authz/envoy/cart/add?item=7", map[string]string{
			"User-Agent": chromeUA, "X-Bot-Score": "99", "X-Bot-Evil": "1", "X-Forwarded-For": "198.51.100.7",
		})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if resp.Header.Get("X-Bot-Score") != "80" || resp.Header.Get("X-Bot-Action") != "allow" {
			t.Fatalf("verdict headers %v", resp.Header)
		}
		if got := resp.Header.Get("x-envoy-auth-headers-to-remove"); got != "x-bot-evil" {
			t.Fatalf("headers-to-remove = %q", got)
		}
	})
	t.Run("path and method are the original request's", func(t *testing.T) {
		var seen *detect.Request
		spy := detect.EngineFunc{EngineName: "spy", Fn: func(_ context.Context, r *detect.Request, _ *detect.Verdict) error {
			seen = r
			return nil
		}}
		s := newTestServer(t, &detect.Pipeline{Engines: []detect.Engine{spy}, Budget: -1}, Options{})
		serveHTTPTest(t, s, "DELETE", "/authz/envoy/a%2Fb?x=1", map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Request-Id": "rid"})
		if seen.Method != "DELETE" || seen.Path != "/a%2Fb?x=1" || seen.ID != "rid" || seen.ClientIP.String() != "203.0.113.9" || seen.PeerIP.String() != "127.0.0.1" {
			t.Fatalf("request %+v", seen)
		}
		serveHTTPTest(t, s, "GET", "/authz/envoy", nil)
		if seen.Path != "/" {
			t.Fatalf("bare prefix path %q", seen.Path)
		}
	})
	t.Run("deny", func(t *testing.T) {
		resp := serveHTTPTest(t, s, "GET", "/authz/envoy/", map[string]string{"User-Agent": curlUA, "X-Request-Id": "r-1"})
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 403 || !strings.Contains(string(body), "r-1") || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("deny: %d %v %s", resp.StatusCode, resp.Header, body)
		}
	})
	t.Run("rate limit", func(t *testing.T) {
		resp := serveHTTPTest(t, s, "GET", "/authz/envoy/limited", map[string]string{"User-Agent": chromeUA})
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
			t.Fatalf("rate limit: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("cookies on allow", func(t *testing.T) {
		resp := serveHTTPTest(t, s, "GET", "/authz/envoy/cookie", map[string]string{"User-Agent": chromeUA})
		if resp.StatusCode != 200 || len(resp.Header.Values("Set-Cookie")) != 2 {
			t.Fatalf("cookies: %d %v", resp.StatusCode, resp.Header)
		}
	})
	if got := metricstest.Sum(t, reg, "botwarden_checks_total", map[string]string{
		"action": "block", "enforced_action": "block", "category": "automated", "source": "heuristics", "transport": TransportHTTPEnvoy,
	}); got != 1 {
		t.Fatalf("checks_total http_envoy block = %v", got)
	}
}

func TestHTTPTraefik(t *testing.T) {
	s := newTestServer(t, testPipeline(), Options{})
	fwd := func(ua, uri string) map[string]string {
		return map[string]string{
			"User-Agent": ua, "X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https",
			"X-Forwarded-Host": "Shop.Example", "X-Forwarded-Uri": uri, "X-Forwarded-For": "198.51.100.7",
		}
	}
	resp := serveHTTPTest(t, s, "GET", "/authz/traefik", fwd(chromeUA, "/"))
	if resp.StatusCode != 200 || resp.Header.Get("X-Bot-Score") != "80" || resp.Header.Get("X-Envoy-Auth-Headers-To-Remove") != "" {
		t.Fatalf("allow: %d %v", resp.StatusCode, resp.Header)
	}
	// Traefik returns a non-2xx answer to the client as it is.
	resp = serveHTTPTest(t, s, "GET", "/authz/traefik", fwd(chromeUA, "/limited/x"))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("rate limit: %d %v", resp.StatusCode, resp.Header)
	}
	resp = serveHTTPTest(t, s, "GET", "/authz/traefik", fwd(curlUA, "/"))
	if resp.StatusCode != 403 {
		t.Fatalf("block: %d", resp.StatusCode)
	}
}

func TestHTTPNginx(t *testing.T) {
	s := newTestServer(t, testPipeline(), Options{})
	orig := func(ua, uri string) map[string]string {
		return map[string]string{"User-Agent": ua, "X-Original-Method": "GET", "X-Original-URI": uri, "X-Forwarded-For": "198.51.100.7"}
	}
	tests := []struct {
		name       string
		ua, uri    string
		status     int
		action     string
		retryAfter string
	}{
		{"allow", chromeUA, "/", 200, "allow", ""},
		{"block is 403", curlUA, "/", 403, "block", ""},
		{"rate limit is 403: auth_request turns 429 into 500", chromeUA, "/limited", 403, "rate_limit", "2"},
		{"challenge is 401", chromeUA, "/challenge", 401, "managed_challenge", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := serveHTTPTest(t, s, "GET", "/authz/nginx", orig(tt.ua, tt.uri))
			if resp.StatusCode != tt.status || resp.Header.Get("X-Bot-Action") != tt.action || resp.Header.Get("Retry-After") != tt.retryAfter {
				t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
			}
		})
	}
	t.Run("denied renders the real reply", func(t *testing.T) {
		resp := serveHTTPTest(t, s, "GET", "/authz/nginx/denied", map[string]string{
			"X-Bot-Action": "rate_limit", "Retry-After": "7", "X-Original-URI": "/limited", "X-Request-Id": "nginx-rid",
		})
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !strings.Contains(string(body), "nginx-rid") {
			t.Fatalf("denied: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		resp = serveHTTPTest(t, s, "GET", "/authz/nginx/denied", map[string]string{"X-Bot-Action": "allow"})
		if resp.StatusCode != 403 {
			t.Fatalf("a non-denying action renders the block page, got %d", resp.StatusCode)
		}
	})
}

func TestHTTPUnknownPathAndPrefix(t *testing.T) {
	s := newTestServer(t, testPipeline(), Options{})
	for _, p := range []string{"/authz", "/authz/", "/authz/envoyx", "/authz/nginx/other", "/other/envoy/x"} {
		if resp := serveHTTPTest(t, s, "GET", p, nil); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
	cfg := DefaultConfig()
	cfg.HTTP.Prefix = "/"
	s = newTestServer(t, testPipeline(), Options{Config: cfg})
	if resp := serveHTTPTest(t, s, "GET", "/envoy/x", map[string]string{"User-Agent": chromeUA}); resp.StatusCode != 200 {
		t.Fatalf("root prefix: %d", resp.StatusCode)
	}
}

func TestHTTPMonitorMode(t *testing.T) {
	s := newTestServer(t, &detect.Pipeline{Engines: []detect.Engine{testEngine}, Decider: modeDecider{detect.ModeMonitor}}, Options{})
	resp := serveHTTPTest(t, s, "GET", "/authz/envoy/", map[string]string{"User-Agent": curlUA, "X-Bot-Score": "99"})
	if resp.StatusCode != 200 || resp.Header.Get("X-Bot-Score") != "" || resp.Header.Get("X-Envoy-Auth-Headers-To-Remove") != "x-bot-score" {
		t.Fatalf("envoy monitor: %d %v", resp.StatusCode, resp.Header)
	}
	resp = serveHTTPTest(t, s, "GET", "/authz/traefik", map[string]string{"User-Agent": curlUA, "X-Forwarded-Uri": "/"})
	if resp.StatusCode != 200 || resp.Header.Get("X-Bot-Score") != "" {
		t.Fatalf("traefik monitor: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestHTTPOversizedAndRepeated(t *testing.T) {
	var seen *detect.Request
	spy := detect.EngineFunc{EngineName: "spy", Fn: func(_ context.Context, r *detect.Request, _ *detect.Verdict) error {
		seen = r
		return nil
	}}
	s := newTestServer(t, &detect.Pipeline{Engines: []detect.Engine{spy}, Budget: -1}, Options{})
	req := httptest.NewRequest("GET", "/authz/traefik", nil)
	req.Header.Set("User-Agent", strings.Repeat("u", 100<<10))
	req.Header.Add("Accept", "a")
	req.Header.Add("Accept", "b")
	req.Header.Set("X-Forwarded-Uri", "/x")
	s.HTTPHandler().ServeHTTP(httptest.NewRecorder(), req)
	if len(seen.UserAgent()) != DefaultMaxHeaderValueBytes || seen.Headers["accept"] != "a,b" {
		t.Fatalf("ua %d accept %q", len(seen.UserAgent()), seen.Headers["accept"])
	}
	if _, ok := seen.Headers["x-forwarded-uri"]; ok || !slices.Contains([]string{"/x"}, seen.Path) {
		t.Fatalf("control header kept or path wrong: %+v", seen)
	}
}
