package headerclient

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// shopMark is in every page Shop serves, so a crawler tells the site's
// pages from botwarden's.
const shopMark = `<meta name="generator" content="headerclient-shop">`

// Shop is the origin: product pages /products/N, each linking to the next
// five products (a "related products" strip), HTML so that the Wasm
// filter injects its script. It records the paths it served.
type Shop struct {
	mu     sync.Mutex
	served []string
}

func (s *Shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/products/"))
	if err != nil || !strings.HasPrefix(r.URL.Path, "/products/") {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.served = append(s.served, r.URL.Path)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var links strings.Builder
	for i := n + 1; i <= n+5; i++ {
		fmt.Fprintf(&links, `<li><a href="/products/%d">product %d</a></li>`, i, i)
	}
	fmt.Fprintf(w, `<!doctype html><html><head><title>product %d</title>%s</head><body><h1>product %d</h1><p>price: %d.99</p><ul>%s</ul></body></html>`,
		n, shopMark, n, 10+n, links.String())
}

// Served returns the product paths the shop served, in order.
func (s *Shop) Served() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.served...)
}
