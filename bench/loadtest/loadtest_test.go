package loadtest

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/extauthz"
)

// libraryBlocker blocks the HTTP-library user agents of the mix.
func libraryBlocker() (*detect.Pipeline, error) {
	eng := detect.EngineFunc{EngineName: "ua", Fn: func(_ context.Context, r *detect.Request, v *detect.Verdict) error {
		ua := r.UserAgent()
		if strings.HasPrefix(ua, "curl/") || strings.HasPrefix(ua, "python-requests/") {
			v.Automated(detect.SourceHeuristics, 1, "http-library")
		}
		return nil
	}}
	dec := deciderFunc(func(v *detect.Verdict) {
		v.Action = detect.ActionAllow
		if v.Score == detect.ScoreAutomated {
			v.Action = detect.ActionBlock
		}
		v.EnforcedAction = v.Action
	})
	return &detect.Pipeline{Engines: []detect.Engine{eng}, Decider: dec}, nil
}

type deciderFunc func(*detect.Verdict)

func (f deciderFunc) Decide(_ context.Context, _ *detect.Request, v *detect.Verdict) { f(v) }

func TestRunShort(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Concurrency, cfg.Conns, cfg.Phase, cfg.Rounds, cfg.Warmup = 4, 1, 150*time.Millisecond, 1, 0
	cfg.NewPipeline = libraryBlocker
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Result{rep.Baseline, rep.Botwarden} {
		if r.Requests == 0 || r.Errors != 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Throughput() <= 0 {
			t.Fatalf("%s: %+v", r.Name, r)
		}
	}
	if rep.Baseline.Denied != 0 || rep.Botwarden.Denied == 0 || rep.Botwarden.Allowed == 0 {
		t.Fatalf("baseline denied %d, botwarden allowed %d denied %d", rep.Baseline.Denied, rep.Botwarden.Allowed, rep.Botwarden.Denied)
	}
	var out bytes.Buffer
	rep.Write(&out)
	if !strings.Contains(out.String(), "botwarden / do-nothing: throughput") {
		t.Fatalf("report:\n%s", out.String())
	}
}

// wary allows everything until it has seen after requests, then blocks
// everything: a pipeline whose answers change under sustained load.
func wary(after int64) func() (*detect.Pipeline, error) {
	return func() (*detect.Pipeline, error) {
		var seen atomic.Int64
		eng := detect.EngineFunc{EngineName: "wary", Fn: func(_ context.Context, _ *detect.Request, v *detect.Verdict) error {
			if seen.Add(1) > after {
				v.Automated(detect.SourceBehavioral, 1, "sustained")
			}
			return nil
		}}
		dec := deciderFunc(func(v *detect.Verdict) {
			v.Action = detect.ActionAllow
			if v.Score == detect.ScoreAutomated {
				v.Action = detect.ActionBlock
			}
			v.EnforcedAction = v.Action
		})
		return &detect.Pipeline{Engines: []detect.Engine{eng}, Decider: dec}, nil
	}
}

// TestRunCannedSteady: the canned server replays the answers botwarden gave
// before the load, or with CannedSteady those it gives after the warm-up.
func TestRunCannedSteady(t *testing.T) {
	for _, tt := range []struct {
		name         string
		steady       bool
		cannedDenies bool
	}{
		{"recorded before the load", false, false},
		{"recorded after the warm-up", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Concurrency, cfg.Conns, cfg.Phase, cfg.Rounds, cfg.Warmup = 4, 1, 100*time.Millisecond, 1, 300*time.Millisecond
			cfg.NewPipeline = wary(600) // past the ~380 checks before the warm-up (first visits, recording, verifying)
			cfg.CannedSteady = tt.steady
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Botwarden.Denied == 0 {
				t.Fatalf("botwarden denied nothing: %+v", rep.Botwarden)
			}
			if got := rep.Canned.Denied > 0; got != tt.cannedDenies {
				t.Fatalf("canned denied %d of %d, want denials: %v", rep.Canned.Denied, rep.Canned.Requests, tt.cannedDenies)
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := DefaultConfig()
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("missing pipeline constructor must fail")
	}
	cfg.NewPipeline = libraryBlocker
	cfg.Concurrency = 0
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("zero concurrency must fail")
	}
}

func TestTrafficMix(t *testing.T) {
	reqs := Traffic()
	if len(reqs) != 100 {
		t.Fatalf("%d requests", len(reqs))
	}
	browsers, bots := 0, 0
	for _, req := range reqs {
		r := extauthz.FromCheckRequest(req, extauthz.DefaultConfig())
		if r.UserAgent() == "" || r.Method != "GET" || r.Host != "shop.example" || !r.ClientIP.IsValid() {
			t.Fatalf("bad request %+v", r)
		}
		if strings.HasPrefix(r.UserAgent(), "Mozilla/5.0 (") && r.Headers.Has("accept-language") {
			browsers++
		} else {
			bots++
		}
	}
	if browsers < 60 || bots < 20 {
		t.Fatalf("mix: %d browsers, %d others", browsers, bots)
	}
}

func TestPercentile(t *testing.T) {
	lat := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for q, want := range map[float64]time.Duration{0.5: 5, 0.99: 10, 0.1: 1, 0: 1, 1: 10} {
		if got := percentile(lat, q); got != want {
			t.Errorf("p%v = %v, want %v", q, got, want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("empty")
	}
}

// TestAnswerDecode checks the status-only reader against protobuf-go on
// real answers, and that cut-off answers are errors, not panics.
func TestAnswerDecode(t *testing.T) {
	p, err := libraryBlocker()
	if err != nil {
		t.Fatal(err)
	}
	bw, err := extauthz.New(p, DefaultConfig().Options)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[answer]bool{}
	for _, req := range Traffic() {
		resp, err := bw.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		wire, err := proto.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		var got answer
		if err := got.decode(wire); err != nil {
			t.Fatal(err)
		}
		want := fromResponse(resp)
		want.wireLength = len(wire)
		if got != want {
			t.Fatalf("decoded %+v, want %+v", got, want)
		}
		seen[answer{code: want.code, ok: want.ok, denied: want.denied}] = true
		for cut := range len(wire) {
			var a answer
			_ = a.decode(wire[:cut]) // must not panic; a cut may land on a field boundary
		}
	}
	if len(seen) < 2 {
		t.Fatalf("the traffic produced only %v; want allows and denials", seen)
	}
	var a answer
	if err := a.decode([]byte{0x0a, 0x05, 0x08}); err == nil {
		t.Fatal("a status longer than the answer decoded")
	}
}

// TestReturning: clients that keep cookies come back with botwarden's
// session cookie and then get no new one; others and every tenth
// cookie-keeping request stay first visits.
func TestReturning(t *testing.T) {
	p, err := libraryBlocker()
	if err != nil {
		t.Fatal(err)
	}
	p.Finishers = append(p.Finishers, cookieIssuer{})
	bw, err := extauthz.New(p, DefaultConfig().Options)
	if err != nil {
		t.Fatal(err)
	}
	visits := Mix()
	reqs, err := Returning(context.Background(), bw, visits, 10)
	if err != nil {
		t.Fatal(err)
	}
	returning, keeping := 0, 0
	for i, v := range visits {
		req := reqs[i]
		cookie := req.GetAttributes().GetRequest().GetHttp().GetHeaders()["cookie"]
		has := strings.Contains(cookie, "__bw=v1.")
		if has {
			returning++
			if strings.Contains(v.Request.GetAttributes().GetRequest().GetHttp().GetHeaders()["cookie"], "__bw=") {
				t.Fatal("Returning changed the visit it was given")
			}
		}
		if v.KeepsCookies {
			keeping++
		} else if has {
			t.Fatalf("request %d: a client that keeps no cookies sends one: %q", i, cookie)
		}
		resp, err := bw.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if issued := len(setCookies(resp)) > 0; issued == has {
			t.Fatalf("request %d: carries the session cookie %v, issued a new one %v", i, has, issued)
		}
	}
	if want := keeping - keeping/10; returning != want {
		t.Fatalf("%d returning requests, want %d of %d cookie-keeping ones", returning, want, keeping)
	}
}

// cookieIssuer gives every request without a __bw cookie a new one.
type cookieIssuer struct{}

func (cookieIssuer) Finish(_ context.Context, r *detect.Request, v *detect.Verdict) {
	if !strings.Contains(r.Headers["cookie"], "__bw=") {
		v.SetCookies = append(v.SetCookies, "__bw=v1."+r.ID+"; Path=/; HttpOnly")
	}
}

// TestFresh: every send of a request is the same request with its own
// x-request-id, and decodes with protobuf-go.
func TestFresh(t *testing.T) {
	req := Traffic()[0]
	f, err := NewFresh(req)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 3 {
		var got authv3.CheckRequest
		if err := proto.Unmarshal(f.Next(), &got); err != nil {
			t.Fatal(err)
		}
		h := got.GetAttributes().GetRequest().GetHttp().GetHeaders()
		id := h["x-request-id"]
		if !strings.HasPrefix(id, req.GetAttributes().GetRequest().GetHttp().GetHeaders()["x-request-id"]+"-") || seen[id] {
			t.Fatalf("x-request-id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
		h["x-request-id"] = req.GetAttributes().GetRequest().GetHttp().GetHeaders()["x-request-id"]
		if !proto.Equal(&got, req) {
			t.Fatalf("request changed beyond its id:\n%v\n%v", &got, req)
		}
	}
	if _, err := NewFresh(&authv3.CheckRequest{}); err == nil {
		t.Fatal("a request without headers was accepted")
	}
}
