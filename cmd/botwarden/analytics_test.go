package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/analytics"
)

func TestAnalyticsCommand(t *testing.T) {
	cfg := analytics.DefaultConfig()
	svc, err := analytics.Open(cfg, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	now := time.Now()
	var recs []analytics.Record
	for i, ua := range []string{"curl/8.5.0", "curl/8.5.0", "Mozilla/5.0", "curl/8.5.0"} {
		score := 1
		if ua == "Mozilla/5.0" {
			score = 80
		}
		recs = append(recs, analytics.Record{Time: now.Add(-time.Duration(i) * time.Minute), Ref: analytics.Ref(ua + string(rune('a'+i))),
			SampleInterval: 1, BotScore: score, UserAgent: ua, Host: "shop.example.com"})
	}
	if err := svc.Store.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()

	tests := []struct {
		args []string
		want []string
		code int
	}{
		{[]string{"analytics", "top", "--by", "user_agent", "--since", "1h", "--score-below", "30", "--admin", srv.URL}, []string{`3      "curl/8.5.0"`}, 0},
		{[]string{"analytics", "events", "--since", "1h", "--filter", "user_agent=Mozilla/5.0", "--admin", srv.URL}, []string{"RAYID", `"Mozilla/5.0"`}, 0},
		{[]string{"analytics", "top", "--by", "colour", "--admin", srv.URL}, []string{"by: unknown attribute"}, 1},
		{[]string{"analytics", "top", "--since", "forever", "--admin", srv.URL}, []string{"since:"}, 1},
		{[]string{"analytics", "frobnicate", "--admin", srv.URL}, []string{"unknown subcommand"}, 1},
		{[]string{"analytics", "report", "--kind", "false_negative", "--abuse", "scraping", "--description", "curl scraper",
			"--since", "1h", "--filter", "user_agent=curl/8.5.0", "--admin", srv.URL}, []string{`"requests":3`, `"abuse":"scraping"`, `"origin":"operator"`}, 0},
		{[]string{"analytics", "report", "--admin", srv.URL}, []string{"-kind is required"}, 1},
		{[]string{"analytics", "report", "--kind", "false_positive", "--ttl", "forever", "--admin", srv.URL}, []string{"ttl:"}, 1},
		{[]string{"analytics", "feedback", "--admin", srv.URL}, []string{"curl scraper"}, 0},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(tt.args, &out, &errb)
		got := out.String() + errb.String()
		if code != tt.code {
			t.Errorf("%v: exit %d, want %d\n%s", tt.args, code, tt.code, got)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, got)
			}
		}
		if strings.Contains(got, "Mozilla") && tt.args[1] == "top" {
			t.Errorf("%v: score filter not applied:\n%s", tt.args, got)
		}
	}
}
