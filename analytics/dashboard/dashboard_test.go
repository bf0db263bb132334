package dashboard

import (
	"io"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

func TestPagesAndFiles(t *testing.T) {
	h := Handler()
	for path, want := range map[string]string{
		"/": "<main", "/explorer?ip=192.0.2.1": "<main", "/verdicts": "<main", "/rule": "<main",
		"/static/app.js": "textContent", "/static/app.css": "body",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d", path, rec.Code)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/nope", nil))
	if rec.Code != 404 {
		t.Errorf("/nope: %d", rec.Code)
	}
}

// TestScriptBuildsNoMarkup keeps the page's one rule: no HTML parsing of
// data anywhere in the script.
func TestScriptBuildsNoMarkup(t *testing.T) {
	src, err := static.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(src), sink) {
			t.Errorf("app.js uses %s", sink)
		}
	}
}

// TestFieldTextUnknownZero runs the script's field rendering in Node: an
// ASN or status of 0 is "unknown", other zeros are numbers.
func TestFieldTextUnknownZero(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	src, err := static.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	// The script only defines functions and registers listeners at load.
	harness := `const vm = require("vm"); const fs = require("fs");
const ctx = { window: { addEventListener() {} }, document: { addEventListener() {} }, Intl, URLSearchParams, console };
vm.createContext(ctx); vm.runInContext(fs.readFileSync(0, "utf8"), ctx);
const out = [["ClientASN", 0], ["ClientASN", 64500], ["EdgeResponseStatus", 0], ["BotScore", 0], ["BotTags", ["a", "b"]], ["JA4", undefined]]
  .map(([k, v]) => vm.runInContext("fieldText", ctx)(k, v));
console.log(JSON.stringify(out));`
	cmd := exec.Command(node, "-e", harness)
	cmd.Stdin = strings.NewReader(string(src))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), `["unknown","64500","unknown","0","a, b",""]`; got != want {
		t.Fatalf("fieldText: %s, want %s", got, want)
	}
}
