package wasm

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/e2e/gateway"
	"github.com/botwarden/botwarden/internal/metricstest"
	"github.com/botwarden/botwarden/wasmfilter"
)

// pages is an HTML origin: /p/N links to /p/N+1.
type pages struct{}

func (pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/p/"))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><html><head><title>page %d</title></head><body><h1>page %d</h1><a href="/p/%d">next</a></body></html>`, n, n, n+1)
}

// TestInvisibleDetection runs envoy-wasm.yaml's filter, with the response
// path, in the in-repo gateway: HTML pages get the detection script; a
// client that never runs it is likely automated by its third page and
// challenged; real (headless) Chromium runs it without any interstitial
// and its result, recorded in the session cookie, decides its next page.
func TestInvisibleDetection(t *testing.T) {
	log.SetOutput(io.Discard) // proxytest prints every proxy_log call
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	cfgFile, fc := jsdConfig(t)
	s := botwarden(t, fc, func(c *config.Config) { c.ML.JSDetection.Expected = true })
	host := gateway.NewWasmHost(buildFilter(t))
	t.Cleanup(func() { _ = host.Close() })
	gw := startGateway(t, s, serveLoopback(t, pages{}), host, cfgFile, nil)
	base := gw.URL()
	tag := wasmfilter.ScriptTag(fc.JSDetection.ScriptURL)

	t.Run("never-js client", func(t *testing.T) {
		c := newClient("script", "203.0.113.50", true, gw)
		var got []string
		for i := 1; i <= 4; i++ {
			code, body := c.get(t, base, fmt.Sprintf("/p/%d", i))
			switch {
			case code == http.StatusOK && strings.Contains(body, tag+"</body>"):
				got = append(got, "page+script")
			case code == http.StatusOK:
				got = append(got, "page")
			case code == http.StatusForbidden && strings.Contains(body, "/.well-known/botwarden/challenge"):
				got = append(got, "challenged")
			default:
				got = append(got, strconv.Itoa(code))
			}
		}
		t.Logf("never-js client, pages 1-4: %v", got)
		if got[0] != "page+script" || got[1] != "page+script" || got[2] != "challenged" {
			t.Errorf("never-js client: %v, want the script on pages 1-2 and a challenge by page 3", got)
		}
		// The script itself is served through the gateway, unchecked.
		code, body := c.get(t, base, fc.JSDetection.ScriptURL)
		if code != http.StatusOK || !strings.Contains(body, "bwSignals") {
			t.Errorf("script: %d", code)
		}
	})

	t.Run("headless chromium", func(t *testing.T) {
		bin := ""
		for _, n := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(n); err == nil {
				bin = p
			}
		}
		if bin == "" {
			t.Skip("chromium not installed (Debian package chromium); CI installs it")
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.Flag("ignore-certificate-errors", true),
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true), chromedp.Flag("disable-gpu", true), chromedp.UserDataDir(t.TempDir()),
			// Without its HeadlessChrome token, so that the UA rules do
			// not stop it before a page runs the detection.
			chromedp.UserAgent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"))
		if os.Getuid() == 0 {
			opts = append(opts, chromedp.NoSandbox)
		}
		actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
		defer cancel()
		ctx, cancel2 := chromedp.NewContext(actx)
		defer cancel2()
		if err := chromedp.Do(ctx); err != nil {
			t.Fatalf("start chromium: %v", err)
		}
		tctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
		defer cancel3()
		if err := chromedp.Do(tctx, chromedp.Navigate(base+"/p/1")); err != nil {
			t.Fatal(err)
		}
		title, err := chromedp.Run(tctx, chromedp.Title())
		if err != nil {
			t.Fatal(err)
		}
		if title != "page 1" {
			t.Fatalf("first page: title %q (challenged?)", title)
		}
		// The injected script posts its readings in the background; the
		// server counts the result before its answer (with the cookie)
		// reaches the browser, so the cookie is waited for too.
		before := browserCookie(t, tctx, base, fc.CookieName)
		deadline := time.Now().Add(30 * time.Second)
		for metricstest.Sum(t, s.Registry(), "botwarden_challenge_submissions_total", map[string]string{"result": "jsd_failed"}) < 1 {
			if time.Now().After(deadline) {
				t.Fatalf("no detection result recorded (jsd_passed %v)",
					metricstest.Sum(t, s.Registry(), "botwarden_challenge_submissions_total", map[string]string{"result": "jsd_passed"}))
			}
			time.Sleep(100 * time.Millisecond)
		}
		for browserCookie(t, tctx, base, fc.CookieName) == before {
			if time.Now().After(deadline) {
				t.Fatal("the detection's result never reached the browser's cookie")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := chromedp.Do(tctx, chromedp.Navigate(base+"/p/2")); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(tctx, chromedp.Title())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("headless chromium, page 2 after its detection result: title %q", text)
		if strings.Contains(text, "page 2") {
			t.Errorf("headless Chromium was served page 2 after failing the invisible detection")
		}
	})
}

// browserCookie is the value of the browser's cookie name for url ("" when
// it has none).
func browserCookie(t *testing.T, ctx context.Context, url, name string) string {
	t.Helper()
	res, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// jsdConfig writes a copy of envoy-wasm.yaml with the filter's
// js_detection turned on and returns its path and the filter's config.
func jsdConfig(t *testing.T) (string, wasmfilter.Config) {
	t.Helper()
	raw, err := os.ReadFile(envoyWasm)
	if err != nil {
		t.Fatal(err)
	}
	on := strings.Replace(string(raw), `"fail_mode": "open"`, `"fail_mode": "open", "js_detection": {"enabled": true}`, 1)
	cfgFile := filepath.Join(t.TempDir(), "envoy-wasm-jsd.yaml")
	if err := os.WriteFile(cfgFile, []byte(on), 0o644); err != nil {
		t.Fatal(err)
	}
	fc := pluginConfig(t, cfgFile)
	if !fc.JSDetection.Enabled {
		t.Fatal("js_detection not enabled in the test's copy of envoy-wasm.yaml")
	}
	return cfgFile, fc
}
