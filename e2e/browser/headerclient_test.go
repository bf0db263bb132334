package browser

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/e2e"
	"github.com/botwarden/botwarden/e2e/browser/headerclient"
	"github.com/botwarden/botwarden/e2e/gateway"
)

// headerClientPace is 1.5 pages a second, the middle of issue 13's 1–2.
const headerClientPace = 650 * time.Millisecond

// headerClientRequests is how many product pages the crawler asks for.
const headerClientRequests = 10

// TestBrowserHeaderClientPlainStack runs the browser-header HTTP client
// (Chrome 156's navigation headers in Chrome's order from
// detect/ml/corpus, a cookie jar, no JavaScript; package headerclient)
// through the plain stack: envoy-http.yaml's ext_authz and access log, no
// Wasm filter and so no injected detection script, botwarden's default
// policy (bot_fight), the client at a residential-looking address in
// x-forwarded-for behind one trusted hop. Nothing here can tell that it
// never runs JavaScript, so the test records how many product pages it
// gets before it is stopped (issue 13's matrix; e2e/browser/README.md)
// and asserts only what the stack must do for every request: each was
// checked and judged from the claimed address.
func TestBrowserHeaderClientPlainStack(t *testing.T) {
	const addr = "203.0.113.61" // TEST-NET-3, stands in for a home address
	e2e.EachGateway(t, func(t *testing.T, kind string) {
		rec, shop := &headerclient.Recorder{}, &headerclient.Shop{}
		bw := e2e.StartBotwarden(t, func(c *config.Config) {
			// The gateway trusts one hop (a load balancer) and, as
			// Envoy's connection manager, sets x-envoy-external-address.
			c.ExtAuthz.ClientIP.UseExternalAddress = true
		})
		site := httptest.NewServer(shop)
		t.Cleanup(site.Close)
		one := uint32(1)
		gw := e2e.StartGateway(t, kind, bw, &e2e.Origin{Addr: strings.TrimPrefix(site.URL, "http://")},
			gateway.Options{XFFNumTrustedHops: &one, Tap: rec})
		c, err := headerclient.New(gw.URL(), addr, headerclient.ChromeUA, headerClientPace, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		visits := c.Crawl(ctx, "/products/1", headerClientRequests)
		r := headerclient.Summarize("browser-header HTTP client", "the plain stack ("+kind+" gateway, envoy-http.yaml, default policy)", visits, rec, 5*time.Second)
		t.Log(r)
		if len(visits) != headerClientRequests {
			t.Fatalf("crawled %d requests, want %d", len(visits), headerClientRequests)
		}
		for i, v := range r.Verdicts {
			if !v.Checked || v.Client != addr {
				t.Errorf("request %d (%s): checked %t, judged client %q, want checked from %s", i+1, visits[i].Path, v.Checked, v.Client, addr)
			}
		}
		if got := len(shop.Served()); got != r.Pages {
			t.Errorf("the shop served %d pages, the crawler counted %d", got, r.Pages)
		}
	})
}
