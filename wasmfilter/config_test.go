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
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		if _, err := c.Ring(); err != nil {
			t.Fatalf("accepted configuration without a ring: %v", err)
		}
	})
}
