package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// tlsConfig makes a self-signed certificate for localhost/127.0.0.1 (the
// config's certificate files belong to the deployment, not to a test) and
// records each connection's fingerprints from its ClientHello, as Envoy's
// tls_inspector does.
func (g *InRepo) tlsConfig() (*tls.Config, []byte, error) {
	certPEM, _, cert, err := selfSigned()
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			g.tlsConn.Store(hello.Conn.RemoteAddr().String(), Fingerprints{JA3: JA3(hello), JA4: JA4(hello)})
			return nil, nil
		},
	}
	return cfg, certPEM, nil
}

// selfSigned makes a one-day ECDSA certificate for localhost and the
// loopback addresses.
func selfSigned() (certPEM, keyPEM []byte, cert tls.Certificate, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, cert, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, cert, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, cert, err
	}
	cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), cert, nil
}

func (g *InRepo) fingerprintsOf(r *http.Request) Fingerprints {
	fp, _ := g.tlsConn.Load(r.RemoteAddr)
	f, _ := fp.(Fingerprints)
	return f
}

func (g *InRepo) forgetTLSConn(c net.Conn, st http.ConnState) {
	if st == http.StateClosed || st == http.StateHijacked {
		g.tlsConn.Delete(c.RemoteAddr().String())
	}
}

// isGREASE reports the RFC 8701 reserved values (0x0a0a, 0x1a1a, …), which
// fingerprints ignore.
func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

func noGREASE(vs []uint16) []uint16 {
	out := make([]uint16, 0, len(vs))
	for _, v := range vs {
		if !isGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}

// JA4 computes the FoxIO JA4 fingerprint of a ClientHello (TCP, so "t"):
// version, SNI or not, cipher and extension counts, first ALPN, then
// truncated SHA-256 hashes of the sorted ciphers and of the sorted
// extensions (without SNI and ALPN) followed by the signature algorithms in
// their original order.
func JA4(h *tls.ClientHelloInfo) string {
	ciphers := noGREASE(h.CipherSuites)
	exts := noGREASE(h.Extensions)
	var b strings.Builder
	b.WriteString("t")
	b.WriteString(ja4Version(noGREASE(h.SupportedVersions)))
	if slices.Contains(exts, 0x0000) {
		b.WriteString("d")
	} else {
		b.WriteString("i")
	}
	fmt.Fprintf(&b, "%02d%02d", min(len(ciphers), 99), min(len(exts), 99))
	b.WriteString(ja4ALPN(h.SupportedProtos))

	sorted := slices.Clone(ciphers)
	slices.Sort(sorted)
	b.WriteString("_" + ja4Hash(hexList(sorted)))

	var rest []uint16
	for _, e := range exts {
		if e != 0x0000 && e != 0x0010 {
			rest = append(rest, e)
		}
	}
	slices.Sort(rest)
	ext := hexList(rest)
	var sigs []uint16
	for _, s := range h.SignatureSchemes {
		if !isGREASE(uint16(s)) {
			sigs = append(sigs, uint16(s))
		}
	}
	if len(sigs) > 0 && ext != "" {
		ext += "_" + hexList(sigs)
	}
	b.WriteString("_" + ja4Hash(ext))
	return b.String()
}

func ja4Version(vs []uint16) string {
	var highest uint16
	for _, v := range vs {
		if v < 0xfe00 { // DTLS versions count down from 0xfeff; not TCP
			highest = max(highest, v)
		}
	}
	switch highest {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	}
	return "00"
}

func ja4ALPN(protos []string) string {
	if len(protos) == 0 || protos[0] == "" {
		return "00"
	}
	p := protos[0]
	first, last := p[0], p[len(p)-1]
	if isAlnum(first) && isAlnum(last) {
		return string([]byte{first, last})
	}
	x := hex.EncodeToString([]byte(p))
	return string([]byte{x[0], x[len(x)-1]})
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func hexList(vs []uint16) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%04x", v)
	}
	return strings.Join(parts, ",")
}

func ja4Hash(s string) string {
	if s == "" {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

// JA3 computes the JA3 fingerprint (MD5 of version, ciphers, extensions,
// curves and point formats, GREASE removed, original order). Go does not
// expose the ClientHello's legacy_version: it is 771 (TLS 1.2) for every
// TLS 1.3 client, and the highest version otherwise.
func JA3(h *tls.ClientHelloInfo) string {
	version := uint16(0)
	for _, v := range noGREASE(h.SupportedVersions) {
		version = max(version, v)
	}
	version = min(version, 0x0303)
	curves := make([]uint16, 0, len(h.SupportedCurves))
	for _, c := range h.SupportedCurves {
		curves = append(curves, uint16(c))
	}
	points := make([]uint16, len(h.SupportedPoints))
	for i, p := range h.SupportedPoints {
		points[i] = uint16(p)
	}
	text := strings.Join([]string{
		strconv.Itoa(int(version)), decList(noGREASE(h.CipherSuites)), decList(noGREASE(h.Extensions)),
		decList(noGREASE(curves)), decList(points),
	}, ",")
	sum := md5.Sum([]byte(text))
	return hex.EncodeToString(sum[:])
}

func decList(vs []uint16) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Itoa(int(v))
	}
	return strings.Join(parts, "-")
}

func parseAddrPort(s string) (netip.AddrPort, error) { return netip.ParseAddrPort(s) }
