package replay

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/botwarden/botwarden/detect"
)

func TestParseLine(t *testing.T) {
	ts := time.Date(2026, 11, 21, 10, 0, 2, 123e6, time.UTC)
	tests := []struct {
		name string
		line string
		want detect.Event
		err  error
	}{
		{name: "envoy.yaml json_format",
			line: `{"time":"2026-11-21T10:00:02.123Z","client":"203.0.113.5","method":"GET","authority":"Shop.Example","path":"/product/7?x=1","status":"200","details":"via_upstream","flags":"-","duration_ms":"12","ja4":"t13d1516h2_8daaf6152771_b186095e22b6","request_id":"r-1","bot_score":"45","bot_action":"allow","bot_rule":"-"}`,
			want: detect.Event{Time: ts, ClientIP: netip.MustParseAddr("203.0.113.5"), Method: "GET", Host: "shop.example", Path: "/product/7?x=1",
				Status: 200, Duration: 12 * time.Millisecond, JA4: "t13d1516h2_8daaf6152771_b186095e22b6", RequestID: "r-1", BotScore: 45, Action: "allow"}},
		{name: "typed json, logpush names, headers",
			line: `{"start_time":"2026-11-21T10:00:02.123Z","downstream_remote_address":"[2001:db8::1]:443","method":"post","path":"/login","response_code":401,"response_flags":"UAEX,UF","bytes_received":30,"bytes_sent":12,"user_agent":"curl/8","BotScore":3,"BotTags":["http-library","x"],"BotSessionID":"s-9","req_accept_language":"en","req_cookie":"__bm=1"}`,
			want: detect.Event{Time: ts, ClientIP: netip.MustParseAddr("2001:db8::1"), Method: "POST", Path: "/login", Status: 401,
				ResponseFlags: []string{"UAEX", "UF"}, RequestBytes: 30, ResponseBytes: 12, UserAgent: "curl/8", BotScore: 3,
				BotTags: []string{"http-library", "x"}, SessionID: "s-9", Headers: detect.Headers{"accept-language": "en", "cookie": "__bm=1"}}},
		{name: "absurd values dropped",
			line: `{"time":"2026-11-21T10:00:02.123Z","client":"nope","status":"42","duration_ms":-5,"bot_score":500,"bytes_sent":-1}`,
			want: detect.Event{Time: ts}},
		{name: "combined (nginx escapes)",
			line: `198.51.100.7 - - [21/Nov/2026:10:00:02 +0000] "GET /p/1 HTTP/1.1" 200 512 "https://shop.example/" "Mozilla/5.0 \x22quoted\x22"`,
			want: detect.Event{Time: ts.Truncate(time.Second), ClientIP: netip.MustParseAddr("198.51.100.7"), Method: "GET", Path: "/p/1", Protocol: "HTTP/1.1",
				Status: 200, ResponseBytes: 512, Referer: "https://shop.example/", UserAgent: `Mozilla/5.0 "quoted"`}},
		{name: "combined (apache escapes, bytes -)",
			line: `198.51.100.7 - bob [21/Nov/2026:11:00:02 +0100] "POST /login HTTP/1.0" 401 - "-" "say \"hi\""`,
			want: detect.Event{Time: ts.Truncate(time.Second), ClientIP: netip.MustParseAddr("198.51.100.7"), Method: "POST", Path: "/login", Protocol: "HTTP/1.0",
				Status: 401, UserAgent: `say "hi"`}},
		{name: "common log format",
			line: `::1 - - [21/Nov/2026:10:00:02 +0000] "GET / HTTP/1.1" 304 0`,
			want: detect.Event{Time: ts.Truncate(time.Second), ClientIP: netip.MustParseAddr("::1"), Method: "GET", Path: "/", Protocol: "HTTP/1.1", Status: 304}},
		{name: "empty", line: "   ", err: ErrEmpty},
		{name: "comment", line: "# header", err: ErrEmpty},
		{name: "broken json", line: `{"time":`, err: ErrSyntax},
		{name: "json without time", line: `{"path":"/"}`, err: ErrSyntax},
		{name: "garbage", line: `hello world`, err: ErrSyntax},
		{name: "bad clf time", line: `1.2.3.4 - - [yesterday] "GET / HTTP/1.1" 200 1`, err: ErrSyntax},
		{name: "unterminated quote", line: `1.2.3.4 - - [21/Nov/2026:10:00:02 +0000] "GET / HTTP/1.1 200 1`, err: ErrSyntax},
		{name: "clf without client", line: `nobody - - [21/Nov/2026:10:00:02 +0000] "GET / HTTP/1.1" 200 1`, err: ErrSyntax},
		{name: "too long", line: strings.Repeat("x", maxLine+1), err: ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseLine([]byte(tt.line))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if !ev.Time.Equal(tt.want.Time) {
				t.Errorf("time %v, want %v", ev.Time, tt.want.Time)
			}
			ev.Time = tt.want.Time
			if fmt.Sprintf("%+v", *ev) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("got  %+v\nwant %+v", *ev, tt.want)
			}
		})
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-21T10:00:02.123Z","client":"203.0.113.5","method":"GET","path":"/","status":"200","bot_tags":"a,b","req_x":"y"}`))
	f.Add([]byte(`198.51.100.7 - - [21/Nov/2026:10:00:02 +0000] "GET /p/1 HTTP/1.1" 200 512 "-" "Mozilla/5.0 \x22q\x22"`))
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := ParseLine(line)
		if err != nil {
			return
		}
		if ev.Status != 0 && (ev.Status < 100 || ev.Status > 999) || ev.Duration < 0 || ev.BotScore < 0 || ev.BotScore > 99 {
			t.Fatalf("out of range: %+v", ev)
		}
		for _, s := range append([]string{ev.Path, ev.Host, ev.UserAgent, ev.Referer, ev.SessionID, ev.Method}, ev.BotTags...) {
			if !utf8.ValidString(s) || len(s) > maxValue {
				t.Fatalf("bad string %q", s)
			}
		}
	})
}

// clf writes a combined-format log of a 20 rps scraper and a human.
func clf(t *testing.T) []byte {
	t.Helper()
	type rec struct {
		at   time.Time
		text string
	}
	var recs []rec
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	line := func(at time.Time, ip, method, path string, status int, ua string) {
		recs = append(recs, rec{at, fmt.Sprintf("%s - - [%s] \"%s %s HTTP/1.1\" %d 1024 \"-\" \"%s\"\n", ip, at.Format(clfTime), method, path, status, ua)})
	}
	const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	// The human: a page and its assets every 3–25 s (CLF has 1 s resolution).
	at := start
	for i := range 30 {
		at = at.Add(time.Duration(3+(i*7919)%23) * time.Second)
		line(at, "192.0.2.10", "GET", fmt.Sprintf("/category/%c", 'a'+i%5), 200, chrome)
		for j := range 5 {
			line(at, "192.0.2.10", "GET", fmt.Sprintf("/static/s%d.css", j), 200, chrome)
		}
	}
	// The scraper: 200 product pages, 20 per second.
	for i := range 200 {
		line(start.Add(time.Duration(i)*50*time.Millisecond), "203.0.113.66", "GET", fmt.Sprintf("/product/%d", 1000+i), 200, chrome)
	}
	slices.SortStableFunc(recs, func(a, b rec) int { return a.at.Compare(b.at) })
	var b bytes.Buffer
	for _, r := range recs {
		b.WriteString(r.text)
	}
	b.WriteString("this line is garbage\n\n")
	return b.Bytes()
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "access.log")
	if err := os.WriteFile(plain, clf(t), 0o600); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(clf(t))
	zw.Close()
	zipped := filepath.Join(dir, "access.log.gz")
	if err := os.WriteFile(zipped, gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{plain, zipped} {
		var out bytes.Buffer
		st, err := run(context.Background(), []string{file}, nil, &out, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		text := out.String()
		if st.Events != 380 || st.Bad != 1 || st.Skipped != 1 {
			t.Errorf("%s: stats %+v", file, st)
		}
		if !strings.Contains(text, "ip:203.0.113.66 score=1 source=behavioral_analysis") {
			t.Errorf("%s: scraper not convicted:\n%s", file, text)
		}
		if strings.Contains(text, "192.0.2.10") {
			t.Errorf("%s: human flagged:\n%s", file, text)
		}
		if !strings.Contains(text, "this line is garbage") && !strings.Contains(text, "access.log") {
			t.Errorf("bad line not reported:\n%s", text)
		}
		// Verdict times are event times, not the wall clock.
		if !strings.Contains(text, "2026-11-21T10:00:") {
			t.Errorf("verdicts not stamped with event time:\n%s", text)
		}
	}
}

func TestRunJSONAndStdin(t *testing.T) {
	cfg := DefaultConfig()
	cfg.JSON = true
	var out bytes.Buffer
	st, err := run(context.Background(), []string{"-"}, bytes.NewReader(clf(t)), &out, cfg)
	if err != nil || st.Verdicts == 0 {
		t.Fatalf("%+v %v", st, err)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	for strings.HasPrefix(first, "#") {
		_, rest, _ := strings.Cut(out.String(), "\n")
		first, _, _ = strings.Cut(rest, "\n")
	}
	if !strings.HasPrefix(first, `{"time":"2026-11-21T10:00:`) || !strings.Contains(first, `"key":"`) {
		t.Errorf("json line %q", first)
	}
}

func TestRunErrors(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), []string{filepath.Join(t.TempDir(), "missing.log")}, &out, DefaultConfig()); err == nil || !strings.Contains(err.Error(), "missing.log") {
		t.Errorf("missing file: %v", err)
	}
	cfg := DefaultConfig()
	cfg.Behavior.Window = 0
	if err := Run(context.Background(), nil, &out, cfg); err == nil || !strings.Contains(err.Error(), "behavior: window") {
		t.Errorf("bad config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, []string{"x"}, &out, DefaultConfig()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// An overlong line is a bad line, not the end of the file.
	long := append(bytes.Repeat([]byte("y"), 200<<10), '\n')
	long = append(long, clf(t)...)
	st, err := run(context.Background(), []string{"-"}, bytes.NewReader(long), &out, DefaultConfig())
	if err != nil || st.Bad != 2 || st.Events != 380 {
		t.Errorf("overlong line: %+v %v", st, err)
	}
}
