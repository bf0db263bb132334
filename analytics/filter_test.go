package analytics

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

var now0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		q       string
		check   func(Filter) bool
		wantErr string // substring: the field the error must name
	}{
		{"", func(f Filter) bool { return f.To.Equal(now0) && f.From.Equal(now0.Add(-time.Hour)) }, ""},
		{"since=30m", func(f Filter) bool { return f.From.Equal(now0.Add(-30 * time.Minute)) }, ""},
		{"since=7d", func(f Filter) bool { return f.From.Equal(now0.Add(-7 * 24 * time.Hour)) }, ""},
		{"from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z", func(f Filter) bool { return f.To.Sub(f.From) == 24*time.Hour }, ""},
		{"score_below=30", func(f Filter) bool { return f.ScoreMin == 1 && f.ScoreMax == 29 }, ""},
		{"score=2-29", func(f Filter) bool { return f.ScoreMin == 2 && f.ScoreMax == 29 }, ""},
		{"score=1", func(f Filter) bool { return f.ScoreMin == 1 && f.ScoreMax == 1 }, ""},
		{"user_agent=curl%2F8&user_agent=a%2Cb", func(f Filter) bool { return len(f.Match[DimUserAgent]) == 2 && f.Match[DimUserAgent][1] == "a,b" }, ""},
		{"prefix=192.0.2.0/24&asn=64500&tag=headless", func(f Filter) bool { return len(f.Match) == 3 }, ""},
		{"since=0s", nil, "since"},
		{"since=40d", nil, "since"},
		{"since=1h&from=2026-12-01T00:00:00Z", nil, "since"},
		{"from=yesterday", nil, "from"},
		{"to=2026-11-01T00:00:00Z&from=2026-12-01T00:00:00Z", nil, "from"},
		{"score=100", nil, "score"},
		{"score=50-10", nil, "score"},
		{"score=1&score=2", nil, "score"},
		{"score_below=1", nil, "score_below"},
		{"colour=red", nil, "colour"},
		{"asn=AS64500", nil, "asn"},
		{"ip=999.1.1.1", nil, "ip"},
		{"prefix=192.0.2.1/24", nil, "prefix"},
		{"host=" + strings.Repeat("a", 2000), nil, "host"},
		{strings.Repeat("tag=x&", 70), nil, "filter"},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			q, err := url.ParseQuery(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			f, err := ParseFilter(q, now0)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one starting with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(f) {
				t.Fatalf("filter %+v err %v", f, err)
			}
			// Values round-trips.
			g, err := ParseFilter(f.Values(), now0)
			if err != nil || !g.From.Equal(f.From) || !g.To.Equal(f.To) || g.ScoreMin != f.ScoreMin || len(g.Match) != len(f.Match) {
				t.Fatalf("round trip %+v -> %+v (%v)", f, g, err)
			}
		})
	}
}

// FuzzParseFilter: any query string is a filter or an error, never a
// panic, and a filter's SQL and CEL render.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "since=1h&score_below=30", "user_agent=%3Cimg%20src%3Dx%3E", "prefix=2001:db8::/64&asn=1",
		"from=1700000000&to=1700003600", "score=1-29&tag=a&tag=b&path_prefix=/api", "detection_id=33554433"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := ParseFilter(q, now0)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if !flt.From.Before(flt.To) {
			t.Fatalf("range %v..%v", flt.From, flt.To)
		}
		where(flt, false)
		flt.Expression()
	})
}

// TestExpressionSelectsWhatTheFilterSelects compiles each filter's
// expression with the policy compiler, replays the stored records through it
// and checks it matches exactly the records the filter counts.
func TestExpressionSelectsWhatTheFilterSelects(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "")
	tr := newTraffic(5)
	if err := s.Append(ctx, tr.batch(3000, now0.Add(-50*time.Minute), now0, 0)); err != nil {
		t.Fatal(err)
	}
	rec := tr.batch(1, now0, now0, 0)[0]
	for _, q := range []string{
		"score_below=30",
		"score=30-60&host=shop.example.com",
		"user_agent=curl/8.5.0&user_agent=" + url.QueryEscape(tr.uas[0]),
		"tag=http-library&country=DE",
		"detection_id=33554433",
		"path_prefix=/products/1",
		"prefix=" + rec.ClientNet,
		"asn=1200&ja4=" + rec.JA4,
		"category=likely_human&source=machine_learning",
	} {
		t.Run(q, func(t *testing.T) {
			vals, _ := url.ParseQuery(q)
			f, err := ParseFilter(vals, now0)
			if err != nil {
				t.Fatal(err)
			}
			h, err := s.Histogram(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			expr, skipped := f.Expression()
			if len(skipped) > 0 {
				t.Fatalf("not expressible: %v", skipped)
			}
			all := f
			all.ScoreMin, all.ScoreMax, all.PathPrefix, all.Match = 0, 0, "", nil
			res, err := RunDraft(ctx, s, all, Draft{Expression: expr, Action: "block"})
			if err != nil {
				t.Fatalf("%s: %v", expr, err)
			}
			if res.Scanned != 3000 || res.Matched != sum(h) {
				t.Fatalf("%s: matched %d of %d, filter counts %d", expr, res.Matched, res.Scanned, sum(h))
			}
		})
	}
}

func TestDraftErrorsNameTheField(t *testing.T) {
	s := openTest(t, "")
	for _, d := range []Draft{{Expression: ""}, {Expression: "bot.score <"}, {Expression: "true", Action: "explode"}, {Expression: "true", Action: "rate_limit"}} {
		_, err := RunDraft(context.Background(), s, Filter{From: now0.Add(-time.Hour), To: now0}, d)
		if err == nil || !(strings.HasPrefix(err.Error(), "expression") || strings.HasPrefix(err.Error(), "action")) {
			t.Errorf("%+v: err %v", d, err)
		}
	}
}
