package heuristics_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ja4Of computes the JA4 fingerprint (FoxIO technical_details/JA4.md) of a
// ClientHello as Go's TLS server saw it: TCP, highest supported version,
// SNI flag, cipher and extension counts without GREASE, first and last
// character of the first ALPN value, a SHA-256 prefix of the sorted
// ciphers, and one of the sorted extensions (less SNI and ALPN) followed by
// the signature algorithms in their original order (GREASE ignored
// throughout).
func ja4Of(h *tls.ClientHelloInfo) string {
	grease := func(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }
	best := uint16(0)
	for _, v := range h.SupportedVersions {
		if !grease(v) && v > best {
			best = v
		}
	}
	ver := map[uint16]string{0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10"}[best]
	if ver == "" {
		ver = "00"
	}
	var ciphers, exts, sigs []string
	for _, c := range h.CipherSuites {
		if !grease(c) {
			ciphers = append(ciphers, fmt.Sprintf("%04x", c))
		}
	}
	sni, next := "i", 0
	for _, e := range h.Extensions {
		if grease(e) {
			continue
		}
		next++
		if e == 0 {
			sni = "d"
		}
		if e != 0 && e != 0x10 {
			exts = append(exts, fmt.Sprintf("%04x", e))
		}
	}
	for _, s := range h.SignatureSchemes {
		if !grease(uint16(s)) {
			sigs = append(sigs, fmt.Sprintf("%04x", uint16(s)))
		}
	}
	alpn := "00"
	if len(h.SupportedProtos) > 0 && h.SupportedProtos[0] != "" {
		p := h.SupportedProtos[0]
		alpn = p[:1] + p[len(p)-1:]
	}
	hash := func(s string) string {
		if s == "" {
			return "000000000000"
		}
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])[:12]
	}
	slices.Sort(ciphers)
	slices.Sort(exts)
	c := strings.Join(exts, ",")
	if len(sigs) > 0 {
		c += "_" + strings.Join(sigs, ",")
	}
	return fmt.Sprintf("t%s%s%02d%02d%s_%s_%s", ver, sni, min(len(ciphers), 99), min(next, 99), alpn, hash(strings.Join(ciphers, ",")), hash(c))
}

// helloServer is a local TLS listener that records the JA4 of every
// ClientHello; handshakes fail afterwards (the certificate is not trusted)
// which does not matter.
func helloServer(t *testing.T) (url string, hellos <-chan string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 16)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{"h2", "http/1.1"},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			select {
			case ch <- ja4Of(h):
			default:
			}
			return nil, nil
		},
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return fmt.Sprintf("https://localhost:%d/", ln.Addr().(*net.TCPAddr).Port), ch
}

// TestJA4TableMatchesRealClients measures the JA4 of the HTTP clients
// installed here against a local TLS listener and checks that the table
// classifies them: non-browser stacks as such, Chromium as a browser. A
// client whose version differs from the one measured for the table is
// skipped with a note (its fingerprint may legitimately differ).
func TestJA4TableMatchesRealClients(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real clients")
	}
	table := engine(t).JA4Table()
	url, hellos := helloServer(t)
	java := filepath.Join(t.TempDir(), "Get.java")
	if err := os.WriteFile(java, []byte(`import java.net.http.*; import java.net.URI;
public class Get { public static void main(String[] a) { try { HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(a[0])).build(), HttpResponse.BodyHandlers.discarding()); } catch (Exception e) {} } }`), 0o644); err != nil {
		t.Fatal(err)
	}
	clients := []struct {
		name, stack string
		browser     bool
		cmd         []string
		version     []string // command printing the version
		measured    string   // version the table's value was measured with
	}{
		{"curl", "curl", false, []string{"curl", "-sk", "--max-time", "5", url}, []string{"curl", "--version"}, "curl 7.88.1"},
		{"wget", "wget", false, []string{"wget", "-q", "-T", "5", "-t", "1", "--no-check-certificate", "-O", "/dev/null", url}, []string{"wget", "--version"}, "Wget 1.21.3"},
		{"python-requests", "python-requests", false, []string{"python3", "-c", "import requests\ntry: requests.get('" + url + "', verify=False, timeout=5)\nexcept Exception: pass"}, []string{"python3", "-c", "import requests, ssl; print(requests.__version__, ssl.OPENSSL_VERSION)"}, "2.34.2 OpenSSL 3.0"},
		{"python-urllib", "python-urllib", false, []string{"python3", "-c", "import urllib.request, ssl\ntry: urllib.request.urlopen('" + url + "', context=ssl._create_unverified_context(), timeout=5)\nexcept Exception: pass"}, []string{"python3", "-c", "import ssl; print(ssl.OPENSSL_VERSION)"}, "OpenSSL 3.0"},
		{"node-https", "node", false, []string{"node", "-e", "require('https').get('" + url + "',{rejectUnauthorized:false}).on('error',()=>{})"}, []string{"node", "--version"}, "v20."},
		{"node-fetch", "node", false, []string{"node", "-e", "fetch('" + url + "').catch(()=>{})"}, []string{"node", "--version"}, "v20."},
		{"java", "java", false, []string{"java", java, url}, []string{"java", "-version"}, "17."},
		{"chromium", "chromium", true, []string{"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--dump-dom", url}, []string{"chromium", "--version"}, "Chromium 156."},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			if _, err := exec.LookPath(c.cmd[0]); err != nil {
				t.Skipf("%s not installed: %v", c.cmd[0], err)
			}
			out, _ := exec.Command(c.version[0], c.version[1:]...).CombinedOutput()
			if !strings.Contains(string(out), c.measured) {
				t.Skipf("table measured with %q; installed: %.80q — re-measure", c.measured, out)
			}
			for len(hellos) > 0 {
				<-hellos
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// HOME is not a t.TempDir: Chromium's helper processes may
			// still write their profile there while the test cleans up.
			home, err := os.MkdirTemp("", "ja4-client-")
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(ctx, c.cmd[0], c.cmd[1:]...)
			cmd.Env = append(os.Environ(), "NODE_TLS_REJECT_UNAUTHORIZED=0", "HOME="+home)
			// Its own process group, so stopping it stops its children too.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				_ = cmd.Wait()
				_ = os.RemoveAll(home) // best effort: a straggler may still hold a file
			}()
			var ja4 string
			select {
			case ja4 = <-hellos:
			case <-ctx.Done():
				t.Fatalf("%s sent no ClientHello", c.name)
			}
			e, ok := table.Lookup(ja4)
			t.Logf("%s: %s (table: %v %+v)", c.name, ja4, ok, e)
			if !ok || e.Browser != c.browser || e.Stack != c.stack {
				t.Errorf("%s measured %s: table says known=%v %+v, want stack %q browser=%v", c.name, ja4, ok, e, c.stack, c.browser)
			}
		})
	}
	t.Run("go", func(t *testing.T) {
		for len(hellos) > 0 {
			<-hellos
		}
		client := &http.Client{Timeout: 5 * time.Second}
		go client.Get(url)
		ja4 := <-hellos
		e, ok := table.Lookup(ja4)
		t.Logf("go net/http: %s (table: %v %+v)", ja4, ok, e)
		if !strings.HasPrefix(runtimeVersion(), "go1.26") {
			t.Skipf("table measured with go1.26, running %s", runtimeVersion())
		}
		if !ok || e.Browser || e.Stack != "go" {
			t.Errorf("go net/http measured %s: table says %v %+v", ja4, ok, e)
		}
	})
}
