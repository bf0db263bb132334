package wasm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect/session"
	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/e2e"
	"github.com/botwarden/botwarden/e2e/gateway"
	"github.com/botwarden/botwarden/envoy"
	"github.com/botwarden/botwarden/internal/metricstest"
	"github.com/botwarden/botwarden/server"
	"github.com/botwarden/botwarden/wasmfilter"
	"github.com/botwarden/botwarden/wasmfilter/emulator"
)

// envoyWasm is the shipped config, relative to this package.
var envoyWasm = filepath.Join("..", "..", "envoy", "envoy-wasm.yaml")

// browserHeaders are what Chrome sends for a navigation, so that the
// default engines judge the client likely human (a cookie only takes the
// fast path above the score threshold).
var browserHeaders = map[string]string{
	"User-Agent":                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36",
	"Accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
	"Accept-Language":           "en-GB,en;q=0.9",
	"Accept-Encoding":           "gzip, deflate, br, zstd",
	"Sec-Ch-Ua":                 `"Chromium";v="140", "Not=A?Brand";v="24", "Google Chrome";v="140"`,
	"Sec-Ch-Ua-Mobile":          "?0",
	"Sec-Ch-Ua-Platform":        `"Linux"`,
	"Sec-Fetch-Site":            "none",
	"Sec-Fetch-Mode":            "navigate",
	"Sec-Fetch-User":            "?1",
	"Sec-Fetch-Dest":            "document",
	"Upgrade-Insecure-Requests": "1",
}

// pluginConfig reads the filter configuration out of the shipped config.
func pluginConfig(t *testing.T, configFile ...string) wasmfilter.Config {
	t.Helper()
	file := envoyWasm
	if len(configFile) > 0 {
		file = configFile[0]
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := envoy.ParseBootstrap(data)
	if err != nil {
		t.Fatal(err)
	}
	ws := envoy.FindAll[*wasmv3.Wasm](b)
	if len(ws) != 1 {
		t.Fatalf("%d wasm filters in %s", len(ws), envoyWasm)
	}
	raw, err := emulator.PluginConfiguration(ws[0].GetConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := wasmfilter.ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// botwarden starts the real server with its session section set to what
// the filter is configured with (the two must agree, README-wasm.md).
func botwarden(t *testing.T, fc wasmfilter.Config, mutate ...func(*config.Config)) *server.Server {
	t.Helper()
	return e2e.StartBotwarden(t, func(cfg *config.Config) {
		for _, m := range mutate {
			m(cfg)
		}
		cfg.Session.CookieName = fc.CookieName
		cfg.Session.Keys = nil
		for _, k := range fc.Keys {
			cfg.Session.Keys = append(cfg.Session.Keys, session.KeyConfig{ID: k.ID, Secret: k.Secret})
		}
		cfg.Session.ActiveKey = fc.ActiveKey
		cfg.Session.Revalidate = fc.Revalidate.Duration
		cfg.Session.IPv4Prefix, cfg.Session.IPv6Prefix = fc.IPv4Prefix, fc.IPv6Prefix
		// The gateway, as Envoy's connection manager, sets
		// x-envoy-external-address to the client address it trusts: the
		// Check and the challenge endpoint (the detection's posts, routed
		// to botwarden's HTTP port) must both take it, or a ticket bound
		// on one is refused on the other behind a trusted hop.
		cfg.ExtAuthz.ClientIP.UseExternalAddress = true
		cfg.ExtAuthz.HTTP.ClientIP.UseExternalAddress = true
	}).Server
}

// checks is the number of Check decisions the server has made.
func checks(t *testing.T, s *server.Server) int {
	t.Helper()
	return int(metricstest.Sum(t, s.Registry(), "botwarden_checks_total", nil))
}

// origin records what reaches the upstream.
type origin struct {
	mu   sync.Mutex
	seen []http.Header
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.seen = append(o.seen, r.Header.Clone())
	o.mu.Unlock()
	io.WriteString(w, "shop page\n")
}

func (o *origin) last() http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[len(o.seen)-1]
}

func serveLoopback(t *testing.T, h http.Handler) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return lis.Addr().String()
}

// startGateway runs configFile (envoy-wasm.yaml or a copy of it) in the
// in-repo gateway with the Wasm host; mutate, if not nil, changes the
// options last (a tapped access log, say). One trusted XFF hop: each test
// client stands for a different address on the internet (the TCP peer is
// always 127.0.0.1).
func startGateway(t *testing.T, s *server.Server, originAddr string, host *gateway.WasmHost, configFile string, mutate func(*gateway.Options)) *gateway.InRepo {
	t.Helper()
	hops := uint32(1)
	opts := gateway.Options{
		Config: configFile,
		Clusters: map[string]string{
			"botwarden_authz": s.GRPCAddr().String(),
			"botwarden_als":   s.GRPCAddr().String(),
			"botwarden_http":  s.HTTPAddr().String(),
			"origin":          originAddr,
		},
		Wasm:              host.Filter,
		XFFNumTrustedHops: &hops,
	}
	if mutate != nil {
		mutate(&opts)
	}
	gw, err := gateway.StartInRepo(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	return gw
}

// client is one visitor: an address on the internet and, for a browser, a
// cookie jar.
type client struct {
	name string
	addr string // its x-forwarded-for
	http *http.Client
	// extra headers (a forged marker, a replayed cookie)
	extra map[string]string
	// keepsCookie: it has a cookie jar
	keepsCookie bool
}

// newClient trusts the gateway's self-signed certificate (the shipped
// edge config terminates TLS).
func newClient(name, addr string, jar bool, gw *gateway.InRepo) *client {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(gw.CertPEM())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	c := &client{name: name, addr: addr, keepsCookie: jar, http: &http.Client{Timeout: 10 * time.Second, Transport: tr}}
	if jar {
		c.http.Jar, _ = cookiejar.New(nil)
	}
	return c
}

func (c *client) get(t *testing.T, base, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range browserHeaders {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Forwarded-For", c.addr)
	for k, v := range c.extra {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(body)
}

// visit makes n requests and returns how many Check calls they caused.
// Only a client that keeps botwarden's cookie must be let through every
// time: one that never returns it looks like a script that never runs the
// page's JavaScript, and from its third page the default policy may
// challenge it (a 403 challenge page, decided by a Check all the same).
func (c *client) visit(t *testing.T, s *server.Server, base string, n int) int {
	t.Helper()
	before := checks(t, s)
	for i := range n {
		code, body := c.get(t, base, fmt.Sprintf("/products/%d", i))
		challenged := code == http.StatusForbidden && strings.Contains(body, "/.well-known/botwarden/challenge")
		if code != http.StatusOK && (c.keepsCookie || !challenged) {
			t.Fatalf("%s: request %d: %d %q", c.name, i, code, body)
		}
	}
	return checks(t, s) - before
}

// buildFilter builds the filter module as `make wasm` does.
func buildFilter(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "botwarden-filter.wasm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := emulator.Build(ctx, emulator.Filter, out); err != nil {
		t.Fatal(err)
	}
	module, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return module
}

func TestCookieFastPathSavesChecks(t *testing.T) {
	// proxytest prints every proxy_log call with the standard logger.
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	fc := pluginConfig(t)
	module := buildFilter(t)
	host := gateway.NewWasmHost(module)
	t.Cleanup(func() { _ = host.Close() })

	s := botwarden(t, fc)
	org := &origin{}
	gw := startGateway(t, s, serveLoopback(t, org), host, envoyWasm, nil)
	base := gw.URL()
	t.Logf("gateway: %s, filter module %d bytes", gw.Kind(), len(module))

	const n = 40
	withCookie := newClient("browser with cookie jar", "203.0.113.10", true, gw)
	withoutCookie := newClient("browser without cookie jar", "203.0.113.77", false, gw)

	a := withCookie.visit(t, s, base, n)
	// Its first request had no cookie: one Check, which issued the cookie.
	// Every later one carried it and skipped ext_authz.
	if a != 1 {
		t.Errorf("%s: %d Check calls for %d requests, want 1", withCookie.name, a, n)
	}
	if h := org.last(); h.Get(wasmfilter.HeaderScore) == "" || h.Get(fc.SkipHeader) != "" {
		t.Errorf("origin saw score %q and marker %q on a fast-path request, want a score and no marker",
			h.Get(wasmfilter.HeaderScore), h.Get(fc.SkipHeader))
	}
	b := withoutCookie.visit(t, s, base, n)
	if b != n {
		t.Errorf("%s: %d Check calls for %d requests, want %d", withoutCookie.name, b, n, n)
	}

	// The marker cannot be forged: client copies are stripped before the
	// Wasm filter (and before header_to_metadata).
	forger := newClient("client forging the marker", "198.51.100.5", false, gw)
	forger.extra = map[string]string{fc.SkipHeader: "1"}
	if got := forger.visit(t, s, base, 10); got != 10 {
		t.Errorf("%s: %d Check calls for 10 requests, want 10", forger.name, got)
	}
	// A cookie copied to another network is unbound: checked every time.
	u, _ := url.Parse(base)
	var stolen string
	for _, ck := range withCookie.http.Jar.Cookies(u) {
		if ck.Name == fc.CookieName {
			stolen = ck.Value
		}
	}
	if stolen == "" {
		t.Fatal("the browser got no session cookie")
	}
	thief := newClient("cookie replayed from another network", "198.51.100.9", false, gw)
	thief.extra = map[string]string{"Cookie": fc.CookieName + "=" + stolen}
	if got := thief.visit(t, s, base, 10); got != 10 {
		t.Errorf("%s: %d Check calls for 10 requests, want 10", thief.name, got)
	}

	// A cookie that says blocked (as the challenge seals it after too many
	// failures) is answered by the gateway itself: 403, no Check.
	ring, err := fc.Ring()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := token.Claims{IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix(), SessionID: token.NewSessionID(), Score: 1, Flags: token.Blocked}
	claims.Bind(netip.MustParseAddr("192.0.2.66"), browserHeaders["User-Agent"], fc.IPv4Prefix, fc.IPv6Prefix)
	blockedCookie, err := ring.Seal(claims)
	if err != nil {
		t.Fatal(err)
	}
	blocked := newClient("client with a blocked session", "192.0.2.66", false, gw)
	blocked.extra = map[string]string{"Cookie": fc.CookieName + "=" + blockedCookie}
	before := checks(t, s)
	if code, body := blocked.get(t, base, "/products/1"); code != http.StatusForbidden || !strings.Contains(body, "denied") {
		t.Errorf("%s: %d %q, want the filter's 403", blocked.name, code, body)
	}
	if got := checks(t, s) - before; got != 0 {
		t.Errorf("%s: %d Check calls, want 0", blocked.name, got)
	}

	hits, err := host.Counter(wasmfilter.MetricPrefix + "fastpath.hit")
	if err != nil {
		t.Fatal(err)
	}
	unbound, _ := host.Counter(wasmfilter.MetricPrefix + "cookie.invalid.unbound")
	if hits != uint64(n-1) || unbound != 10 {
		t.Errorf("filter counters: fastpath.hit %d (want %d), cookie.invalid.unbound %d (want 10)", hits, n-1, unbound)
	}
	saved := float64(n-a) / float64(n)
	total := 2*n + 20
	t.Logf("Check calls: cookie holder %d/%d requests (%.1f%% saved), cookieless %d/%d, forged marker %d/10, replayed cookie %d/10; all traffic %d checks for %d requests (%.1f%% saved)",
		a, n, 100*saved, b, n, 10, 10, a+b+20, total, 100*float64(total-(a+b+20))/float64(total))
}
