// Package wasmfilter is botwarden's Proxy-Wasm HTTP filter: the in-proxy
// fast path in front of ext_authz (docs/architecture.md, "Request flow").
//
// For every request it
//   - removes client-sent x-bot-* / x-botwarden-* headers (but Envoy's JA4
//     header) and the skip marker, so that nothing downstream can be fooled;
//   - opens the session cookie with detect/token, the code the server seals
//     it with, and checks its binding to the client (source.address, which
//     in an HTTP filter is the address Envoy's HCM derived from XFF) and UA;
//   - a cookie that says blocked: answers 403 itself, no round trip;
//   - a valid, bound, fresh cookie with a good score: adds the verdict
//     headers and the skip marker, which makes Envoy skip ext_authz;
//   - anything else: continues untouched, and ext_authz decides.
//
// The logic is plain Go behind the Host interface, so it is tested natively;
// package abi binds Host to the proxy, and cmd/filter is the module's main.
// Internal errors and panics fail open (or answer 503 with fail_mode
// "closed"); they never reach the VM.
package wasmfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect/token"
	"github.com/botwarden/botwarden/wasmfilter/abi"
)

// Host is what the filter needs from the proxy. Request methods act on the
// request whose callback is running.
type Host interface {
	// RequestHeaders returns all request headers, names lower-case, in order.
	RequestHeaders() ([][2]string, error)
	// RemoveRequestHeader removes header name.
	RemoveRequestHeader(name string) error
	// ReplaceRequestHeader sets header name to value, adding it if absent.
	ReplaceRequestHeader(name, value string) error
	// Property reads an attribute by path tokens; abi.ErrNotFound if absent.
	Property(path ...string) ([]byte, error)
	// SendLocalResponse answers the request from the proxy.
	SendLocalResponse(status uint32, details string, body []byte, headers [][2]string) error
	// Log writes a line to the proxy's log.
	Log(level abi.LogLevel, msg string)
	// DefineCounter returns the id of the counter name, defining it.
	DefineCounter(name string) (uint32, error)
	// IncrementCounter adds delta to a counter.
	IncrementCounter(id uint32, delta int64) error

	// Stream is the id of the stream whose callback is running.
	Stream() uint32
	// ResponseHeaders returns all response headers, in order.
	ResponseHeaders() ([][2]string, error)
	// RemoveResponseHeader removes response header name.
	RemoveResponseHeader(name string) error
	// ResponseBody returns the first size bytes of the buffered body.
	ResponseBody(size int) ([]byte, error)
	// SetResponseBody replaces the first replace bytes of the body with b.
	SetResponseBody(b []byte, replace int) error
}

// Plugin is one configured instance of the filter (a Proxy-Wasm root
// context). It is not safe for concurrent use, and needs not be: a Wasm VM
// runs one callback at a time.
type Plugin struct {
	host Host
	// Now is the clock used when the host has no request.time attribute;
	// time.Now unless a test sets it.
	Now func() time.Time

	cfg   Config
	ring  *token.Ring
	level abi.LogLevel
	strip map[string]bool // configured names to strip besides the reserved prefixes
	stats stats
	// hosts and excludeHosts are js_detection's compiled host lists.
	hosts, excludeHosts []hostPattern
	// inject holds the streams whose HTML response gets the detection
	// script (decided on the request, confirmed on the response headers).
	inject map[uint32]*injection
	// buffered counts the page bytes read and rewritten since the last
	// explicit garbage collection (see collectEvery).
	buffered int
}

// NewPlugin returns an unconfigured plugin that talks to h.
func NewPlugin(h Host) *Plugin {
	return &Plugin{host: h, Now: time.Now, level: abi.LogInfo, inject: map[uint32]*injection{}}
}

// Config returns the active configuration (the zero Config before a
// successful OnConfigure).
func (p *Plugin) Config() Config { return p.cfg }

// OnConfigure parses and validates the plugin configuration, logs why it is
// refused if it is, and returns false then (which fails the plugin load).
// A refused configuration leaves the previous one, if any, in place.
func (p *Plugin) OnConfigure(b []byte) bool {
	cfg, err := ParseConfig(b)
	if err != nil {
		p.host.Log(abi.LogError, "botwarden: invalid plugin configuration: "+oneLine(err))
		return false
	}
	ring, err := cfg.Ring()
	if err != nil { // Validate built it already; kept for the error path's sake
		p.host.Log(abi.LogError, "botwarden: invalid plugin configuration: keys: "+err.Error())
		return false
	}
	p.cfg, p.ring = cfg, ring
	p.level, _ = abi.ParseLogLevel(cfg.LogLevel)
	p.strip = map[string]bool{cfg.SkipHeader: true, cfg.Headers.Score: true, cfg.Headers.Category: true, cfg.Headers.JSDetection: true}
	p.hosts, p.excludeHosts = compileHosts(cfg.JSDetection.Hosts), compileHosts(cfg.JSDetection.ExcludeHosts)
	p.stats.define(p.host, p.logf)
	p.logf(abi.LogInfo, "botwarden: cookie fast path configured: cookie %q, %d key(s), active %d, score >= %d, revalidate after %v, fail %s",
		cfg.CookieName, len(cfg.Keys), cfg.ActiveKey, cfg.ScoreThreshold, cfg.Revalidate.Duration, cfg.FailMode)
	return true
}

// OnRequestHeaders handles one request. It never panics: a panic in the
// handling is recovered and treated as an internal error.
func (p *Plugin) OnRequestHeaders(numHeaders int, endOfStream bool) (action abi.Action) {
	if p.ring == nil {
		return abi.ActionContinue
	}
	defer func() {
		if r := recover(); r != nil {
			action = p.fail(fmt.Errorf("panic: %v", r))
		}
	}()
	action, err := p.handle()
	if err != nil {
		return p.fail(err)
	}
	return action
}

func (p *Plugin) handle() (abi.Action, error) {
	pairs, err := p.host.RequestHeaders()
	if err != nil {
		return abi.ActionContinue, fmt.Errorf("reading request headers: %w", err)
	}
	var ua string
	var cookieBuf [maxCookieTries]string
	cookies := cookieBuf[:0]
	uaSeen, spoofed := false, false
	var page pageRequest
	for _, kv := range pairs {
		page.read(kv)
		name := kv[0]
		if reserved(name) || p.strip[name] {
			// Once per occurrence: Envoy removes every value per call,
			// other hosts one.
			if err := p.host.RemoveRequestHeader(name); err != nil {
				return abi.ActionContinue, fmt.Errorf("removing client header %s: %w", name, err)
			}
			spoofed = true
			continue
		}
		switch name {
		case "user-agent":
			if !uaSeen {
				ua, uaSeen = kv[1], true
			}
		case "cookie":
			// HTTP/2 clients may split cookies over several headers.
			cookies = cookieValues(kv[1], p.cfg.CookieName, cookies)
		}
	}
	if spoofed {
		p.stats.inc(p.host, cSpoofed)
	}
	eligible := p.wantInjection(&page)
	if eligible {
		p.inject[p.host.Stream()] = &injection{}
	}
	action, fast, err := p.session(cookies, ua)
	if err != nil || action != abi.ActionContinue || fast || !eligible {
		return action, err
	}
	return abi.ActionContinue, p.preparePage(&page)
}

// session acts on the session cookie: a local reply for a blocked one, the
// verdict headers and the skip marker for one that takes the fast path
// (fast), nothing otherwise.
func (p *Plugin) session(cookies []string, ua string) (action abi.Action, fast bool, err error) {
	if len(cookies) == 0 {
		p.stats.inc(p.host, cAbsent)
		return abi.ActionContinue, false, nil
	}

	now := p.requestTime()
	claims, reason, err := p.open(cookies, ua, now)
	if err != nil {
		p.invalid(reason, err)
		return abi.ActionContinue, false, nil
	}
	p.stats.inc(p.host, cValid)
	if claims.Flags.Has(token.JSChecked) {
		// The session carries its result already: no script needed.
		delete(p.inject, p.host.Stream())
	}

	if claims.Flags.Has(token.Blocked) {
		if err := p.host.SendLocalResponse(uint32(p.cfg.BlockStatus), "botwarden_cookie_blocked",
			[]byte(p.cfg.BlockBody), replyHeaders); err != nil {
			return abi.ActionContinue, false, fmt.Errorf("sending block reply: %w", err)
		}
		p.stats.inc(p.host, cBlocked)
		p.logf(abi.LogDebug, "botwarden: blocked session %s by cookie", claims.SessionID)
		// Envoy sends the local reply when this callback returns.
		return abi.ActionPause, false, nil
	}
	if age := now.Unix() - claims.IssuedAt; age >= int64(p.cfg.Revalidate.Seconds()) {
		p.stats.inc(p.host, cStale)
		return abi.ActionContinue, false, nil
	}
	if p.cfg.JSDetection.Enabled && !claims.Flags.Has(token.JSChecked) {
		// Where the page runs the detection, a session without a result
		// goes to ext_authz, which counts its pages without one.
		p.stats.inc(p.host, cNoJSResult)
		return abi.ActionContinue, false, nil
	}
	score := int(claims.Score)
	if score < p.cfg.ScoreThreshold {
		p.stats.inc(p.host, cBelowThreshold)
		return abi.ActionContinue, false, nil
	}

	set := [][2]string{
		{p.cfg.Headers.Score, strconv.Itoa(score)},
		{p.cfg.Headers.Category, category(score)},
	}
	if claims.Flags.Has(token.JSChecked) {
		v := "failed"
		if claims.Flags.Has(token.JSPassed) {
			v = "passed"
		}
		set = append(set, [2]string{p.cfg.Headers.JSDetection, v})
	}
	// The marker goes last: if setting a verdict header fails, the request
	// still goes to ext_authz.
	set = append(set, [2]string{p.cfg.SkipHeader, "1"})
	for _, h := range set {
		if err := p.host.ReplaceRequestHeader(h[0], h[1]); err != nil {
			return abi.ActionContinue, false, fmt.Errorf("setting %s: %w", h[0], err)
		}
	}
	p.stats.inc(p.host, cFastPath)
	return abi.ActionContinue, true, nil
}

// open returns the claims of the first cookie that opens and is bound to
// this client, as the server's session.Manager.ReadRequest does (a stale
// host-only cookie may sit beside a Domain one); otherwise the first
// cookie's error and its reason label.
func (p *Plugin) open(cookies []string, ua string, now time.Time) (token.Claims, string, error) {
	var (
		firstErr    error
		firstReason string
		ip          netip.Addr
		ipErr       error
		ipRead      bool
	)
	for _, v := range cookies {
		c, err := p.ring.Open(v, now)
		reason := token.Reason(err)
		if err == nil {
			if !ipRead {
				ip, ipErr = p.clientIP()
				ipRead = true
			}
			if err = ipErr; err != nil {
				reason = "no_client_ip"
			} else if err = c.Bound(ip, ua, p.cfg.IPv4Prefix, p.cfg.IPv6Prefix); err != nil {
				reason = token.Reason(err)
			}
		}
		if err == nil {
			return c, "", nil
		}
		if firstErr == nil {
			firstErr, firstReason = err, reason
		}
	}
	return token.Claims{}, firstReason, firstErr
}

// replyHeaders go with local replies. No content-type: Envoy's local reply
// already sets text/plain for a body, and adds (does not replace) the
// plugin's headers.
var replyHeaders = [][2]string{{"cache-control", "no-store"}}

// requestTime is the request.time attribute (when Envoy received the
// request; a timestamp serialised as int64 nanoseconds, little-endian). The
// WASI clock is the fallback: Envoy's is real, but a sandboxing host such as
// wazero by default serves a fake one, and the host's notion of the
// request's time is the one the rest of the proxy uses.
func (p *Plugin) requestTime() time.Time {
	if v, err := p.host.Property("request", "time"); err == nil && len(v) == 8 {
		return time.Unix(0, int64(binary.LittleEndian.Uint64(v)))
	}
	return p.Now()
}

// errNoClientIP: source.address is absent or not an address.
var errNoClientIP = errors.New("no client address")

// clientIP reads source.address: "ip:port", the downstream address Envoy's
// HCM derived (x-forwarded-for with the configured trusted hops), not the
// L4 peer that ext_authz calls source.address.
func (p *Plugin) clientIP() (netip.Addr, error) {
	v, err := p.host.Property("source", "address")
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: source.address: %w", errNoClientIP, err)
	}
	s := string(v)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("%w: source.address %q", errNoClientIP, s)
}

func (p *Plugin) invalid(reason string, err error) {
	p.stats.inc(p.host, invalidCounter(reason))
	p.logf(abi.LogDebug, "botwarden: session cookie not used: %s: %v", reason, err)
}

// fail applies the fail mode to an internal error.
func (p *Plugin) fail(err error) abi.Action {
	p.stats.inc(p.host, cError)
	p.logf(abi.LogError, "botwarden: cookie check failed (fail %s): %v", p.cfg.FailMode, err)
	if p.cfg.FailMode == FailClosed {
		if p.host.SendLocalResponse(503, "botwarden_filter_error", []byte("Service unavailable.\n"), replyHeaders) == nil {
			return abi.ActionPause
		}
	}
	return abi.ActionContinue
}

func (p *Plugin) logf(level abi.LogLevel, format string, args ...any) {
	if level < p.level {
		return
	}
	p.host.Log(level, fmt.Sprintf(format, args...))
}

// maxCookieTries bounds the same-named cookies tried per request, as the
// server does: a header stuffed with copies costs at most four opens.
const maxCookieTries = 4

// cookieValues appends to dst the non-empty values of cookie name in one
// Cookie header, up to maxCookieTries in all. It splits like the server's
// session.Manager (surrounding quotes dropped), so both read the same
// cookies in the same order.
func cookieValues(header, name string, dst []string) []string {
	for header != "" && len(dst) < maxCookieTries {
		var part string
		part, header, _ = strings.Cut(header, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k != name {
			continue
		}
		if v = strings.Trim(v, `"`); v != "" {
			dst = append(dst, v)
		}
	}
	return dst
}

// oneLine joins a multi-error on one log line.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
