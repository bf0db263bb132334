package wasmfilter

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfigDefaults(t *testing.T) {
	f := newFixture(t)
	c, err := ParseConfig(f.config(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	if c.CookieName != want.CookieName || c.ScoreThreshold != 30 || c.Revalidate.Duration != time.Minute ||
		c.IPv4Prefix != 24 || c.IPv6Prefix != 64 || c.SkipHeader != "x-botwarden-skip-authz" ||
		c.Headers != want.Headers || c.FailMode != FailOpen || c.BlockStatus != 403 {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestParseConfigErrorsNameTheField(t *testing.T) {
	f := newFixture(t)
	key := []map[string]any{{"id": 7, "secret": f.Key.String()}}
	for _, tc := range []struct {
		name   string
		json   string
		fields map[string]any
		want   string
	}{
		{name: "empty", json: " ", want: "empty"},
		{name: "not JSON", json: "cookie_name: x", want: "not valid JSON"},
		{name: "trailing data", json: `{"keys":[]} {}`, want: "after the JSON object"},
		{name: "unknown field", fields: map[string]any{"cookie": "__bw"}, want: `unknown field "cookie"`},
		{name: "wrong type", fields: map[string]any{"score_threshold": "high"}, want: "score_threshold"},
		{name: "no keys", json: `{"active_key": 1}`, want: "keys: at least one key"},
		{name: "key not base64", fields: map[string]any{"keys": []map[string]any{{"id": 7, "secret": "%%%"}}}, want: "keys: key 7: not base64"},
		{name: "key too short", fields: map[string]any{"keys": []map[string]any{{"id": 7, "secret": "c2hvcnQ="}}}, want: "keys: key 7: 5 bytes"},
		{name: "active key missing", fields: map[string]any{"keys": key, "active_key": 9}, want: "keys: token: active key 9"},
		{name: "duplicate key id", fields: map[string]any{"keys": []map[string]any{key[0], key[0]}}, want: "duplicate key id 7"},
		{name: "cookie name", fields: map[string]any{"cookie_name": "a b"}, want: "cookie_name"},
		{name: "threshold low", fields: map[string]any{"score_threshold": 0}, want: "score_threshold"},
		{name: "threshold high", fields: map[string]any{"score_threshold": 100}, want: "score_threshold"},
		{name: "revalidate zero", fields: map[string]any{"revalidate": "0s"}, want: "revalidate"},
		{name: "revalidate not a duration", fields: map[string]any{"revalidate": "soon"}, want: "revalidate"},
		{name: "revalidate a number", fields: map[string]any{"revalidate": 300}, want: "revalidate"},
		{name: "revalidate too long", fields: map[string]any{"revalidate": "25h"}, want: "revalidate"},
		{name: "v4 bits", fields: map[string]any{"ipv4_prefix": 33}, want: "ipv4_prefix"},
		{name: "v6 bits", fields: map[string]any{"ipv6_prefix": -1}, want: "ipv6_prefix"},
		{name: "skip header upper case", fields: map[string]any{"skip_header": "X-Skip"}, want: "skip_header"},
		{name: "skip header empty", fields: map[string]any{"skip_header": ""}, want: "skip_header"},
		{name: "score header with space", fields: map[string]any{"headers": map[string]any{"score": "x score", "category": "c", "js_detection": "j"}}, want: "headers.score"},
		{name: "JA4 header reused", fields: map[string]any{"skip_header": HeaderJA4}, want: "set by Envoy"},
		{name: "fail mode", fields: map[string]any{"fail_mode": "ajar"}, want: "fail_mode"},
		{name: "block status", fields: map[string]any{"block_status": 99}, want: "block_status"},
		{name: "log level", fields: map[string]any{"log_level": "loud"}, want: "log_level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.json)
			if tc.json == "" {
				b = f.config(t, tc.fields)
			}
			_, err := ParseConfig(b)
			if err == nil {
				t.Fatalf("accepted %s", b)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestConfigCollectsEveryError(t *testing.T) {
	f := newFixture(t)
	_, err := ParseConfig(f.config(t, map[string]any{"score_threshold": 0, "fail_mode": "x", "ipv4_prefix": 40}))
	for _, field := range []string{"score_threshold", "fail_mode", "ipv4_prefix"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error %v does not name %s", err, field)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	b, err := Duration{Duration: 90 * time.Second}.MarshalJSON()
	if err != nil || string(b) != `"1m30s"` {
		t.Fatalf("%s %v", b, err)
	}
	var d Duration
	if err := d.UnmarshalJSON(b); err != nil || d.err != nil || d.Duration != 90*time.Second {
		t.Fatalf("%v %v %v", d, err, d.err)
	}
}

// FuzzParseConfig: any input gives a configuration or an error, never a
// panic, and an accepted configuration builds a ring.
func FuzzParseConfig(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.config(f, nil))
	f.Add(fx.config(f, map[string]any{"revalidate": "1h", "fail_mode": "closed"}))
	f.Add([]byte(`{"keys":[{"id":1,"secret":""}],"active_key":1}`))
	f.Add([]byte(`{"headers":{"score":""}}`))
	f.Add([]byte(`[]`))
	f.Add(fx.config(f, map[string]any{"js_detection": map[string]any{"enabled": true, "hosts": []string{"*.shop.example", "shop.example:8443"},
		"exclude_hosts": []string{"api.shop.example"}, "paths": []string{"/"}, "exclude_paths": []string{"/api/"}, "strip_accept_encoding": false}}))
	f.Add([]byte(`{"js_detection":{"hosts":["[::1]:0","*.","a:b:c","[",""],"paths":["x","/?"]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		if _, err := c.Ring(); err != nil {
			t.Fatalf("accepted configuration without a ring: %v", err)
		}
		j := c.JSDetection
		if len(compileHosts(j.Hosts)) != len(j.Hosts) || len(compileHosts(j.ExcludeHosts)) != len(j.ExcludeHosts) {
			t.Fatalf("accepted host entries that do not compile: %q %q", j.Hosts, j.ExcludeHosts)
		}
	})
}

// FuzzHostPattern: any entry parses or is refused, any :authority matches
// or not, without a panic; an accepted entry without a wildcard matches
// itself, and a wildcard one matches a subdomain.
func FuzzHostPattern(f *testing.F) {
	for _, s := range [][2]string{{"shop.example", "shop.example:443"}, {"*.shop.example:8443", "a.shop.example:8443"},
		{"[2001:db8::1]", "[2001:db8::1]:1"}, {"[::1", "["}, {"a:b:c", "[]:"}, {"*.", "."}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, authority string) {
		hp, err := parseHostPattern(pattern)
		hostMatches(authority, []hostPattern{hp})
		if err != nil {
			return
		}
		self := pattern
		if hp.wildcard {
			self = "x" + pattern[1:]
		}
		if !hostMatches(self, []hostPattern{hp}) {
			t.Fatalf("%q does not match %q", pattern, self)
		}
	})
}

func TestHostPatternMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern   string
		authority string
		want      bool
	}{
		{"shop.example", "shop.example", true},
		{"shop.example", "SHOP.Example", true},
		{"Shop.EXAMPLE", "shop.example", true},
		{"shop.example", "shop.example:8443", true}, // no port in the pattern: any port
		{"shop.example", "shop.example.", true},     // a fully qualified authority
		{"shop.example", "www.shop.example", false},
		{"shop.example", "shop.example.org", false},
		{"shop.example", "evilshop.example", false},
		{"shop.example:8443", "shop.example:8443", true},
		{"shop.example:8443", "shop.example", false},
		{"shop.example:8443", "shop.example:443", false},
		{"*.shop.example", "www.shop.example", true},
		{"*.shop.example", "a.b.shop.example:8080", true},
		{"*.shop.example", "WWW.SHOP.EXAMPLE", true},
		{"*.shop.example", "shop.example", false}, // the apex is its own entry
		{"*.shop.example", "evilshop.example", false},
		{"*.shop.example", ".shop.example", false},
		{"*.shop.example:443", "www.shop.example:443", true},
		{"*.shop.example:443", "www.shop.example", false},
		{"192.0.2.10", "192.0.2.10:8080", true},
		{"[2001:db8::1]", "[2001:db8::1]:443", true},
		{"[2001:db8::1]", "[2001:DB8:0::1]", true}, // compared in canonical form
		{"[2001:db8::1]:443", "[2001:db8::1]", false},
		{"shop.example", "", false},
		{"shop.example", "shop.example:", false},    // not an authority
		{"shop.example", "shop.example:1:2", false}, // not an authority
		{"[2001:db8::1]", "[2001:db8::1", false},
	} {
		hp, err := parseHostPattern(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if got := hostMatches(tc.authority, []hostPattern{hp}); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.pattern, tc.authority, got, tc.want)
		}
	}
}

func TestJSDetectionListsValidate(t *testing.T) {
	f := newFixture(t)
	many := make([]string, maxListEntries+1)
	for i := range many {
		many[i] = "/p"
	}
	jsd := func(k string, v any) map[string]any { return map[string]any{"js_detection": map[string]any{k: v}} }
	for _, tc := range []struct {
		name   string
		fields map[string]any
		want   string // "" = accepted
	}{
		{"hosts of every form", jsd("hosts", []string{"shop.example", "Shop.Example:8443", "*.shop.example", "*.shop.example:443", "192.0.2.1", "[2001:db8::1]:443", "under_score.example"}), ""},
		{"paths", jsd("paths", []string{"/", "/shop/", "/p%20q"}), ""},
		{"256 entries", jsd("exclude_paths", many[:maxListEntries]), ""},
		{"empty host", jsd("hosts", []string{"shop.example", "a.example", ""}), "js_detection.hosts[2]: empty host"},
		{"bare wildcard", jsd("hosts", []string{"*"}), "js_detection.hosts[0]:"},
		{"wildcard inside", jsd("exclude_hosts", []string{"ok.example", "a.*.example"}), `js_detection.exclude_hosts[1]: "a.*.example": a wildcard is`},
		{"wildcard without dot", jsd("hosts", []string{"*shop.example"}), "js_detection.hosts[0]:"},
		{"wildcard over an address", jsd("hosts", []string{"*.[2001:db8::1]"}), "js_detection.hosts[0]:"},
		{"port zero", jsd("hosts", []string{"shop.example:0"}), "js_detection.hosts[0]: \"shop.example:0\": port"},
		{"port too big", jsd("hosts", []string{"shop.example:65536"}), "port"},
		{"port not a number", jsd("hosts", []string{"shop.example:https"}), "port"},
		{"empty port", jsd("hosts", []string{"shop.example:"}), "js_detection.hosts[0]:"},
		{"a URL", jsd("hosts", []string{"https://shop.example"}), "js_detection.hosts[0]:"},
		{"a path", jsd("hosts", []string{"shop.example/p"}), "is not a host name"},
		{"trailing dot", jsd("hosts", []string{"shop.example."}), "is not a host name"},
		{"space", jsd("hosts", []string{"shop example"}), "is not a host name"},
		{"unbracketed IPv6", jsd("hosts", []string{"2001:db8::1"}), "more than one colon"},
		{"bad IPv6", jsd("hosts", []string{"[2001:db8::g]"}), "bracketed IPv6"},
		{"IPv4 in brackets", jsd("hosts", []string{"[192.0.2.1]"}), "bracketed IPv6"},
		{"long label", jsd("hosts", []string{strings.Repeat("a", 64) + ".example"}), "is not a host name"},
		{"too many hosts", jsd("exclude_hosts", append(many, "x")), "js_detection.exclude_hosts: 258 entries, at most 256"},
		{"too many paths", jsd("paths", many), "js_detection.paths: 257 entries"},
		{"relative path", jsd("paths", []string{"/ok", "shop"}), `js_detection.paths[1]: "shop" does not start with /`},
		{"path with query", jsd("paths", []string{"/p?x=1"}), "js_detection.paths[0]:"},
		{"path with space", jsd("exclude_paths", []string{"/a b"}), "js_detection.exclude_paths[0]:"},
		{"path with newline", jsd("exclude_paths", []string{"/a", "/b\n"}), "js_detection.exclude_paths[1]:"},
		{"marker reused", map[string]any{"skip_header": HeaderJSExpected}, "skip_header"},
		{"strip_accept_encoding a string", jsd("strip_accept_encoding", "yes"), "strip_accept_encoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(f.config(t, tc.fields))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatal("accepted")
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestStripAcceptEncodingDefault(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		fields map[string]any
		want   bool
	}{
		{nil, true},
		{map[string]any{"js_detection": map[string]any{"enabled": true}}, true},
		{map[string]any{"js_detection": map[string]any{"strip_accept_encoding": false}}, false},
	} {
		c, err := ParseConfig(f.config(t, tc.fields))
		if err != nil {
			t.Fatal(err)
		}
		if c.JSDetection.StripAcceptEncoding != tc.want {
			t.Errorf("%v: strip_accept_encoding %v, want %v", tc.fields, c.JSDetection.StripAcceptEncoding, tc.want)
		}
	}
}
