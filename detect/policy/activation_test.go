package policy

import (
	"context"
	"net/netip"
	"testing"

	"cel.dev/cel-go/common/types"

	"github.com/botwarden/botwarden/detect"
)

// Every variable field, read by a rule, against one request and verdict.
func TestFieldsReadRequestAndVerdict(t *testing.T) {
	r := browser()
	r.Path = "/search?q=bots&page=2#frag"
	r.ClientIP = netip.MustParseAddr("::ffff:203.0.113.9")
	r.ContextExtensions = map[string]string{ContextKeyRoute: "search", "team": "growth"}
	v := &detect.Verdict{
		Session: &detect.Session{ID: "s", JSChecked: true},
		Score:   12, Source: detect.SourceML, Tags: []string{"headless"}, DetectionIDs: []int{3355446},
		AI: true, AICategory: "ai_search",
		IP:         detect.IPInfo{ASN: 16509, ASOrg: "AMAZON-02", Country: "DE", Datacenter: true},
		Reputation: detect.Reputation{Found: true, Score: 5, Source: detect.SourceBehavioral, Tags: []string{"rate-anomaly"}},
	}
	verified := &detect.Verdict{Score: 1}
	verified.MarkVerified("googlebot", "search_engine")
	tests := []struct {
		expr string
		v    *detect.Verdict
		want bool
	}{
		{"bot.score == 12 && bot.source == 'machine_learning' && bot.category == 'likely_automated'", v, true},
		{"bot.verified", v, false},
		{"bot.verified && bot.verified_bot == 'googlebot' && bot.verified_category == 'search_engine' && bot.category == 'verified_bot'", verified, true},
		{"'headless' in bot.tags && 3355446 in bot.detection_ids && size(bot.detection_ids) == 1", v, true},
		{"bot.ai && bot.ai_category == 'ai_search'", v, true},
		{"!bot.static_resource && bot.ja4 == 't13d1516h2_8daaf6152771_02713d6af862'", v, true},
		{"bot.js_detection.checked && !bot.js_detection.passed && !bot.challenge.passed && !bot.challenge.nojs", v, true},
		{"bot.reputation.found && bot.reputation.score == 5 && bot.reputation.source == 'behavioral_analysis' && bot.reputation.tags == ['rate-anomaly']", v, true},
		{"http.method == 'GET' && http.host == 'shop.example.com' && http.scheme == 'https' && http.protocol == 'HTTP/2'", v, true},
		{"http.path == '/search?q=bots&page=2#frag' && http.path_only == '/search' && http.query == 'q=bots&page=2'", v, true},
		{"http.user_agent.contains('Chrome/126') && http.headers['Accept-Language'] == 'en-GB,en;q=0.9' && 'SEC-CH-UA' in http.headers", v, true},
		{"http.headers.exists(k, k.startsWith('sec-fetch-'))", v, true},
		{"http.cookies['theme'] == 'dark' && !('missing' in http.cookies) && size(http.cookies) == 2", v, true},
		{"ip.src == '203.0.113.9' && ip.asn == 16509 && ip.as_org == 'AMAZON-02' && ip.country == 'DE' && ip.datacenter && !ip.private_relay", v, true},
		{"ip.in_cidr(ip.src, '203.0.113.0/24') && cidr('203.0.113.0/24').containsIP(ip.src) && !ip.in_cidr(ip.src, ['10.0.0.0/8'])", v, true},
		{"ip.in_cidr(ip.src, '::ffff:203.0.113.0/120')", v, true},
		{"route.name == 'search' && route.context['team'] == 'growth'", v, true},
		{"dyn(bot).score == 12 && [http][0].method == 'GET' && type(bot) != type(http)", v, true},
		{"has(bot.score) && bot.js_detection == bot.js_detection", v, true},
	}
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	c := compiler{env: env}
	for _, tt := range tests {
		prog, err := c.program(tt.expr, types.BoolType)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		ctx := getCtx(r, tt.v)
		out, err := prog.eval(context.Background(), ctx)
		putCtx(ctx)
		if err != nil || out != types.Bool(tt.want) {
			t.Errorf("%s = %v (err %v), want %v", tt.expr, out, err, tt.want)
		}
	}
	// A no-JavaScript pass is a challenge pass without JS detection.
	if prog, err := c.program("bot.challenge.passed && bot.challenge.nojs && !bot.js_detection.passed", types.BoolType); err != nil {
		t.Fatal(err)
	} else {
		ctx := getCtx(r, &detect.Verdict{Session: &detect.Session{ID: "s", ChallengePassed: true, NoJS: true}})
		out, err := prog.eval(context.Background(), ctx)
		putCtx(ctx)
		if out != types.True {
			t.Fatalf("no-JS pass: %v %v", out, err)
		}
	}
	// An unknown client address is "" and in no range.
	r.ClientIP = netip.Addr{}
	prog, err := c.program("ip.src == '' && !ip.in_cidr(ip.src, '0.0.0.0/0')", types.BoolType)
	if err != nil {
		t.Fatal(err)
	}
	ctx := getCtx(r, v)
	defer putCtx(ctx)
	if out, err := prog.eval(context.Background(), ctx); out != types.True {
		t.Fatalf("unknown address: %v %v", out, err)
	}
}

func TestIsStaticResource(t *testing.T) {
	for path, want := range map[string]bool{
		"/app.js": true, "/a/b/style.CSS": true, "/favicon.ico": true, "/fonts/x.woff2": true, "/app.js.map": true,
		"/.well-known/security.txt": true, "/robots.txt": true,
		"/": false, "/products/42": false, "/api/v1.2/users": false, "/file.": false, "/x.verylongextension": false,
		"/report.json": false, "/index.html": false, "": false,
	} {
		if got := isStaticResource(path); got != want {
			t.Errorf("isStaticResource(%q) = %v", path, got)
		}
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"example.com": "example.com", "Example.COM:8080": "example.com", "example.com.": "example.com",
		"[2001:db8::1]:443": "2001:db8::1", "[::1]": "::1", "2001:db8::1": "2001:db8::1", "": "", "[": "[",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseCookies(t *testing.T) {
	got := parseCookies(` a=1; b="two" ;=x; c; a=3;d=`)
	want := map[string]string{"a": "1", "b": "two", "d": ""}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("cookie %s = %q, want %q", k, got[k], v)
		}
	}
}
