package dashboard

import (
	"io"
	"net/http/httptest"
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
