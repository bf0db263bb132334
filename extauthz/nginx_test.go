package extauthz

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/internal/proctest"
)

// nginxConf is the README's nginx example with test paths: auth_request to
// botwarden, the verdict copied upstream with proxy_set_header (an empty
// value drops the header, so client copies never pass), and error_page
// sending denials to Prefix/nginx/denied for the real reply. Both internal
// locations describe the original request the same way ("original").
const nginxConf = `{{define "original"}}            internal;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Request-ID $request_id;
{{end}}{{if .Root}}user root;
{{end}}worker_processes 1;
error_log {{.Dir}}/error.log info;
events { worker_connections 64; }
http {
    access_log {{.Dir}}/access.log;
    client_body_temp_path {{.Dir}}/body;
    proxy_temp_path {{.Dir}}/proxy;
{{range .TempPaths}}    {{.}}_temp_path {{$.Dir}}/{{.}};
{{end}}
    upstream botwarden { server {{.Botwarden}}; keepalive 4; }

    server {
        listen {{.Listen}};

        location / {
            auth_request /_botwarden;
            auth_request_set $bot_score      $upstream_http_x_bot_score;
            auth_request_set $bot_score_src  $upstream_http_x_bot_score_src;
            auth_request_set $bot_category   $upstream_http_x_bot_category;
            auth_request_set $bot_tags       $upstream_http_x_bot_tags;
            auth_request_set $bot_verified   $upstream_http_x_bot_verified;
            auth_request_set $bot_action     $upstream_http_x_bot_action;
            auth_request_set $bot_rule       $upstream_http_x_bot_rule;
            auth_request_set $bot_retry      $upstream_http_retry_after;
            auth_request_set $bot_difficulty $upstream_http_x_botwarden_challenge_difficulty;
            auth_request_set $bot_cookie     $upstream_http_set_cookie;
            error_page 401 403 = /_botwarden_denied;

            proxy_set_header X-Bot-Score     $bot_score;
            proxy_set_header X-Bot-Score-Src $bot_score_src;
            proxy_set_header X-Bot-Category  $bot_category;
            proxy_set_header X-Bot-Tags      $bot_tags;
            proxy_set_header X-Bot-Verified  $bot_verified;
            proxy_set_header X-Bot-Action    $bot_action;
            proxy_set_header X-Bot-Rule      $bot_rule;
            add_header Set-Cookie $bot_cookie;
            proxy_pass http://{{.Origin}};
        }

        location = /_botwarden {
            proxy_pass http://botwarden{{.Prefix}}/nginx;
{{template "original" .}}        }

        location = /_botwarden_denied {
            proxy_pass http://botwarden{{.Prefix}}/nginx/denied;
{{template "original" .}}            proxy_set_header X-Bot-Action $bot_action;
            proxy_set_header X-Bot-Rule $bot_rule;
            proxy_set_header X-Bot-Score $bot_score;
            proxy_set_header Retry-After $bot_retry;
            proxy_set_header X-Botwarden-Challenge-Difficulty $bot_difficulty;
        }
    }
}
`

// startNginx runs the nginx binary on loopback in front of origin, asking
// botwarden, and returns its base URL. It is stopped at cleanup.
func startNginx(t *testing.T, bin, botwarden, origin, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	port := proctest.FreePort(t)
	// Temp paths of modules this build has; an unknown directive would
	// fail the config, a missing default directory the start.
	v, _ := exec.Command(bin, "-V").CombinedOutput()
	var temps []string
	for _, m := range []string{"fastcgi", "uwsgi", "scgi"} {
		if !bytes.Contains(v, []byte("--without-http_"+m+"_module")) {
			temps = append(temps, m)
		}
	}
	var conf bytes.Buffer
	err := template.Must(template.New("nginx").Parse(nginxConf)).Execute(&conf, map[string]any{
		// As root nginx would switch its worker to nobody, which cannot
		// write the test's temp directory.
		"Root": os.Geteuid() == 0, "Dir": dir, "TempPaths": temps,
		"Listen": "127.0.0.1:" + port, "Botwarden": botwarden, "Origin": origin, "Prefix": prefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"),
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+";")
	proctest.Start(t, cmd, "127.0.0.1:"+port, syscall.SIGQUIT, filepath.Join(dir, "error.log"))
	return "http://127.0.0.1:" + port
}

// TestNginxAuthRequest drives a real nginx with auth_request in front of a
// test origin.
func TestNginxAuthRequest(t *testing.T) {
	bin := proctest.Find(t, "nginx", "nginx-light")

	var mu sync.Mutex
	var originSaw []http.Header
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		originSaw = append(originSaw, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Set-Cookie", "origin=1")
		io.WriteString(w, "origin says hi")
	}))
	defer origin.Close()

	var seenMu sync.Mutex
	var seenIP netip.Addr
	recorder := detect.EngineFunc{EngineName: "recorder", Fn: func(_ context.Context, r *detect.Request, _ *detect.Verdict) error {
		seenMu.Lock()
		seenIP = r.ClientIP
		seenMu.Unlock()
		return nil
	}}
	p := testPipeline()
	p.Engines = append(p.Engines, recorder)
	bw := newTestServer(t, p, Options{})
	authz := httptest.NewServer(bw.HTTPHandler())
	defer authz.Close()

	base := startNginx(t, bin, strings.TrimPrefix(authz.URL, "http://"), strings.TrimPrefix(origin.URL, "http://"), DefaultHTTPPrefix)
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	lastOrigin := func() http.Header {
		mu.Lock()
		defer mu.Unlock()
		if len(originSaw) == 0 {
			return nil
		}
		return originSaw[len(originSaw)-1]
	}
	originCount := func() int { mu.Lock(); defer mu.Unlock(); return len(originSaw) }

	browser := map[string]string{
		"User-Agent":      chromeUA,
		"Accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
		"Accept-Language": "en-US,en;q=0.9",
		"Sec-Ch-Ua":       `"Chromium";v="126", "Google Chrome";v="126", "Not-A.Brand";v="8"`,
		"Sec-Fetch-Mode":  "navigate",
		"X-Bot-Score":     "99", // spoofed
	}
	curl := map[string]string{"User-Agent": curlUA, "Accept": "*/*", "X-Bot-Score": "99"}

	t.Run("browser passes with the verdict upstream", func(t *testing.T) {
		resp, body := get("/products?id=1", browser)
		if resp.StatusCode != 200 || body != "origin says hi" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		h := lastOrigin()
		if h.Get("X-Bot-Score") != "80" || h.Get("X-Bot-Category") != "likely_human" || h.Get("X-Bot-Action") != "allow" {
			t.Fatalf("origin saw %v", h)
		}
		if vals := h.Values("X-Bot-Score"); len(vals) != 1 {
			t.Fatalf("origin saw x-bot-score %v; the client's copy must not pass", vals)
		}
	})
	t.Run("curl is blocked by nginx with the block page", func(t *testing.T) {
		before := originCount()
		resp, body := get("/", curl)
		if resp.StatusCode != 403 || !strings.Contains(body, "Access denied") {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if originCount() != before {
			t.Fatal("a blocked request reached the origin")
		}
		// The reference id on the page is nginx's $request_id, the same
		// one botwarden saw in the auth subrequest.
		if !regexp.MustCompile(`<code>[0-9a-f]{32}</code>`).MatchString(body) {
			t.Fatalf("no reference id: %s", body)
		}
	})
	t.Run("challenge without a challenge responder gets the block page", func(t *testing.T) {
		resp, body := get("/challenge", browser)
		if resp.StatusCode != 403 || !strings.Contains(body, "Access denied") {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	})
	t.Run("client IP is what nginx appended, not what the client claims", func(t *testing.T) {
		hdr := map[string]string{"X-Forwarded-For": "6.6.6.6"}
		for k, v := range browser {
			hdr[k] = v
		}
		get("/", hdr)
		seenMu.Lock()
		defer seenMu.Unlock()
		if seenIP != netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("client ip %v", seenIP)
		}
	})
	t.Run("rate limit reaches the client as 429", func(t *testing.T) {
		resp, body := get("/limited", browser)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || !strings.Contains(body, "Too many requests") {
			t.Fatalf("got %d %v %q", resp.StatusCode, resp.Header, body)
		}
	})
	t.Run("monitor mode passes curl without verdict or spoofed headers", func(t *testing.T) {
		resp, _ := get("/monitor/x", curl)
		if resp.StatusCode != 200 {
			t.Fatalf("got %d", resp.StatusCode)
		}
		if h := lastOrigin(); h.Get("X-Bot-Score") != "" {
			t.Fatalf("origin saw x-bot-score %q in monitor mode", h.Get("X-Bot-Score"))
		}
	})
	t.Run("session cookie reaches the client on allow", func(t *testing.T) {
		resp, _ := get("/cookie", browser)
		cookies := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
		if resp.StatusCode != 200 || !strings.Contains(cookies, "__bw=abc") || !strings.Contains(cookies, "origin=1") {
			t.Fatalf("got %d cookies %q", resp.StatusCode, cookies)
		}
	})
}
