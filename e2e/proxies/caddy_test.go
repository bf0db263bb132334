package proxies

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"

	"github.com/botwarden/botwarden/e2e"
	"github.com/botwarden/botwarden/e2e/fetch"
	"github.com/botwarden/botwarden/internal/proctest"
)

// caddyfile is the README's Caddy block with test addresses. It spells out
// what forward_auth is short for, because Caddy 2.6's copy_headers writes the
// literal placeholder "{http.reverse_proxy.header.X-Bot-Score}" upstream when
// botwarden's answer has no such header (monitor mode, a skip rule): each
// header is copied only when the answer carries it (in a CEL expression the
// placeholder of a missing header is null). Site-level
// request_header runs before the handle blocks (Caddy's directive order), so
// client copies are gone first. The answer's Set-Cookie (the session cookie)
// is added to the client's response. Denials (403, 429, the challenge page)
// come back to the client as botwarden wrote them; the challenge endpoint is
// botwarden's own. The GET with X-Forwarded-Method/-Uri (and
// reverse_proxy's X-Forwarded-For/-Proto/-Host) is botwarden's Traefik
// dialect.
const caddyfile = `{
	admin off
	auto_https off
}

http://:{{.Port}} {
{{- range .Headers}}
	request_header -{{.}}
{{- end}}

	handle /.well-known/botwarden/* {
		reverse_proxy {{.Botwarden}}
	}
	handle {
		reverse_proxy {{.Botwarden}} {
			method GET
			rewrite /authz/traefik
			header_up X-Forwarded-Method {method}
			header_up X-Forwarded-Uri {uri}
			@allowed status 2xx
			handle_response @allowed {
{{- range .Headers}}
				@has-{{.}} expression "{rp.header.{{.}}} != null"
				request_header @has-{{.}} {{.}} {rp.header.{{.}}}
{{- end}}
				@cookie expression "{rp.header.Set-Cookie} != null"
				header @cookie +Set-Cookie {rp.header.Set-Cookie}
			}
		}
		reverse_proxy {{.Origin}}
	}
}
`

// verdictHeaders are the headers botwarden sends upstream on allow.
var verdictHeaders = []string{"X-Bot-Score", "X-Bot-Score-Src", "X-Bot-Category", "X-Bot-Tags", "X-Bot-Verified",
	"X-Bot-Verified-Category", "X-Bot-Detection-Ids", "X-Bot-Action", "X-Bot-Rule", "X-Bot-Js-Detection"}

// policy challenges /login, rate-limits /limited to one request a minute,
// and puts the host monitor.test in monitor mode.
const policy = `version: 1
mode: mitigate
hosts:
  monitor.test: monitor
presets: [bot_fight]
rules:
- id: login-challenge
  expression: http.path_only == '/login'
  action: managed_challenge
- id: limited
  expression: http.path_only == '/limited'
  action: rate_limit
  rate_limit: {key: ip, requests: 1, period: 1m, burst: 1}
`

// startCaddy runs Debian's caddy with caddyfile and returns its base URL.
func startCaddy(t *testing.T, botwarden, origin string) string {
	t.Helper()
	bin := proctest.Find(t, "caddy", "caddy")
	dir := t.TempDir()
	port := proctest.FreePort(t)
	var conf bytes.Buffer
	if err := template.Must(template.New("caddy").Parse(caddyfile)).Execute(&conf, map[string]any{
		"Port": port, "Botwarden": botwarden, "Origin": origin, "Headers": verdictHeaders,
	}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, conf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	// Caddy keeps state under $HOME and $XDG_*; none of the machine's.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	proctest.Start(t, cmd, "127.0.0.1:"+port, syscall.SIGTERM)
	return "http://127.0.0.1:" + port
}

var (
	browser = []string{
		"User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
		"Accept-Language", "en-US,en;q=0.9", "Accept-Encoding", "gzip, deflate, br",
		"Sec-Ch-Ua", `"Chromium";v="131", "Google Chrome";v="131", "Not-A.Brand";v="24"`,
		"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none",
		"X-Bot-Score", "99", "X-Bot-Category", "verified_bot", // spoofed
	}
	curl = []string{"User-Agent", "curl/8.5.0", "Accept", "*/*", "X-Bot-Score", "99"}
)

func get(t *testing.T, url, host string, headers []string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if host != "" {
		req.Host = host
	}
	return fetch.Do(t, req)
}

// TestCaddyForwardAuth drives Debian's caddy with forward_auth in front of
// an origin, asking a real botwarden.
func TestCaddyForwardAuth(t *testing.T) {
	bw := e2e.StartBotwarden(t, e2e.Policy(t, policy))
	origin := e2e.StartOrigin(t)
	base := startCaddy(t, bw.HTTPAddr, origin.Addr)

	t.Run("browser passes with botwarden's verdict, not the client's", func(t *testing.T) {
		resp, _ := get(t, base+"/products/1", "", browser)
		seen := origin.Reached("/products/1")
		if resp.StatusCode != 200 || len(seen) != 1 {
			t.Fatalf("status %d, origin saw %d requests", resp.StatusCode, len(seen))
		}
		h := seen[0].Header
		if vals := h.Values("X-Bot-Score"); len(vals) != 1 || vals[0] == "99" {
			t.Fatalf("origin saw x-bot-score %v; want botwarden's one value", vals)
		}
		if h.Get("X-Bot-Category") != "likely_human" || h.Get("X-Bot-Action") != "allow" {
			t.Fatalf("origin saw %v", h)
		}
		for k, v := range h {
			if strings.Contains(strings.Join(v, ""), "{") {
				t.Errorf("origin saw %s %v: an unresolved Caddy placeholder", k, v)
			}
		}
		if !strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), "\n"), "__bw=") {
			t.Errorf("the session cookie did not reach the client: %v", resp.Header.Values("Set-Cookie"))
		}
	})
	t.Run("curl is blocked with botwarden's page", func(t *testing.T) {
		resp, body := get(t, base+"/blocked", "", curl)
		if resp.StatusCode != 403 || !strings.Contains(body, "Access denied") {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		if len(origin.Reached("/blocked")) != 0 {
			t.Fatal("a blocked request reached the origin")
		}
	})
	t.Run("challenge page reaches the client", func(t *testing.T) {
		resp, body := get(t, base+"/login", "", browser)
		if resp.StatusCode < 400 || !strings.Contains(body, "/.well-known/botwarden/") {
			t.Fatalf("got %d %.300q", resp.StatusCode, body)
		}
		if len(origin.Reached("/login")) != 0 {
			t.Fatal("a challenged request reached the origin")
		}
	})
	t.Run("challenge endpoint is served by botwarden", func(t *testing.T) {
		resp, _ := get(t, base+"/.well-known/botwarden/nothing-here", "", browser)
		if len(origin.Reached("/.well-known/botwarden/nothing-here")) != 0 || resp.StatusCode == 200 {
			t.Fatalf("status %d; the challenge prefix must go to botwarden, not the origin", resp.StatusCode)
		}
	})
	t.Run("rate limit reaches the client as 429 with Retry-After", func(t *testing.T) {
		var resp *http.Response
		for range 4 {
			if resp, _ = get(t, base+"/limited", "", browser); resp.StatusCode == 429 {
				break
			}
		}
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("monitor mode passes curl and the client's copies are stripped", func(t *testing.T) {
		resp, _ := get(t, base+"/monitored", "monitor.test", curl)
		seen := origin.Reached("/monitored")
		if resp.StatusCode != 200 || len(seen) != 1 {
			t.Fatalf("status %d, origin saw %d", resp.StatusCode, len(seen))
		}
		for k, v := range seen[0].Header {
			if strings.HasPrefix(k, "X-Bot-") {
				t.Errorf("origin saw %s %v in monitor mode (a client copy or a placeholder)", k, v)
			}
		}
	})
}
