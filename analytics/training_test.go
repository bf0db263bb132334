package analytics

import (
	"net/netip"
	"testing"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/detect/reputation"
)

func TestTrainingLabelAndCopy(t *testing.T) {
	exempt := detect.Reputation{Found: true, Exempt: true, Key: "feedback:ip:192.0.2.1", Tags: []string{reputation.TagExempt}}
	fn := detect.Reputation{Found: true, Key: "feedback:net:192.0.2.0/24", Tags: []string{reputation.TagFalseNegative, "scraping"}}
	both := detect.Reputation{Found: true, Exempt: true, Key: "feedback:net:192.0.2.0/24", Tags: []string{reputation.TagFalseNegative, reputation.TagExempt}}
	analysis := detect.Reputation{Found: true, Key: "ip:192.0.2.1", Score: 3, Tags: []string{"crawl"}}
	for _, tt := range []struct {
		name string
		rep  detect.Reputation
		want string
	}{
		{"no verdict", detect.Reputation{}, ""},
		{"the analysis's verdict only", analysis, ""},
		{"exemption", exempt, ml.LabelHuman},
		{"false negative", fn, ml.LabelBot},
		{"reports disagree", both, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := trainingLabel(&detect.Verdict{Reputation: tt.rep}); got != tt.want {
				t.Fatalf("label %q, want %q", got, tt.want)
			}
		})
	}

	r := &detect.Request{ClientIP: netip.MustParseAddr("192.0.2.1"), Method: "GET", Scheme: "https", Host: "shop.example", Path: "/p",
		Protocol: "HTTP/2", HeaderOrder: []string{"user-agent", "cookie"}, Headers: detect.Headers{
			"user-agent": "Mozilla/5.0", "cookie": "sid=secret", "authorization": "Bearer t", detect.HeaderJA4: "t13d", "x-bot-score": "99",
		}}
	v := &detect.Verdict{Reputation: exempt, IP: detect.IPInfo{Datacenter: true}}
	v.AddTags("cloud-amazon", "vpn-ip")
	rec := trainingRecord(r, v, ml.LabelHuman)
	e := rec.Example
	if e.Headers["cookie"] != "redacted" || e.Headers["authorization"] != "redacted" || e.Headers["user-agent"] != "Mozilla/5.0" {
		t.Errorf("headers %v: credentials must be redacted, the rest kept", e.Headers)
	}
	if _, ok := e.Headers[detect.HeaderJA4]; ok {
		t.Errorf("headers %v: the proxy's own headers are not the client's", e.Headers)
	}
	if _, ok := e.Headers["x-bot-score"]; ok {
		t.Errorf("headers %v: botwarden's headers are not the client's", e.Headers)
	}
	if !e.Datacenter || !e.Cloud || !e.VPN || e.Label != ml.LabelHuman || rec.Key != exempt.Key {
		t.Errorf("example %+v", e)
	}
	r.Headers["user-agent"] = "changed"
	if e.Headers["user-agent"] != "Mozilla/5.0" {
		t.Error("the example shares the request's header map")
	}
}
