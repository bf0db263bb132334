package gateway

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromeHello is a Chrome 143 ClientHello as tls.browserleaks.com reported
// it (ja4_ro: original order), with GREASE values added where Chrome puts
// them. Its published fingerprints: JA4 t13d1516h2_8daaf6152771_d8a2da3f94cd,
// JA3 98487aa16281980e7d1120d399efb6a4.
func chromeHello() *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{
		CipherSuites: []uint16{0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		Extensions: []uint16{0x8a8a, 0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b, 0x000a, 0x002b, 0xff01, 0x0023,
			0x0012, 0x0005, 0x000d, 0x001b, 0x4a4a},
		SignatureSchemes:  []tls.SignatureScheme{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
		SupportedProtos:   []string{"h2", "http/1.1"},
		SupportedVersions: []uint16{0x9a9a, 0x0304, 0x0303},
		SupportedCurves:   []tls.CurveID{0x2a2a, 4588, 29, 23, 24},
		SupportedPoints:   []uint8{0},
		ServerName:        "tls.browserleaks.com",
	}
}

func TestJA4AndJA3KnownVector(t *testing.T) {
	h := chromeHello()
	if got, want := JA4(h), "t13d1516h2_8daaf6152771_d8a2da3f94cd"; got != want {
		t.Errorf("JA4 = %s, want %s", got, want)
	}
	if got, want := JA3(h), "98487aa16281980e7d1120d399efb6a4"; got != want {
		t.Errorf("JA3 = %s, want %s", got, want)
	}
}

func TestJA4Parts(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*tls.ClientHelloInfo)
		prefix string
	}{
		{"no SNI extension", func(h *tls.ClientHelloInfo) { h.Extensions = without(h.Extensions, 0x0000) }, "t13i1515h2_"},
		{"no ALPN", func(h *tls.ClientHelloInfo) { h.SupportedProtos = nil; h.Extensions = without(h.Extensions, 0x0010) }, "t13d151500_"},
		{"HTTP/1.1 first", func(h *tls.ClientHelloInfo) { h.SupportedProtos = []string{"http/1.1"} }, "t13d1516h1_"},
		{"non-alphanumeric ALPN", func(h *tls.ClientHelloInfo) { h.SupportedProtos = []string{"\xabx\xcd"} }, "t13d1516ad_"},
		{"TLS 1.2 only", func(h *tls.ClientHelloInfo) { h.SupportedVersions = []uint16{0x0303} }, "t12d1516h2_"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := chromeHello()
			c.mutate(h)
			if got := JA4(h); !strings.HasPrefix(got, c.prefix) {
				t.Errorf("JA4 = %s, want prefix %s", got, c.prefix)
			}
		})
	}
	empty := &tls.ClientHelloInfo{}
	if got := JA4(empty); got != "t00i000000_000000000000_000000000000" {
		t.Errorf("empty hello: %s", got)
	}
}

func without(vs []uint16, drop uint16) []uint16 {
	var out []uint16
	for _, v := range vs {
		if v != drop {
			out = append(out, v)
		}
	}
	return out
}

// tlsRig runs the edge config (envoy.yaml: TLS, tls_inspector with JA3/JA4,
// header_mutation setting x-botwarden-ja4) in the in-repo gateway.
func tlsRig(t *testing.T) *rig {
	t.Helper()
	return newRig(t, Options{Config: filepath.Join("..", "..", "envoy", "envoy.yaml")}, nil)
}

func TestTLSEdgeSetsJA4FromTheClientHello(t *testing.T) {
	r := tlsRig(t)
	if !strings.HasPrefix(r.gw.URL(), "https://") {
		t.Fatalf("URL %s: envoy.yaml terminates TLS", r.gw.URL())
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "shop.example"}, ForceAttemptHTTP2: true,
	}}
	req, _ := http.NewRequest("GET", r.gw.URL()+"/", nil)
	req.Header.Set(strings.ToUpper("x-botwarden-ja4"), "t13d_spoofed")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ja4 := e.header("x-botwarden-ja4")
	// Go's client: TLS 1.3, SNI, h2 first.
	if !strings.HasPrefix(ja4, "t13d") || !strings.Contains(ja4, "h2_") || strings.Contains(ja4, "spoofed") {
		t.Errorf("x-botwarden-ja4 = %q", ja4)
	}
	a := r.authz.last(t).GetAttributes()
	if a.GetRequest().GetHttp().GetHeaders()["x-botwarden-ja4"] != ja4 {
		t.Error("ext_authz and the origin saw different fingerprints")
	}
	if a.GetTlsSession().GetSni() != "shop.example" {
		t.Errorf("tls_session.sni = %q (include_tls_session)", a.GetTlsSession().GetSni())
	}
	if a.GetRequest().GetHttp().GetProtocol() != "HTTP/2" || a.GetRequest().GetHttp().GetScheme() != "https" {
		t.Errorf("protocol/scheme = %s/%s", a.GetRequest().GetHttp().GetProtocol(), a.GetRequest().GetHttp().GetScheme())
	}
	entry := r.tap.WaitFor(a.GetRequest().GetHttp().GetHeaders()["x-request-id"], 5*time.Second)
	tp := entry.GetCommonProperties().GetTlsProperties()
	if tp.GetJa3Fingerprint() == "" || tp.GetTlsSniHostname() != "shop.example" || tp.GetTlsVersion().String() != "TLSv1_3" {
		t.Errorf("tls_properties = %v", tp)
	}
	if entry.GetRequest().GetRequestHeaders()["x-botwarden-ja4"] != ja4 {
		t.Error("the ALS entry must carry the JA4 header (additional_request_headers_to_log)")
	}
}

// TestTLSEdgeWithCurl: a real curl's fingerprint differs from Go's, and a
// fingerprint it sends itself is replaced.
func TestTLSEdgeWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (Debian package curl)")
	}
	r := tlsRig(t)
	out, err := exec.Command(curl, "-sk", "--max-time", "10", "-H", "x-botwarden-ja4: t13d_spoofed", r.gw.URL()+"/curl").Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	e := origin(t, string(out))
	ja4 := e.header("x-botwarden-ja4")
	// curl sends no SNI for an IP address.
	if !strings.HasPrefix(ja4, "t1") || ja4[3] != 'i' || strings.Contains(ja4, "spoofed") {
		t.Errorf("curl's x-botwarden-ja4 = %q", ja4)
	}
	if ua := e.header("user-agent"); !strings.HasPrefix(ua, "curl/") {
		t.Errorf("user-agent %q", ua)
	}
}
