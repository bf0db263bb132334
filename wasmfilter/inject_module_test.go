package wasmfilter_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/wasmfilter"
)

const page = "<!doctype html><html><head><title>p</title></head><body><h1>Product</h1></BODY></html>"

var htmlResponse = [][2]string{{":status", "200"}, {"content-type", "text/html; charset=utf-8"}, {"content-length", "87"}}

// TestModuleInjectsDetection runs the compiled module's response path in
// the proxytest host: HTML pages get the detection script (the body in
// several chunks, buffered to its end as Envoy does), everything else
// passes untouched.
func TestModuleInjectsDetection(t *testing.T) {
	f := newFixture(t)
	h := start(t, f.config(t, map[string]any{"js_detection": map[string]any{"enabled": true, "exclude_paths": []string{"/api/"}}}))
	tag := wasmfilter.ScriptTag("/.well-known/botwarden/jsd.js")
	checked := f.cookie(t, func(c *token.Claims) { c.Flags = token.JSChecked | token.JSPassed })
	chunks := [][]byte{[]byte(page[:30]), []byte(page[30:60]), []byte(page[60:])}
	for _, tc := range []struct {
		name    string
		req     [][2]string
		resp    [][2]string
		inject  bool
		counter string
	}{
		{"page without a result", headers(""), htmlResponse, true, "jsd.injected"},
		{"page, cookie without a result", headers(f.cookie(t, nil)), htmlResponse, true, "jsd.injected"},
		{"page, cookie with a result", headers(checked), htmlResponse, false, ""},
		{"not HTML", headers(""), [][2]string{{":status", "200"}, {"content-type", "application/json"}}, false, ""},
		{"not 200", headers(""), [][2]string{{":status", "404"}, {"content-type", "text/html"}}, false, ""},
		{"compressed", headers(""), [][2]string{{":status", "200"}, {"content-type", "text/html"}, {"content-encoding", "gzip"}}, false, "jsd.skipped.encoded"},
		{"an asset", [][2]string{{":method", "GET"}, {":path", "/app.js"}, {":authority", "shop.example"}, {"user-agent", ua}, {"accept", "*/*"}, {"sec-fetch-dest", "script"}}, htmlResponse, false, ""},
		{"excluded path", [][2]string{{":method", "GET"}, {":path", "/api/frag"}, {":authority", "shop.example"}, {"user-agent", ua}, {"accept", "text/html"}}, htmlResponse, false, ""},
		{"POST", [][2]string{{":method", "POST"}, {":path", "/cart"}, {":authority", "shop.example"}, {"user-agent", ua}, {"accept", "text/html"}}, htmlResponse, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before uint64
			if tc.counter != "" {
				before, _ = h.Counter(wasmfilter.MetricPrefix + tc.counter)
			}
			_, resp, err := h.Exchange(tc.req, client, tc.resp, chunks...)
			if err != nil {
				t.Fatal(err)
			}
			got := string(resp.Body)
			if tc.inject {
				want := strings.Replace(page, "</BODY>", tag+"</BODY>", 1)
				if got != want {
					t.Fatalf("body %q, want %q", got, want)
				}
				for _, kv := range resp.Headers {
					if kv[0] == "content-length" {
						t.Errorf("content-length %s kept on a grown body", kv[1])
					}
				}
			} else if got != page {
				t.Fatalf("body changed: %q", got)
			}
			if tc.counter != "" {
				if after, _ := h.Counter(wasmfilter.MetricPrefix + tc.counter); after != before+1 {
					t.Errorf("counter %s: %d -> %d", tc.counter, before, after)
				}
			}
		})
	}
	// A page over max_body_bytes passes untouched.
	big := bytes.Repeat([]byte("x"), 2<<20)
	_, resp, err := h.Exchange(headers(""), client, htmlResponse, big[:1<<20], big[1<<20:])
	if err != nil || !bytes.Equal(resp.Body, big) {
		t.Errorf("large page: err %v, %d bytes back", err, len(resp.Body))
	}
}

func TestInject(t *testing.T) {
	tag := wasmfilter.ScriptTag("/s.js")
	for in, want := range map[string]string{
		"<html><body>a</body></html>":          "<html><body>a" + tag + "</body></html>",
		"<body>a</body><p></body>x":            "<body>a</body><p>" + tag + "</body>x",
		"<html>no body</HTML>":                 "<html>no body" + tag + "</HTML>",
		"fragment":                             "fragment" + tag,
		"":                                     tag,
		"</bod":                                "</bod" + tag,
		"<!-- </body> in a comment --></body>": "<!-- </body> in a comment -->" + tag + "</body>",
	} {
		if got := string(wasmfilter.Inject([]byte(in), "/s.js")); got != want {
			t.Errorf("Inject(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestModulePreparesPages: the compiled module, on page requests to the
// routes it injects, removes accept-encoding (so that a compressing origin
// answers plainly and the page is injected; Envoy's compressor, before the
// filter, compresses it on the way out) and sets the js-expected marker
// for ext_authz; it strips a client's marker everywhere.
func TestModulePreparesPages(t *testing.T) {
	f := newFixture(t)
	h := start(t, f.config(t, map[string]any{"js_detection": map[string]any{"enabled": true,
		"hosts": []string{"*.example", "shop.example"}, "exclude_hosts": []string{"api.shop.example"}, "paths": []string{"/cart", "/p/"}}}))
	forged := [2]string{wasmfilter.HeaderJSExpected, "1"}
	gzip := [2]string{"accept-encoding", "gzip, deflate, br"}
	checked := f.cookie(t, func(c *token.Claims) { c.Flags = token.JSChecked | token.JSPassed })
	for _, tc := range []struct {
		name           string
		req            [][2]string
		marker, strips bool
	}{
		{"page", headers("", gzip), true, true},
		{"page with a forged marker", headers("", gzip, forged), true, true},
		{"page on a wildcard host", replace(headers("", gzip), ":authority", "WWW.Shop.Example:443"), true, true},
		{"excluded host", replace(headers("", gzip, forged), ":authority", "api.shop.example"), false, false},
		{"path not listed", replace(headers("", gzip, forged), ":path", "/account"), false, false},
		{"session with a result (fast path)", headers(checked, gzip, forged), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := h.Counter(wasmfilter.MetricPrefix + "jsd.accept_encoding.removed")
			res, resp, err := h.Exchange(tc.req, client, htmlResponse, []byte(page))
			if err != nil {
				t.Fatal(err)
			}
			v, ok := res.Header(wasmfilter.HeaderJSExpected)
			if ok != tc.marker || ok && v != "1" {
				t.Errorf("marker %q present %v, want %v", v, ok, tc.marker)
			}
			_, kept := res.Header("accept-encoding")
			if kept == tc.strips {
				t.Errorf("accept-encoding kept %v, want stripped %v", kept, tc.strips)
			}
			after, _ := h.Counter(wasmfilter.MetricPrefix + "jsd.accept_encoding.removed")
			if (after == before+1) != tc.strips {
				t.Errorf("jsd.accept_encoding.removed %d -> %d", before, after)
			}
			if injected := strings.Contains(string(resp.Body), "botwarden/jsd.js"); injected != tc.strips {
				t.Errorf("injected %v, want %v", injected, tc.strips)
			}
		})
	}
}

// replace returns hs with header name's value set to v.
func replace(hs [][2]string, name, v string) [][2]string {
	for i := range hs {
		if hs[i][0] == name {
			hs[i][1] = v
		}
	}
	return hs
}

// TestModuleMemoryStaysBounded: thousands of injected pages do not grow
// the VM's memory without bound. Go's collector seldom finishes a cycle on
// its own in a reactor module, so before the filter collected explicitly
// (collectEvery) its linear memory, which never shrinks, grew from about
// the 8000th 20 KiB page on: 1 GiB by 12000 pages, 2.5 GiB by 20000 (and
// 4 GiB is a wasm32 VM's end). wazero keeps that memory in this process's
// heap, which is what is measured; with the collection it grew by about
// 20 MiB over 20000 pages.
func TestModuleMemoryStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("12000 page views")
	}
	f := newFixture(t)
	h := start(t, f.config(t, map[string]any{"js_detection": map[string]any{"enabled": true}}))
	body := []byte("<!doctype html><html><body>" + strings.Repeat("<p>product text</p>", 1070) + "</body></html>")
	resp := [][2]string{{":status", "200"}, {"content-type", "text/html"}}
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	run := func(n int) {
		for range n {
			if _, _, err := h.Exchange(headers(""), client, resp, body[:len(body)/2], body[len(body)/2:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(500) // the VM's working size
	before := heap()
	run(12000) // about 480 MiB of pages read and rewritten
	if grown := int64(heap()) - int64(before); grown > 128<<20 {
		t.Errorf("heap grew by %d MiB over 12000 injected pages", grown>>20)
	}
}
