package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/e2e/fetch"
	"github.com/botwarden/botwarden/e2e/gateway"
	"github.com/botwarden/botwarden/internal/metricstest"
)

// chromeHeaders are what Chrome 131 on Windows sends for a navigation.
var chromeHeaders = [][2]string{
	{"User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
	{"Sec-Ch-Ua", `"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"`},
	{"Sec-Ch-Ua-Mobile", "?0"},
	{"Sec-Ch-Ua-Platform", `"Windows"`},
	{"Upgrade-Insecure-Requests", "1"},
	{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"},
	{"Sec-Fetch-Site", "none"},
	{"Sec-Fetch-Mode", "navigate"},
	{"Sec-Fetch-User", "?1"},
	{"Sec-Fetch-Dest", "document"},
	{"Accept-Encoding", "gzip, deflate, br, zstd"},
	{"Accept-Language", "en-US,en;q=0.9"},
}

// get sends a GET with the given headers (name, value pairs after the
// browser's when browser is set) and returns the response and body.
func get(t *testing.T, url string, browser bool, extra ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if browser {
		for _, h := range chromeHeaders {
			req.Header.Set(h[0], h[1])
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	return fetch.Do(t, req)
}

func seenBy(t *testing.T, body string) Seen {
	t.Helper()
	var s Seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("not the origin's echo: %v: %.200q", err, body)
	}
	return s
}

// TestBrowserPassesWithScore: a request with a real browser's headers
// reaches the origin with botwarden's verdict headers.
func TestBrowserPassesWithScore(t *testing.T) {
	EachGateway(t, func(t *testing.T, kind string) {
		bw, o := StartBotwarden(t, nil), StartOrigin(t)
		gw := StartGateway(t, kind, bw, o, gateway.Options{})

		resp, body := get(t, gw.URL()+"/products/42", true)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
		h := seenBy(t, body).Header
		score, err := strconv.Atoi(h.Get(detect.HeaderScore))
		if err != nil || score < detect.ScoreLikelyHuman {
			t.Errorf("x-bot-score %q, want a likely-human score (≥ %d); headers %v", h.Get(detect.HeaderScore), detect.ScoreLikelyHuman, h)
		}
		t.Logf("browser verdict: score %s (%s), category %s", h.Get(detect.HeaderScore), h.Get(detect.HeaderScoreSrc), h.Get(detect.HeaderCategory))
		if h.Get(detect.HeaderCategory) != string(detect.CategoryLikelyHuman) || h.Get(detect.HeaderAction) != string(detect.ActionAllow) {
			t.Errorf("category %q action %q", h.Get(detect.HeaderCategory), h.Get(detect.HeaderAction))
		}
		if h.Get(gateway.HeaderFailureModeAllowed) != "" {
			t.Error("the check failed open: botwarden did not answer")
		}
	})
}

// botClients are the HTTP libraries and tools a bot uses, each sending its
// own default user agent.
var botClients = []struct {
	name string
	// run requests url and returns the HTTP status; ok=false skips (tool absent).
	run func(t *testing.T, url string) (status int, ok bool)
}{
	{"python-requests UA (Go client)", func(t *testing.T, url string) (int, bool) {
		resp, _ := get(t, url, false, "User-Agent", "python-requests/2.32.3", "Accept", "*/*", "Accept-Encoding", "gzip, deflate")
		return resp.StatusCode, true
	}},
	{"curl", func(t *testing.T, url string) (int, bool) {
		return runTool(t, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", url)
	}},
	{"wget", func(t *testing.T, url string) (int, bool) {
		return runTool(t, "wget", "-q", "-S", "-O", "/dev/null", "--tries=1", "--timeout=10", "--max-redirect=0", url)
	}},
	{"python3 requests", func(t *testing.T, url string) (int, bool) {
		return runTool(t, "python3", "-c", "import sys, requests; print(requests.get(sys.argv[1], timeout=10, allow_redirects=False).status_code)", url)
	}},
}

// eachBot runs check on the status every available bot client got for its
// own URI through gw.
func eachBot(t *testing.T, gw gateway.Gateway, check func(t *testing.T, uri string, status int)) {
	for i, c := range botClients {
		t.Run(c.name, func(t *testing.T) {
			uri := "/catalog/" + strconv.Itoa(i)
			status, ok := c.run(t, gw.URL()+uri)
			if !ok {
				t.Skip("client not available")
			}
			check(t, uri, status)
		})
	}
}

// runTool runs a real client binary and extracts the HTTP status it saw.
func runTool(t *testing.T, tool string, args ...string) (int, bool) {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Logf("%s not installed: skipped", tool)
		return 0, false
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(cmd.Environ(), "no_proxy=*", "NO_PROXY=*", "http_proxy=", "HTTP_PROXY=")
	out, err := cmd.CombinedOutput()
	text := string(out)
	if tool == "python3" && strings.Contains(text, "No module named 'requests'") {
		t.Log("python3 has no requests module: skipped")
		return 0, false
	}
	if tool == "wget" {
		// wget -S prints the response status line; it exits non-zero on 4xx.
		for _, line := range strings.Split(text, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && strings.HasPrefix(f[0], "HTTP/") {
				n, _ := strconv.Atoi(f[1])
				return n, true
			}
		}
		t.Fatalf("wget: no status in %q (%v)", text, err)
	}
	n, convErr := strconv.Atoi(strings.TrimSpace(text))
	if convErr != nil {
		t.Fatalf("%s: %q (%v)", tool, text, err)
	}
	return n, true
}

// TestHTTPLibrariesBlockedInMitigate: the default policy (mitigate,
// bot_fight) blocks definitely-automated clients before the origin.
func TestHTTPLibrariesBlockedInMitigate(t *testing.T) {
	EachGateway(t, func(t *testing.T, kind string) {
		bw, o := StartBotwarden(t, nil), StartOrigin(t)
		gw := StartGateway(t, kind, bw, o, gateway.Options{})
		eachBot(t, gw, func(t *testing.T, uri string, status int) {
			if status != http.StatusForbidden {
				t.Errorf("status %d, want 403", status)
			}
			if n := len(o.Reached(uri)); n != 0 {
				t.Errorf("the origin received %d blocked requests", n)
			}
		})
	})
}

// TestMonitorModePassesAndTags: in monitor mode the same clients pass,
// untouched upstream, and the verdict travels in the ext_authz dynamic
// metadata to the access log. A route whose context_extensions say
// mitigate (/login in envoy-http.yaml) still enforces.
func TestMonitorModePassesAndTags(t *testing.T) {
	EachGateway(t, func(t *testing.T, kind string) {
		bw, o := StartBotwarden(t, Policy(t, "version: 1\nmode: monitor\npresets: [bot_fight]\n")), StartOrigin(t)
		tap := &gateway.Recorder{}
		gw := StartGateway(t, kind, bw, o, gateway.Options{Tap: tap})

		eachBot(t, gw, func(t *testing.T, uri string, status int) {
			if status != http.StatusOK {
				t.Fatalf("status %d, want 200 in monitor mode", status)
			}
			got := o.Reached(uri)
			if len(got) != 1 {
				t.Fatalf("origin received %d requests", len(got))
			}
			if v := got[0].Header.Get(detect.HeaderScore); v != "" {
				t.Errorf("monitor mode sent x-bot-score %q upstream", v)
			}
			id := got[0].Header.Get("X-Request-Id")
			e := tap.WaitFor(id, 5*time.Second)
			if e == nil {
				t.Fatalf("no access-log entry for %s", id)
			}
			md := e.GetCommonProperties().GetMetadata().GetFilterMetadata()[gateway.MetadataNamespace].GetFields()
			if md[detect.FieldBotScore].GetNumberValue() != 1 || md[detect.FieldAction].GetStringValue() != string(detect.ActionBlock) ||
				md[detect.FieldEnforcedAction].GetStringValue() != string(detect.ActionAllow) || md[detect.FieldMode].GetStringValue() != string(detect.ModeMonitor) {
				t.Errorf("dynamic metadata %v: want score 1, action block, enforced allow, mode monitor", md)
			}
			if len(md[detect.FieldBotTags].GetListValue().GetValues()) == 0 && md[detect.FieldBotTags].GetStringValue() == "" {
				t.Errorf("no tags in %v", md)
			}
		})

		// /login is mitigate by route even though the policy says monitor.
		status, ok := botClients[1].run(t, gw.URL()+"/login")
		if ok && status != http.StatusForbidden {
			t.Errorf("curl on /login: status %d, want 403 (route mode mitigate)", status)
		}
	})
}

// TestClientCannotSendVerdictHeaders: whatever a client claims in x-bot-*
// or the JA4 header never reaches the origin, with botwarden answering or not.
func TestClientCannotSendVerdictHeaders(t *testing.T) {
	spoof := []string{"X-Bot-Score", "99", "X-Bot-Verified", "true", "X-Bot-Verified-Category", "search_engine", "X-Botwarden-Ja4", "t13d1516h2_8daaf6152771_d8a2da3f94cd", "X-Bot-Anything", "1"}
	EachGateway(t, func(t *testing.T, kind string) {
		bw, o := StartBotwarden(t, nil), StartOrigin(t)
		gw := StartGateway(t, kind, bw, o, gateway.Options{})
		resp, body := get(t, gw.URL()+"/spoof", true, spoof...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		h := seenBy(t, body).Header
		if h.Get(detect.HeaderScore) == "99" || h.Get(detect.HeaderScore) == "" {
			t.Errorf("x-bot-score %q: want botwarden's own", h.Get(detect.HeaderScore))
		}
		if h.Get(detect.HeaderVerified) != "false" || h.Get(detect.HeaderVerifiedCat) != "" || h.Get("X-Bot-Anything") != "" || h.Get(detect.HeaderJA4) != "" {
			t.Errorf("spoofed headers reached the origin: %v", h)
		}

		// With botwarden down and failure_mode_allow, Envoy's header
		// mutation still strips the verdict headers.
		bw.Stop()
		resp, body = get(t, gw.URL()+"/spoof-down", true, spoof...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d with botwarden down", resp.StatusCode)
		}
		h = seenBy(t, body).Header
		for _, name := range []string{detect.HeaderScore, detect.HeaderVerified, detect.HeaderVerifiedCat, detect.HeaderJA4} {
			if v := h.Get(name); v != "" {
				t.Errorf("fail-open: %s = %q reached the origin", name, v)
			}
		}
		if h.Get(gateway.HeaderFailureModeAllowed) != "true" {
			t.Error("the fail-open request is not marked")
		}
	})
}

// TestBotwardenStopped: with botwarden gone the gateway applies
// failure_mode_allow as configured.
func TestBotwardenStopped(t *testing.T) {
	for _, allow := range []bool{true, false} {
		t.Run("failure_mode_allow="+strconv.FormatBool(allow), func(t *testing.T) {
			EachGateway(t, func(t *testing.T, kind string) {
				bw, o := StartBotwarden(t, nil), StartOrigin(t)
				gw := StartGateway(t, kind, bw, o, gateway.Options{FailureModeAllow: &allow, AuthzTimeout: 500 * time.Millisecond})

				// Up: a bot is blocked.
				if status, _ := botClients[0].run(t, gw.URL()+"/before"); status != http.StatusForbidden {
					t.Fatalf("before the stop: status %d, want 403", status)
				}
				bw.Stop()
				resp, body := get(t, gw.URL()+"/after", true)
				status, _ := botClients[0].run(t, gw.URL()+"/after-bot")
				if allow {
					if resp.StatusCode != http.StatusOK || status != http.StatusOK {
						t.Fatalf("fail-open: browser %d, bot %d, want both let through", resp.StatusCode, status)
					}
					h := seenBy(t, body).Header
					if h.Get(gateway.HeaderFailureModeAllowed) != "true" || h.Get(detect.HeaderScore) != "" {
						t.Errorf("fail-open request: %s=%q x-bot-score=%q", gateway.HeaderFailureModeAllowed, h.Get(gateway.HeaderFailureModeAllowed), h.Get(detect.HeaderScore))
					}
					return
				}
				// status_on_error in envoy-http.yaml is 503.
				if resp.StatusCode != http.StatusServiceUnavailable || status != http.StatusServiceUnavailable {
					t.Errorf("fail-closed: browser %d, bot %d, want 503", resp.StatusCode, status)
				}
				if n := len(o.Reached("/after")) + len(o.Reached("/after-bot")); n != 0 {
					t.Errorf("origin received %d requests with botwarden down and fail-closed", n)
				}
			})
		})
	}
}

// TestAccessLogReachesBotwarden: the gateway's access log (Envoy's, or the
// in-repo Streamer) is accepted by botwarden's ALS receiver.
func TestAccessLogReachesBotwarden(t *testing.T) {
	EachGateway(t, func(t *testing.T, kind string) {
		bw, o := StartBotwarden(t, nil), StartOrigin(t)
		gw := StartGateway(t, kind, bw, o, gateway.Options{})
		for i := 0; i < 3; i++ {
			get(t, gw.URL()+"/page/"+strconv.Itoa(i), true)
		}
		deadline := time.Now().Add(10 * time.Second) // Envoy flushes every second
		for time.Now().Before(deadline) {
			if n := metricstest.Sum(t, bw.Server.Registry(), "botwarden_als_entries_total", map[string]string{"result": "accepted"}); n >= 3 {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("botwarden accepted %v ALS entries, want ≥ 3", metricstest.Sum(t, bw.Server.Registry(), "botwarden_als_entries_total", map[string]string{"result": "accepted"}))
	})
}
