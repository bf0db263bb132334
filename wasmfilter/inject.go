package wasmfilter

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"

	"github.com/botwarden/botwarden/wasmfilter/abi"
)

// The invisible JavaScript detection (Cloudflare's JSD): the filter adds a
// script tag for botwarden's detection script to HTML pages on the response
// path, so a browser runs the detection without an interstitial and its
// result comes back in the session cookie on the next request. The origin
// is untouched; only GETs of documents by clients whose cookie does not
// already carry a result are injected, and only 200 text/html answers that
// are not content-encoded (the filter does not decompress) and fit in
// js_detection.max_body_bytes. So that a compressing origin's pages qualify,
// the filter removes those requests' accept-encoding
// (js_detection.strip_accept_encoding) and Envoy's compressor, placed
// before the filter, compresses the edited page for the client. Those
// requests, unless they take the fast path, also carry HeaderJSExpected to
// ext_authz: the route runs the detection, so a client without a result
// there is suspect.

// pageRequest is what the request headers say about a possible page view.
type pageRequest struct {
	method, path, authority, accept, dest string
	// acceptEncoding counts the accept-encoding headers (one removal each:
	// some hosts remove one occurrence per call).
	acceptEncoding int
}

func (r *pageRequest) read(kv [2]string) {
	switch kv[0] {
	case ":method":
		r.method = kv[1]
	case ":path":
		r.path = kv[1]
	case ":authority", "host":
		if r.authority == "" {
			r.authority = strings.ToLower(kv[1])
		}
	case "accept":
		r.accept = kv[1]
	case "sec-fetch-dest":
		r.dest = kv[1]
	case "accept-encoding":
		r.acceptEncoding++
	}
}

// injection is one stream's state on the response path.
type injection struct {
	ready bool // the response headers allowed it
}

// wantInjection decides on the request whether its response may get the
// script: a GET for a document on an eligible host and path. The cookie
// is not looked at here (handle drops the mark for a session with a
// result).
func (p *Plugin) wantInjection(r *pageRequest) bool {
	j := &p.cfg.JSDetection
	if !j.Enabled || r.method != "GET" {
		return false
	}
	if r.dest != "" && r.dest != "document" && r.dest != "iframe" {
		return false
	}
	if r.dest == "" && !strings.Contains(r.accept, "text/html") {
		return false
	}
	path, _, _ := strings.Cut(r.path, "?")
	if strings.HasPrefix(path, j.ScriptURL) {
		return false
	}
	if len(p.hosts) > 0 && !hostMatches(r.authority, p.hosts) || hostMatches(r.authority, p.excludeHosts) {
		return false
	}
	if len(j.Paths) > 0 && !hasAnyPrefix(path, j.Paths) || hasAnyPrefix(path, j.ExcludePaths) {
		return false
	}
	return true
}

func hasAnyPrefix(path string, prefixes []string) bool {
	for _, x := range prefixes {
		if strings.HasPrefix(path, x) {
			return true
		}
	}
	return false
}

// preparePage edits the request of an eligible page that did not take the
// fast path (handle calls it last): the marker tells ext_authz that this
// route runs the detection, and, when the response is still to be
// injected, accept-encoding goes so that the origin answers uncompressed.
func (p *Plugin) preparePage(r *pageRequest) error {
	if p.inject[p.host.Stream()] != nil && p.cfg.JSDetection.StripAcceptEncoding && r.acceptEncoding > 0 {
		for range r.acceptEncoding {
			if err := p.host.RemoveRequestHeader("accept-encoding"); err != nil {
				return fmt.Errorf("removing accept-encoding: %w", err)
			}
		}
		p.stats.inc(p.host, cAcceptEncodingRemoved)
	}
	// Set with replace: reserved() removed any client copy already.
	if err := p.host.ReplaceRequestHeader(HeaderJSExpected, "1"); err != nil {
		return fmt.Errorf("setting %s: %w", HeaderJSExpected, err)
	}
	return nil
}

// OnResponseHeaders keeps the injection for a 200 uncompressed HTML answer
// and drops its content-length (the body grows); otherwise forgets it.
func (p *Plugin) OnResponseHeaders(numHeaders int, endOfStream bool) (action abi.Action) {
	id := p.host.Stream()
	inj := p.inject[id]
	if inj == nil {
		return abi.ActionContinue
	}
	defer func() {
		if r := recover(); r != nil {
			delete(p.inject, id)
			action = abi.ActionContinue
			p.stats.inc(p.host, cError)
		}
	}()
	pairs, err := p.host.ResponseHeaders()
	if err != nil || endOfStream {
		delete(p.inject, id)
		return abi.ActionContinue
	}
	var status, ctype, encoding string
	length := false
	for _, kv := range pairs {
		switch kv[0] {
		case ":status":
			status = kv[1]
		case "content-type":
			ctype = strings.ToLower(kv[1])
		case "content-encoding":
			encoding = strings.ToLower(strings.TrimSpace(kv[1]))
		case "content-length":
			length = true
		}
	}
	html := strings.HasPrefix(ctype, "text/html") || strings.HasPrefix(ctype, "application/xhtml+xml")
	switch {
	case status != "200" || !html:
		delete(p.inject, id)
		return abi.ActionContinue
	case encoding != "" && encoding != "identity":
		delete(p.inject, id)
		p.stats.inc(p.host, cInjectEncoded)
		return abi.ActionContinue
	}
	if length {
		if err := p.host.RemoveResponseHeader("content-length"); err != nil {
			delete(p.inject, id)
			return abi.ActionContinue
		}
	}
	inj.ready = true
	return abi.ActionContinue
}

// OnResponseBody buffers the page to its end, then adds the script tag
// before </body> (else </html>, else at the end).
func (p *Plugin) OnResponseBody(bodySize int, endOfStream bool) (action abi.Action) {
	id := p.host.Stream()
	inj := p.inject[id]
	if inj == nil || !inj.ready {
		return abi.ActionContinue
	}
	defer func() {
		if r := recover(); r != nil {
			delete(p.inject, id)
			action = abi.ActionContinue
			p.stats.inc(p.host, cError)
		}
	}()
	if bodySize > p.cfg.JSDetection.MaxBodyBytes {
		delete(p.inject, id)
		p.stats.inc(p.host, cInjectTooLarge)
		return abi.ActionContinue
	}
	if !endOfStream {
		return abi.ActionBuffer
	}
	delete(p.inject, id)
	body, err := p.host.ResponseBody(bodySize)
	if err != nil {
		p.logf(abi.LogWarn, "botwarden: reading the page to inject into: %v", err)
		return abi.ActionContinue
	}
	out := Inject(body, p.cfg.JSDetection.ScriptURL)
	if err := p.host.SetResponseBody(out, len(body)); err != nil {
		p.logf(abi.LogWarn, "botwarden: injecting the detection script: %v", err)
		return abi.ActionContinue
	}
	p.stats.inc(p.host, cInjected)
	p.buffered += len(body) + len(out)
	return abi.ActionContinue
}

// collectEvery is how many bytes of pages the filter reads and rewrites
// between explicit collections. Go's collector finishes a cycle with
// background mark workers, which need the scheduler; a reactor module runs
// only inside host callbacks that never block, so cycles seldom finish on
// their own, and every buffered page would grow the VM's linear memory,
// which never shrinks (measured in the proxytest host: 1 GiB after 12000
// pages of 20 KiB, 2.5 GiB after 20000; TestModuleMemoryStaysBounded).
// runtime.GC parks the callback until a cycle is done, running the
// workers (what the Proxy-Wasm Go SDK advises for Go 1.24 modules, at the
// end of a stream). 8 MiB is about 200 such pages per collection of the
// filter's small live heap. The request-only path allocates little and is
// left to the runtime.
const collectEvery = 8 << 20

// OnStreamDone forgets the stream, and collects garbage once the pages
// buffered since the last collection reach collectEvery.
func (p *Plugin) OnStreamDone() {
	delete(p.inject, p.host.Stream())
	if p.buffered >= collectEvery {
		p.buffered = 0
		runtime.GC()
	}
}

// ScriptTag is what Inject adds for scriptURL.
func ScriptTag(scriptURL string) string {
	return fmt.Sprintf(`<script src="%s" async></script>`, scriptURL)
}

var (
	closeBody = []byte("</body")
	closeHTML = []byte("</html")
)

// Inject returns page with the script tag for scriptURL before its last
// </body> (case-insensitive), else its last </html>, else at the end.
func Inject(page []byte, scriptURL string) []byte {
	tag := ScriptTag(scriptURL)
	at := lastFold(page, closeBody)
	if at < 0 {
		at = lastFold(page, closeHTML)
	}
	if at < 0 {
		at = len(page)
	}
	out := make([]byte, 0, len(page)+len(tag))
	out = append(out, page[:at]...)
	out = append(out, tag...)
	return append(out, page[at:]...)
}

// lastFold is the index of the last ASCII-case-insensitive match of
// needle (lower-case) in b, or -1.
func lastFold(b, needle []byte) int {
	for i := len(b) - len(needle); i >= 0; i-- {
		if b[i] == '<' && bytes.EqualFold(b[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}
