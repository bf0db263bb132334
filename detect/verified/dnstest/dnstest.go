// Package dnstest runs a small authoritative DNS server over UDP on
// loopback, for testing reverse-DNS verification with real wire DNS and Go's
// own resolver — the way net/http/httptest serves HTTP. It answers PTR, A and
// AAAA questions from records the test adds, NXDOMAIN for names it does not
// know, and can be told to fail (SERVFAIL) or stay silent (timeout) for a
// name.
package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/net/dns/dnsmessage"
)

// Server is a running DNS server. Its methods are safe for concurrent use.
type Server struct {
	// Addr is the server's "127.0.0.1:port".
	Addr string

	conn    net.PacketConn
	mu      sync.RWMutex
	ptr     map[string][]string         // reverse name → PTR targets
	addrs   map[string][]netip.Addr     // host → A/AAAA
	rcode   map[string]dnsmessage.RCode // forced answer code
	silent  map[string]bool             // never answered
	queries atomic.Int64
	done    chan struct{}
	wg      sync.WaitGroup
}

// NewServer starts a server on 127.0.0.1 with a random port.
func NewServer() (*Server, error) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dnstest: %w", err)
	}
	s := &Server{
		Addr: conn.LocalAddr().String(), conn: conn,
		ptr: map[string][]string{}, addrs: map[string][]netip.Addr{},
		rcode: map[string]dnsmessage.RCode{}, silent: map[string]bool{},
		done: make(chan struct{}),
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// AddPTR makes ip's reverse name point at names.
func (s *Server) AddPTR(ip netip.Addr, names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev := ReverseName(ip)
	for _, n := range names {
		s.ptr[rev] = append(s.ptr[rev], fqdn(n))
	}
}

// AddHost gives name the addresses ips (A for IPv4, AAAA for IPv6).
func (s *Server) AddHost(name string, ips ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs[fqdn(name)] = append(s.addrs[fqdn(name)], ips...)
}

// AddFCrDNS adds a PTR for ip and the forward record that confirms it.
func (s *Server) AddFCrDNS(ip netip.Addr, name string) {
	s.AddPTR(ip, name)
	s.AddHost(name, ip)
}

// ServFail makes every question about name (a host, or ReverseName(ip))
// answered with SERVFAIL.
func (s *Server) ServFail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcode[fqdn(name)] = dnsmessage.RCodeServerFailure
}

// Silence makes the server drop questions about name, so the client times out.
func (s *Server) Silence(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent[fqdn(name)] = true
}

// Queries returns the number of questions received.
func (s *Server) Queries() int64 { return s.queries.Load() }

// Resolver returns a Go resolver that sends every query to this server.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", s.Addr)
		},
	}
}

// Close stops the server and waits for it.
func (s *Server) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	close(s.done)
	err := s.conn.Close()
	s.wg.Wait()
	return err
}

// ReverseName returns the in-addr.arpa / ip6.arpa name of ip.
func ReverseName(ip netip.Addr) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.in-addr.arpa.", a[3], a[2], a[1], a[0])
		return b.String()
	}
	a := ip.As16()
	const hex = "0123456789abcdef"
	for i := len(a) - 1; i >= 0; i-- {
		b.WriteByte(hex[a[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[a[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa.")
	return b.String()
}

func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.queries.Add(1)
		if resp, ok := s.answer(buf[:n]); ok {
			_, _ = s.conn.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query; ok is false to stay silent.
func (s *Server) answer(query []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.ToLower(q.Name.String())
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.silent[name] {
		return nil, false
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	ptrs, hasPTR := s.ptr[name]
	addrs, hasAddr := s.addrs[name]
	switch code, forced := s.rcode[name]; {
	case forced:
		rh.RCode = code
	case !hasPTR && !hasAddr:
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, false
	}
	if err := b.Question(q); err != nil {
		return nil, false
	}
	if err := b.StartAnswers(); err != nil {
		return nil, false
	}
	if rh.RCode == dnsmessage.RCodeSuccess {
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		switch q.Type {
		case dnsmessage.TypePTR:
			for _, t := range ptrs {
				target, err := dnsmessage.NewName(t)
				if err != nil {
					return nil, false
				}
				if err := b.PTRResource(hdr, dnsmessage.PTRResource{PTR: target}); err != nil {
					return nil, false
				}
			}
		case dnsmessage.TypeA, dnsmessage.TypeAAAA:
			for _, a := range addrs {
				var err error
				switch {
				case q.Type == dnsmessage.TypeA && a.Is4():
					err = b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
				case q.Type == dnsmessage.TypeAAAA && a.Is6():
					err = b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()})
				}
				if err != nil {
					return nil, false
				}
			}
		}
	}
	resp, err := b.Finish()
	if err != nil {
		return nil, false
	}
	return resp, true
}
