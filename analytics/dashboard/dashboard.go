// Package dashboard is the Bots dashboard: first-party HTML, CSS and
// JavaScript embedded in the binary (no CDN, no build step), drawing its
// charts as SVG from the /api/v1 answers. Every value that came from a
// request (user agents, paths, hosts, headers) reaches the page only as
// DOM text (textContent, attribute values set through the DOM), never as
// markup, and the Content-Security-Policy allows only the page's own
// script, so an injected tag neither renders nor runs.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// csp allows only the dashboard's own files and API.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// pages are the dashboard's addresses; each is the same page, which reads
// its filter from the query string (so a view is a shareable URL).
var pages = []string{"/", "/explorer", "/verdicts", "/rule"}

// Handler serves the pages and their static files.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	mux := http.NewServeMux()
	for _, p := range pages {
		pattern := "GET " + p
		if p == "/" {
			pattern = "GET /{$}"
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", csp)
			w.Header().Set("Cache-Control", "no-store")
			w.Write(index)
		})
	}
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		files.ServeHTTP(w, r)
	}))
	return mux
}
