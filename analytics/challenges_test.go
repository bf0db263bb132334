package analytics

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/botwarden/botwarden/detect/challenge"
)

func TestChallengeOutcomes(t *testing.T) {
	s, srv := testService(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.In.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Two challenge pages issued (the decisions), and the answers the
	// handler judged: one human pass, one no-JS pass on another host, one
	// automation caught, two rejected (one a replay).
	recs := newTraffic(3).batch(2, now0.Add(-20*time.Minute), now0.Add(-10*time.Minute), 0)
	for i := range recs {
		recs[i].EnforcedAction, recs[i].Host = "managed_challenge", "shop.example"
	}
	if err := s.Store.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.8")
	at := now0.Add(-5 * time.Minute)
	for _, a := range []challenge.Answer{
		{Kind: "page", Result: "passed", Host: "shop.example", Age: 900 * time.Millisecond},
		{Kind: "nojs", Result: "nojs_passed", Host: "blog.example", Age: 6 * time.Second},
		{Kind: "page", Result: "failed", Host: "shop.example", Age: 400 * time.Millisecond},
		{Kind: "page", Result: "replayed", Host: "shop.example"},
		{Kind: "jsd", Result: "malformed", Host: "shop.example"},
	} {
		a.Time, a.ClientIP = at, ip
		s.In.RecordChallenge(a)
	}
	var got ChallengeAnswer
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = ChallengeAnswer{}
		getJSON(t, srv.URL+"/api/v1/challenges?since=1h", &got)
		if got.Solved+got.Failed+got.Rejected == 5 || time.Now().After(deadline) {
			break
		}
	}
	if got.Issued != 2 || got.Solved != 2 || got.Failed != 1 || got.Rejected != 2 || len(got.Results) != 5 {
		t.Fatalf("challenges: %+v", got)
	}
	// The median of the two passing answers' times (900 ms, 6 s).
	if got.MedianSolveMs != 3450 {
		t.Errorf("median time to pass %v ms, want 3450", got.MedianSolveMs)
	}
	var sum int64
	for _, p := range got.Series {
		sum += p.Count
	}
	if sum != 5 {
		t.Errorf("series counts %d answers, want 5: %+v", sum, got.Series)
	}

	var one ChallengeAnswer
	getJSON(t, srv.URL+"/api/v1/challenges?since=1h&host=shop.example", &one)
	if one.Issued != 2 || one.Solved != 1 || one.Failed != 1 || one.Rejected != 2 {
		t.Fatalf("challenges on shop.example: %+v", one)
	}
	var e apiError
	if code := getJSON(t, srv.URL+"/api/v1/challenges?since=1h&step=1s", &e); code != 400 {
		t.Fatalf("step=1s: %d %q", code, e.Error)
	}

	// Retention drops old answers with the rest of the detail.
	if err := s.Store.Maintain(context.Background(), now0.Add(31*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Store.Challenges(context.Background(), now0.Add(-time.Hour), now0, "", time.Hour)
	if err != nil || len(cs.Results) != 0 {
		t.Fatalf("after retention: %+v %v", cs, err)
	}
}
