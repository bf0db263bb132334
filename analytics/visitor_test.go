package analytics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect/ratelimit"
)

func TestVisitorFeedbackIsBoundAndLimited(t *testing.T) {
	s, _ := testService(t)
	rec := newTraffic(4).batch(1, now0.Add(-time.Minute), now0, 0)[0]
	rec.EnforcedAction, rec.ClientIP = "block", "192.0.2.7"
	allowed := rec
	allowed.Ref, allowed.EnforcedAction = "00000000000000aa", "allow"
	if err := s.Store.Append(context.Background(), []Record{rec, allowed}); err != nil {
		t.Fatal(err)
	}
	lim, err := ratelimit.NewLocal(ratelimit.DefaultConfig(), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	from := "192.0.2.7"
	h := s.VisitorHandler(func(*http.Request) netip.Addr { return netip.MustParseAddr(from) }, lim)
	post := func(ray, msg string) int {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/f", strings.NewReader(url.Values{"ray": {ray}, "message": {msg}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		h.ServeHTTP(w, r)
		if strings.Contains(w.Body.String(), "<script") {
			t.Fatalf("reply echoes markup: %s", w.Body)
		}
		return w.Code
	}
	if c := post(rec.Ref, "<script>x</script>"); c != 200 {
		t.Fatalf("real reference: %d", c)
	}
	if c := post(allowed.Ref, "hi"); c != 404 {
		t.Fatalf("reference of an allowed request: %d", c)
	}
	from = "198.51.100.1"
	if c := post(rec.Ref, "hi"); c != 404 {
		t.Fatalf("someone else's reference: %d", c)
	}
	for range 3 {
		post("not-a-ray", "")
	}
	if c := post(rec.Ref, "again"); c != 429 {
		t.Fatalf("after the burst: %d, want 429", c)
	}
}
