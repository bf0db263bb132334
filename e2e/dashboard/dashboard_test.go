package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/e2e"
	"github.com/botwarden/botwarden/e2e/gateway"
	"github.com/botwarden/botwarden/extauthz"
)

// chromium returns Debian's chromium. As root (CI, which installs it) a
// missing browser fails the test; elsewhere it skips saying why.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getuid() == 0 {
		t.Fatal("chromium not installed (Debian package chromium; .ci/run and scripts/deps.sh install it)")
	}
	t.Skip("chromium not installed (Debian package chromium); CI installs it")
	return ""
}

func browser(t *testing.T) context.Context {
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.WindowSize(1280, 1600),
		chromedp.UserDataDir(t.TempDir())}
	for _, f := range []string{"no-sandbox", "disable-gpu", "disable-background-networking", "disable-component-update", "disable-sync", "no-first-run"} {
		opts = append(opts, chromedp.Flag(f, true))
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// artifacts is where screenshots go: $BOTWARDEN_ARTIFACTS when set (CI
// keeps that directory), else a directory the test log names.
func artifacts(t *testing.T) string {
	dir := os.Getenv("BOTWARDEN_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "botwarden-artifacts")
	}
	dir = filepath.Join(dir, "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

const (
	xssUA    = `<img src=x onerror="document.title='pwned';window.__pwned=1">`
	chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
)

func send(t *testing.T, base, path, ua string, n int) {
	for i := range n {
		req, _ := http.NewRequest("GET", base, nil)
		// Opaque goes onto the request line as written: the markup in the
		// path reaches the gateway unescaped, as a raw client would send it.
		req.URL.Opaque = path + fmt.Sprintf("?i=%d", i)
		req.Header.Set("User-Agent", ua)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("drives Chromium")
	}
	ctx := browser(t)
	bw := e2e.StartBotwarden(t, func(c *config.Config) {
		c.Analytics.Ingest.FlushInterval = 50 * time.Millisecond
		c.Analytics.Ingest.JoinWindow = 3 * time.Second
	})
	origin := e2e.StartOrigin(t)
	gw := e2e.StartGateway(t, "in-repo", bw, origin, gateway.Options{})
	traffic := map[string]int{xssUA: 7, chromeUA: 5, "curl/8.5.0": 4} // curl: 3 here, 1 below
	send(t, gw.URL(), "/xss/<script>alert(1)</script>", xssUA, traffic[xssUA])
	send(t, gw.URL(), "/products/1", chromeUA, traffic[chromeUA])
	send(t, gw.URL(), "/api/list", "curl/8.5.0", 3)
	const total = 16

	admin := "http://" + bw.Server.AdminAddr().String()
	// "Why was I blocked?": the block page's reference finds the request.
	req, _ := http.NewRequest("GET", gw.URL()+"/api/list?why", nil)
	req.Header.Set("User-Agent", "curl/8.5.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`reference <code>([0-9a-f]{16})</code>`).FindSubmatch(page)
	if resp.StatusCode != 403 || m == nil {
		t.Fatalf("block page %d without a reference: %s", resp.StatusCode, page)
	}
	ray := string(m[1])
	var found struct {
		Records []struct {
			RayID, BotAction, BotRuleID string
			BotDetectionIDs             []int
		}
		Detections map[string]string
	}
	for deadline := time.Now().Add(20 * time.Second); len(found.Records) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(admin + "/api/v1/events?since=1h&ray_id=" + ray)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&found)
		resp.Body.Close()
	}
	if len(found.Records) != 1 || found.Records[0].BotAction != "block" || found.Records[0].BotRuleID == "" || len(found.Records[0].BotDetectionIDs) == 0 {
		t.Fatalf("reference %s finds %+v; want the one blocked request with its rule and detections", ray, found.Records)
	}
	// The page's "I am human" form, through the gateway as a visitor sends
	// it: accepted for the real reference, refused for a made-up one.
	for _, c := range []struct {
		ray  string
		code int
	}{{ray, 200}, {"0123456789abcdef", 404}} {
		resp, err := http.PostForm(gw.URL()+extauthz.FeedbackPath, url.Values{"ray": {c.ray}, "message": {`<img src=x onerror="window.__pwned=1">I was buying socks`}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Fatalf("feedback form for %s: %d, want %d: %s", c.ray, resp.StatusCode, c.code, body)
		}
	}
	var fb struct {
		Feedback []struct{ Kind, RayID, Key, Description string } `json:"feedback"`
	}
	if resp, err := http.Get(admin + "/api/v1/feedback"); err == nil {
		json.NewDecoder(resp.Body).Decode(&fb)
		resp.Body.Close()
	}
	if len(fb.Feedback) != 1 || fb.Feedback[0].Kind != "false_positive" || !strings.Contains(fb.Feedback[0].Description, "socks") {
		t.Fatalf("feedback after the visitor's report: %+v", fb.Feedback)
	}

	// Every request stored, each joined with its access-log entry.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var page struct{ Records []struct{ Logged bool } }
		resp, err := http.Get(admin + "/api/v1/events?limit=100&since=1h")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		joined := 0
		for _, r := range page.Records {
			if r.Logged {
				joined++
			}
		}
		if len(page.Records) == total && joined == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored %d records, %d joined with their access-log entry; want %d", len(page.Records), joined, total)
		}
		time.Sleep(100 * time.Millisecond)
	}

	dir := artifacts(t)
	shot := func(name string) {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open := func(path string) {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(tctx, chromedp.Navigate(admin+path), chromedp.WaitVisible(`body[data-ready="1"]`)); err != nil {
			banner, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("banner").textContent`))
			t.Fatalf("%s: %v (banner %q)", path, err, banner)
		}
	}
	noScriptRan := func(where string) {
		t.Helper()
		pwned, err1 := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__pwned === 1`))
		title, err2 := chromedp.Run(ctx, chromedp.Title())
		imgs, err3 := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("img").length`))
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		if pwned || title == "pwned" || imgs != 0 {
			t.Fatalf("%s: the user agent's markup ran or rendered (pwned=%v title=%q img elements=%d)", where, pwned, title, imgs)
		}
	}

	// Overview, last hour (the landing page).
	open("/")
	text := func(sel string) string {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		s, err := chromedp.Run(tctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return s
	}
	stat := text("#stat-total")
	uaTable := text(`[data-by="user_agent"] table`)
	if stat != fmt.Sprint(total) {
		t.Errorf("overview shows %q requests, sent %d", stat, total)
	}
	for ua, n := range traffic {
		if !strings.Contains(uaTable, ua+"\t"+fmt.Sprint(n)) {
			t.Errorf("top user agents do not show %q with %d:\n%s", ua, n, uaTable)
		}
	}
	// Every request was decided: the category chart has no "not computed".
	if legend := text(`#main .legend`); strings.Contains(legend, "not_computed") {
		t.Errorf("category legend %q: decisions not joined", legend)
	}
	noScriptRan("overview")
	// The Challenges card (loaded after the page is ready): this traffic
	// has no challenge answers; the card says so, in words.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`#stat-challenges-issued`)); err != nil {
		t.Fatal(err)
	}
	ccard, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("stat-challenges-issued").closest("section").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ccard, "no answers in this range") || strings.Contains(ccard, "null") || strings.Contains(ccard, "undefined") {
		t.Errorf("challenges card: %q", ccard)
	}
	shot("overview")

	// Click the markup user agent: the filter is in the URL and the
	// numbers follow it.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.body.dataset.ready = ""`),
		chromedp.Click(`[data-by="user_agent"] td.v a`), chromedp.WaitVisible(`body[data-ready="1"]`)); err != nil {
		t.Fatal(err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	stat = text("#stat-total")
	u, _ := url.Parse(loc)
	if u.Query().Get("user_agent") != xssUA || stat != "7" {
		t.Errorf("after clicking the top user agent: URL %s, total %q; want the filter in the URL and 7", loc, stat)
	}
	noScriptRan("filtered overview")

	// Log explorer on the same filter: seven rows, the agent shown as text.
	open("/explorer?since=1h&user_agent=" + url.QueryEscape(xssUA))
	rows, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#events tr.ev").length`))
	events := text("#events")
	if rows != 7 || !strings.Contains(events, xssUA) || !strings.Contains(events, "/xss/<script>alert(1)</script>") {
		t.Errorf("explorer: %d rows (want 7), agent shown as text: %v\n%s", rows, strings.Contains(events, xssUA), events)
	}
	noScriptRan("explorer")
	shot("explorer")

	// "Why was I blocked?": the reference finds the request, and its
	// detail shows the rule and each detection ID with its text.
	open("/explorer?since=1h&ray_id=" + ray)
	if err := chromedp.Do(ctx, chromedp.Click(`#events tr.ev`)); err != nil {
		t.Fatal(err)
	}
	detail := text("#events tr.detail")
	for _, id := range found.Records[0].BotDetectionIDs {
		want := found.Detections[strconv.Itoa(id)]
		if want == "" || !strings.Contains(detail, strconv.Itoa(id)+" — "+want) {
			t.Errorf("detail of %s lacks detection %d with its text %q:\n%s", ray, id, want, detail)
		}
	}
	if !strings.Contains(detail, found.Records[0].BotRuleID) {
		t.Errorf("detail of %s lacks its rule %s", ray, found.Records[0].BotRuleID)
	}

	// Filter to rule: the expression selects the same seven requests.
	open("/rule?since=1h&user_agent=" + url.QueryEscape(xssUA))
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Click(`form.draft button`), chromedp.WaitVisible(`#draft-matched`)); err != nil {
		t.Fatal(err)
	}
	matched := text("#draft-matched")
	if matched != "7" {
		t.Errorf("draft rule matched %q, want 7", matched)
	}
	noScriptRan("rule")
	shot("rule")

	open("/verdicts?since=1h")
	noScriptRan("verdicts")
	shot("verdicts")

	// The visitor's report applied nothing; the operator exempts the
	// visitor from its row, and the exemption is live.
	if err := chromedp.Do(ctx, chromedp.Click(`#feedback button`),
		chromedp.Poll[chromedp.Void](`document.querySelector("#feedback .note").textContent.includes("exempt until")`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		note, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#feedback .note")?.textContent`))
		t.Fatalf("exempt from the visitor's report: %v (note %q)", err, note)
	}
	var live struct {
		Feedback []struct {
			Origin  string
			Key     string
			Applied *struct{ Key string }
		} `json:"feedback"`
	}
	if resp, err := http.Get(admin + "/api/v1/feedback?live=true"); err == nil {
		json.NewDecoder(resp.Body).Decode(&live)
		resp.Body.Close()
	}
	if len(live.Feedback) != 1 || live.Feedback[0].Origin != "operator" || live.Feedback[0].Applied == nil ||
		live.Feedback[0].Applied.Key != "feedback:"+live.Feedback[0].Key {
		t.Fatalf("live feedback after the exemption: %+v", live.Feedback)
	}
}
