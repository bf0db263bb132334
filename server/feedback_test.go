package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/botwarden/botwarden/config"
	"github.com/botwarden/botwarden/detect/ml"
)

// TestFeedbackReachesTheNextCheck files reports on the admin API and sends
// real Checks over gRPC: a false negative about a network puts its clients
// in the likely-automated band (challenged by the default policy), a false
// positive about one address of it exempts that address from the
// challenge, and the rest of the network stays challenged.
func TestFeedbackReachesTheNextCheck(t *testing.T) {
	srv, _ := startServer(t, func(c *config.Config) {
		c.ExtAuthz.ClientIP.UseXFF = true
		c.ExtAuthz.ClientIP.XFFNumTrustedHops = 0
	})
	client := authClient(t, srv)
	base := "http://" + srv.AdminAddr().String()
	check := func(ip string) (codes.Code, string, float64) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, checkRequest(ip, chromeHeaders(), nil))
		if err != nil {
			t.Fatal(err)
		}
		md := resp.GetDynamicMetadata().GetFields()
		return codes.Code(resp.GetStatus().GetCode()), md["BotRuleID"].GetStringValue(), md["BotScore"].GetNumberValue()
	}
	report := func(body string) map[string]any {
		t.Helper()
		resp, err := http.Post(base+"/api/v1/feedback", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("report %s: %d %v", body, resp.StatusCode, m)
		}
		return m
	}

	if code, rule, _ := check("192.0.2.50"); code != codes.OK {
		t.Fatalf("a browser before any report: %v (rule %s)", code, rule)
	}
	report(`{"kind":"false_negative","key":"net:192.0.2.0/24","score":12,"abuse":"scraping","description":"scraper farm"}`)
	for _, ip := range []string{"192.0.2.50", "192.0.2.51"} {
		if code, rule, score := check(ip); code == codes.OK || score != 12 || rule != "bot_fight.likely_automated" {
			t.Fatalf("%s after the false negative: %v rule %q score %v, want a challenge at 12", ip, code, rule, score)
		}
	}
	fp := report(`{"kind":"false_positive","key":"ip:192.0.2.50","ttl":"1h","description":"our office"}`)
	if fp["applied"] == nil {
		t.Fatalf("false positive applied nothing: %v", fp)
	}
	if code, rule, _ := check("192.0.2.50"); code != codes.OK || rule != "feedback_exemption" {
		t.Fatalf("exempt address: %v rule %q, want allowed by feedback_exemption", code, rule)
	}
	if code, _, _ := check("192.0.2.51"); code == codes.OK {
		t.Fatal("the exemption of one address let its network through")
	}

	// Requests of reported clients are kept as labelled training data:
	// bot for the false negative's network, human for an exempt address
	// elsewhere; none where the two reports disagree (192.0.2.50).
	report(`{"kind":"false_positive","key":"ip:198.51.100.9","description":"a customer"}`)
	if code, _, _ := check("198.51.100.9"); code != codes.OK {
		t.Fatal("exempt customer denied")
	}
	var examples []ml.Example
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		tr, err := http.Get(base + "/api/v1/training?since=1h")
		if err != nil {
			t.Fatal(err)
		}
		examples, err = ml.ReadExamples(tr.Body)
		tr.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(examples) >= 4 || time.Now().After(deadline) {
			break
		}
	}
	labels := map[string]int{}
	for _, e := range examples {
		labels[e.Label]++
		if e.Headers["user-agent"] != chromeUA || e.Method != "GET" || e.Path != "/product/1" {
			t.Errorf("training example lost the request: %+v", e)
		}
	}
	if labels[ml.LabelBot] != 3 || labels[ml.LabelHuman] != 1 {
		t.Fatalf("training labels %v, want 3 bot (192.0.2.50 once, 192.0.2.51 twice) and 1 human", labels)
	}

	resp, err := http.Get(base + "/api/v1/feedback?live=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Feedback []map[string]any }
	json.NewDecoder(resp.Body).Decode(&list)
	if len(list.Feedback) != 3 {
		t.Fatalf("live feedback: %v", list.Feedback)
	}
}
