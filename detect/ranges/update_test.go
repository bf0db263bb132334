package ranges

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// operatorServer serves the shapes operators publish, plus broken answers,
// over real HTTP on loopback. Bodies can be swapped between updates.
type operatorServer struct {
	mu     sync.Mutex
	bodies map[string]string
	ctypes map[string]string
	status map[string]int
	*httptest.Server
}

func newOperatorServer(t *testing.T) *operatorServer {
	s := &operatorServer{
		bodies: map[string]string{
			"/googlebot.json": `{"creationTime":"2026-08-21T14:45:42","prefixes":[{"ipv6Prefix":"2001:4860:4801:10::/64"},{"ipv4Prefix":"66.249.64.0/27"},{"ipv4Prefix":"66.249.64.32/27"}]}`,
			"/bingbot.json":   "{\"prefixes\":[{\"ipv4Prefix\":\"157.55.39.0/24\u200b\"},{\"ipv4Prefix\":\"207.46.13.0/24\"}]}",
			"/probes/ipv4":    "13.48.110.214\n13.48.238.157\n",
			"/probes/ipv6":    "2a00:1a28:2000::4055\n",
			"/egress.csv":     "172.225.46.0/24,US,US-CA,Los Angeles,\n2a02:26f7:b3c0:4000::/64,US,US-CA,Los Angeles,\n",
			"/ip-ranges.json": `{"prefixes":[{"ip_prefix":"3.5.140.0/22"}],"ipv6_prefixes":[{"ipv6_prefix":"2600:1f00::/24"}]}`,
			"/bad.json":       `{"prefixes":[{"ipv4Prefix":"66.249.64.0/27"},`,
			"/empty.json":     `{"prefixes":[]}`,
			"/html":           "<html><body>Access denied</body></html>",
		},
		ctypes: map[string]string{"/html": "text/html; charset=utf-8"},
		status: map[string]int{"/fail": http.StatusInternalServerError},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if code := s.status[r.URL.Path]; code != 0 {
			http.Error(w, "upstream broke", code)
			return
		}
		if r.URL.Path == "/slow" {
			s.mu.Unlock()
			<-r.Context().Done()
			s.mu.Lock()
			return
		}
		body, ok := s.bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if ct := s.ctypes[r.URL.Path]; ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *operatorServer) set(path, body string) {
	s.mu.Lock()
	s.bodies[path] = body
	s.mu.Unlock()
}

func (s *operatorServer) sources() []Source {
	return []Source{
		{Set: "googlebot", URL: s.URL + "/googlebot.json", Format: FormatPrefixesJSON},
		{Set: "bingbot", URL: s.URL + "/bingbot.json", Format: FormatPrefixesJSON},
		{Set: "pingdom", URL: s.URL + "/probes/ipv4", Format: FormatText},
		{Set: "pingdom", URL: s.URL + "/probes/ipv6", Format: FormatText},
		{Set: "relay", URL: s.URL + "/egress.csv", Format: FormatText},
		{Set: "aws", URL: s.URL + "/ip-ranges.json", Format: FormatAWSJSON},
	}
}

func TestUpdateWritesSnapshot(t *testing.T) {
	srv := newOperatorServer(t)
	out := filepath.Join(t.TempDir(), "ranges.json")
	rep, err := Update(context.Background(), srv.Client(), srv.sources(), out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Written || len(rep.Sets) != 5 {
		t.Fatalf("report %+v", rep)
	}
	s, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"googlebot": 3, "bingbot": 2, "pingdom": 3, "relay": 2, "aws": 2}
	for name, n := range want {
		if s.Len(name) != n {
			t.Errorf("set %s: %d prefixes, want %d", name, s.Len(name), n)
		}
	}
	if got := s.Sets["pingdom"].Sources; len(got) != 2 {
		t.Errorf("pingdom sources %v", got)
	}
	if out := rep.String(); !strings.Contains(out, "googlebot                     3 prefixes (was 0)") || !strings.HasSuffix(out, "written\n") {
		t.Errorf("report:\n%s", out)
	}
}

func TestUpdateFailuresKeepOldFile(t *testing.T) {
	tests := []struct {
		name    string
		path    string // the googlebot source is pointed here
		wantErr string
	}{
		{"bad json", "/bad.json", "prefixes JSON"},
		{"empty list", "/empty.json", "no prefixes"},
		{"http 500", "/fail", "HTTP 500"},
		{"html error page", "/html", "HTML page"},
		{"not found", "/missing", "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newOperatorServer(t)
			out := filepath.Join(t.TempDir(), "ranges.json")
			if _, err := Update(context.Background(), srv.Client(), srv.sources(), out, Options{}); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(out)
			srcs := srv.sources()
			srcs[0].URL = srv.URL + tt.path
			rep, err := Update(context.Background(), srv.Client(), srcs, out, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "kept unchanged") {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
			if rep.Written || !strings.Contains(rep.String(), "googlebot                FAILED (kept 3)") {
				t.Fatalf("report:\n%s", rep)
			}
			after, _ := os.ReadFile(out)
			if string(before) != string(after) {
				t.Fatal("old file changed")
			}
			leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*tmp*"))
			if len(leftovers) != 0 {
				t.Fatalf("temporary files left: %v", leftovers)
			}
		})
	}
}

func TestUpdateRefusesAbsurdShrink(t *testing.T) {
	srv := newOperatorServer(t)
	out := filepath.Join(t.TempDir(), "ranges.json")
	if _, err := Update(context.Background(), srv.Client(), srv.sources(), out, Options{}); err != nil {
		t.Fatal(err)
	}
	srv.set("/googlebot.json", `{"prefixes":[{"ipv4Prefix":"66.249.64.0/27"}]}`) // 3 -> 1
	_, err := Update(context.Background(), srv.Client(), srv.sources(), out, Options{})
	if err == nil || !strings.Contains(err.Error(), "shrank from 3 to 1") {
		t.Fatalf("err = %v", err)
	}
	// The operator really did drop ranges: the check can be turned off.
	if _, err := Update(context.Background(), srv.Client(), srv.sources(), out, Options{MinRatio: -1}); err != nil {
		t.Fatal(err)
	}
	s, _ := Load(out)
	if s.Len("googlebot") != 1 {
		t.Fatalf("googlebot %d", s.Len("googlebot"))
	}
}

func TestUpdatePartialKeepsFailedSets(t *testing.T) {
	srv := newOperatorServer(t)
	out := filepath.Join(t.TempDir(), "ranges.json")
	if _, err := Update(context.Background(), srv.Client(), srv.sources(), out, Options{}); err != nil {
		t.Fatal(err)
	}
	srv.set("/bingbot.json", `{"prefixes":[{"ipv4Prefix":"157.55.39.0/24"},{"ipv4Prefix":"207.46.13.0/24"},{"ipv4Prefix":"40.77.167.0/24"}]}`)
	srcs := srv.sources()
	srcs[0].URL = srv.URL + "/fail"
	rep, err := Update(context.Background(), srv.Client(), srcs, out, Options{Partial: true})
	if err != nil || !rep.Written {
		t.Fatalf("err %v written %v", err, rep.Written)
	}
	s, _ := Load(out)
	if s.Len("googlebot") != 3 || s.Len("bingbot") != 3 {
		t.Fatalf("googlebot %d (kept) bingbot %d (refreshed)", s.Len("googlebot"), s.Len("bingbot"))
	}
}

func TestUpdateCarriesOverUnfedSets(t *testing.T) {
	srv := newOperatorServer(t)
	out := filepath.Join(t.TempDir(), "ranges.json")
	old := New()
	old.Sets["facebook"] = &Set{Prefixes: prefixes("31.13.24.0/21")}
	if err := old.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	if _, err := Update(context.Background(), srv.Client(), srv.sources(), out, Options{}); err != nil {
		t.Fatal(err)
	}
	s, _ := Load(out)
	if s.Len("facebook") != 1 || s.Len("googlebot") != 3 {
		t.Fatalf("sets %v", s.Names())
	}
}

func TestUpdateReplacesCorruptFile(t *testing.T) {
	srv := newOperatorServer(t)
	out := filepath.Join(t.TempDir(), "ranges.json")
	if err := os.WriteFile(out, []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Update(context.Background(), srv.Client(), srv.sources(), out, Options{})
	if err != nil || !strings.Contains(rep.Note, "previous file not used") {
		t.Fatalf("err %v note %q", err, rep.Note)
	}
	if _, err := Load(out); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateBoundsTimeAndSize(t *testing.T) {
	srv := newOperatorServer(t)
	out := filepath.Join(t.TempDir(), "ranges.json")
	slow := []Source{{Set: "x", URL: srv.URL + "/slow", Format: FormatText}}
	_, err := Update(context.Background(), srv.Client(), slow, out, Options{Timeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("slow source: %v", err)
	}
	big := []Source{{Set: "x", URL: srv.URL + "/googlebot.json", Format: FormatPrefixesJSON}}
	_, err = Update(context.Background(), srv.Client(), big, out, Options{MaxBytes: 16})
	if err == nil || !strings.Contains(err.Error(), "larger than 16 bytes") {
		t.Fatalf("big body: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("file written after failures")
	}
}

func TestUpdateArguments(t *testing.T) {
	if _, err := Update(context.Background(), nil, nil, "x", Options{}); err == nil {
		t.Fatal("no sources accepted")
	}
	if _, err := Update(context.Background(), nil, []Source{{Set: "a"}}, "", Options{}); err == nil {
		t.Fatal("no output accepted")
	}
	_, err := Update(context.Background(), nil, []Source{{Set: "a", URL: "http://127.0.0.1:1/x", Format: "xml"}}, filepath.Join(t.TempDir(), "o.json"), Options{})
	if err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Fatalf("bad format: %v", err)
	}
}
