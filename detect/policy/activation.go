package policy

import (
	"strings"
	"sync"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/botwarden/botwarden/detect"
)

// evalCtx is the CEL activation for one Decide call. It resolves the four
// variables to typed views over the request and verdict; field getters read
// them in place, and the few values that cost something to build (header
// and cookie maps, the client address string) are built on first use and
// shared by every rule of the call. Contexts are pooled, so a decision over
// scalar fields allocates nothing here.
type evalCtx struct {
	r *detect.Request
	v *detect.Verdict

	bot, js, challenge, reputation, http, ip, route object

	headersVal, cookiesVal, routeCtxVal ref.Val
	ipSrcVal                            ref.Val
}

var _ interpreter.Activation = (*evalCtx)(nil)

var ctxPool = sync.Pool{New: func() any {
	c := &evalCtx{}
	for _, o := range []struct {
		obj *object
		typ *types.Type
	}{
		{&c.bot, botType}, {&c.js, jsType}, {&c.challenge, challengeType}, {&c.reputation, reputationType},
		{&c.http, httpType}, {&c.ip, ipType}, {&c.route, routeType},
	} {
		*o.obj = object{st: structs[o.typ.TypeName()], c: c}
	}
	return c
}}

func getCtx(r *detect.Request, v *detect.Verdict) *evalCtx {
	c := ctxPool.Get().(*evalCtx)
	c.r, c.v = r, v
	return c
}

func putCtx(c *evalCtx) {
	c.r, c.v = nil, nil
	c.headersVal, c.cookiesVal, c.routeCtxVal, c.ipSrcVal = nil, nil, nil, nil
	ctxPool.Put(c)
}

// ResolveName implements interpreter.Activation.
func (c *evalCtx) ResolveName(name string) (any, bool) {
	switch name {
	case "bot":
		return &c.bot, true
	case "http":
		return &c.http, true
	case "ip":
		return &c.ip, true
	case "route":
		return &c.route, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (c *evalCtx) Parent() interpreter.Activation { return nil }

func str(s string) ref.Val { return types.String(s) }

// bot.*

func (c *evalCtx) score() ref.Val    { return types.Int(c.v.Score) }
func (c *evalCtx) source() ref.Val   { return str(string(c.v.Source)) }
func (c *evalCtx) category() ref.Val { return str(string(c.v.Category())) }
func (c *evalCtx) verified() ref.Val { return types.Bool(c.v.Verified) }
func (c *evalCtx) verifiedBot() ref.Val {
	return str(c.v.VerifiedBot)
}
func (c *evalCtx) verifiedCategory() ref.Val { return str(c.v.VerifiedCategory) }
func (c *evalCtx) tags() ref.Val             { return types.NewStringList(types.DefaultTypeAdapter, c.v.Tags) }
func (c *evalCtx) detectionIDs() ref.Val {
	return types.NewDynamicList(types.DefaultTypeAdapter, c.v.DetectionIDs)
}
func (c *evalCtx) ai() ref.Val             { return types.Bool(c.v.AI) }
func (c *evalCtx) aiCategory() ref.Val     { return str(c.v.AICategory) }
func (c *evalCtx) staticResource() ref.Val { return types.Bool(isStaticResource(c.r.PathOnly())) }
func (c *evalCtx) ja4() ref.Val            { return str(c.r.JA4()) }
func (c *evalCtx) jsObj() ref.Val          { return &c.js }
func (c *evalCtx) challengeObj() ref.Val   { return &c.challenge }
func (c *evalCtx) reputationObj() ref.Val  { return &c.reputation }

// JS detection and challenge results come from the verdict (set by the
// challenge engine) or, failing that, straight from the session cookie.

func (c *evalCtx) jsChecked() ref.Val {
	return types.Bool(c.v.JSDetectionChecked || c.v.Session != nil && c.v.Session.JSChecked)
}

func (c *evalCtx) jsPassed() ref.Val {
	return types.Bool(c.v.JSDetectionPassed || c.v.Session != nil && c.v.Session.JSPassed)
}

func (c *evalCtx) challengePassed() ref.Val {
	return types.Bool(c.v.ChallengePassed || c.v.Session != nil && c.v.Session.ChallengePassed)
}

func (c *evalCtx) challengeNoJS() ref.Val {
	return types.Bool(c.v.Session != nil && c.v.Session.NoJS)
}

func (c *evalCtx) repFound() ref.Val  { return types.Bool(c.v.Reputation.Found) }
func (c *evalCtx) repScore() ref.Val  { return types.Int(c.v.Reputation.Score) }
func (c *evalCtx) repSource() ref.Val { return str(string(c.v.Reputation.Source)) }
func (c *evalCtx) repExempt() ref.Val { return types.Bool(c.v.Reputation.Exempt) }
func (c *evalCtx) repTags() ref.Val {
	return types.NewStringList(types.DefaultTypeAdapter, c.v.Reputation.Tags)
}

// http.*

func (c *evalCtx) method() ref.Val    { return str(c.r.Method) }
func (c *evalCtx) host() ref.Val      { return str(c.r.Host) }
func (c *evalCtx) path() ref.Val      { return str(c.r.Path) }
func (c *evalCtx) pathOnly() ref.Val  { return str(c.r.PathOnly()) }
func (c *evalCtx) scheme() ref.Val    { return str(c.r.Scheme) }
func (c *evalCtx) protocol() ref.Val  { return str(c.r.Protocol) }
func (c *evalCtx) userAgent() ref.Val { return str(c.r.UserAgent()) }

func (c *evalCtx) query() ref.Val {
	_, q, _ := strings.Cut(c.r.Path, "?")
	q, _, _ = strings.Cut(q, "#")
	return str(q)
}

func (c *evalCtx) headers() ref.Val {
	if c.headersVal == nil {
		c.headersVal = headerMap{
			Mapper: types.NewStringStringMap(types.DefaultTypeAdapter, c.r.Headers),
			h:      c.r.Headers,
		}
	}
	return c.headersVal
}

func (c *evalCtx) cookies() ref.Val {
	if c.cookiesVal == nil {
		c.cookiesVal = types.NewStringStringMap(types.DefaultTypeAdapter, parseCookies(c.r.Headers.Get("cookie")))
	}
	return c.cookiesVal
}

// ip.*

func (c *evalCtx) ipSrc() ref.Val {
	if c.ipSrcVal == nil {
		s := ""
		if c.r.ClientIP.IsValid() {
			s = c.r.ClientIP.Unmap().String()
		}
		c.ipSrcVal = str(s)
	}
	return c.ipSrcVal
}

func (c *evalCtx) ipASN() ref.Val          { return types.Int(c.v.IP.ASN) }
func (c *evalCtx) ipASOrg() ref.Val        { return str(c.v.IP.ASOrg) }
func (c *evalCtx) ipCountry() ref.Val      { return str(c.v.IP.Country) }
func (c *evalCtx) ipDatacenter() ref.Val   { return types.Bool(c.v.IP.Datacenter) }
func (c *evalCtx) ipPrivateRelay() ref.Val { return types.Bool(c.v.IP.PrivateRelay) }

// route.*

func (c *evalCtx) routeName() ref.Val { return str(c.r.ContextExtensions[ContextKeyRoute]) }

func (c *evalCtx) routeContext() ref.Val {
	if c.routeCtxVal == nil {
		c.routeCtxVal = types.NewStringStringMap(types.DefaultTypeAdapter, c.r.ContextExtensions)
	}
	return c.routeCtxVal
}

// headerMap is http.headers: CEL's string map over the request headers, with
// lookups that fall back to the lower-case name, so 'User-Agent' finds
// user-agent as HTTP intends.
type headerMap struct {
	traits.Mapper
	h detect.Headers
}

func (m headerMap) Find(key ref.Val) (ref.Val, bool) {
	if k, ok := key.(types.String); ok {
		if v, ok := m.h[string(k)]; ok {
			return types.String(v), true
		}
		if v, ok := m.h[strings.ToLower(string(k))]; ok {
			return types.String(v), true
		}
		return nil, false
	}
	return m.Mapper.Find(key)
}

func (m headerMap) Get(key ref.Val) ref.Val {
	if v, ok := m.Find(key); ok {
		return v
	}
	return types.ValOrErr(key, "no such key: %v", key)
}

func (m headerMap) Contains(key ref.Val) ref.Val {
	_, ok := m.Find(key)
	return types.Bool(ok)
}

// parseCookies maps a Cookie header to name → value (first wins), the
// pairs detect.CookiePairs yields; a pair without a name is skipped.
func parseCookies(h string) map[string]string {
	out := map[string]string{}
	for k, v := range detect.CookiePairs(h) {
		if _, dup := out[k]; !dup && k != "" {
			out[k] = v
		}
	}
	return out
}

// staticExtensions are Cloudflare's static-resource extensions
// (cf.bot_management.static_resource, reference/commercial.md §1.17) plus
// a few modern web formats (map, mjs, avif, webm, mp4, wasm, webmanifest).
var staticExtensions = map[string]bool{}

func init() {
	for _, e := range strings.Fields(`ico jpg png jpeg gif css js tif tiff bmp pict webp svg svgz class
		jar txt csv doc docx xls xlsx pdf ps pls ppt pptx ttf otf woff woff2 eot eps ejs swf torrent midi
		mid m3u8 m4a mp3 ogg ts map mjs avif apng webm mp4 wasm webmanifest`) {
		staticExtensions[e] = true
	}
}

// isStaticResource reports whether path names a static file by its
// extension, or lies under /.well-known/ (as Cloudflare defines it).
func isStaticResource(path string) bool {
	if strings.HasPrefix(path, "/.well-known/") {
		return true
	}
	seg := path[strings.LastIndexByte(path, '/')+1:]
	dot := strings.LastIndexByte(seg, '.')
	if dot < 0 {
		return false
	}
	ext := seg[dot+1:]
	if len(ext) == 0 || len(ext) > 11 {
		return false
	}
	var buf [11]byte
	for i := 0; i < len(ext); i++ {
		b := ext[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		buf[i] = b
	}
	return staticExtensions[string(buf[:len(ext)])]
}
