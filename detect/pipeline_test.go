package detect

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPipelineCombinesAndRecovers(t *testing.T) {
	tests := []struct {
		name      string
		engines   []Engine
		wantScore int
		wantSrc   Source
		wantErrs  int
	}{
		{"nothing computed", nil, 0, SourceNotComputed, 0},
		{"ml only", []Engine{propose(42, SourceML)}, 42, SourceML, 0},
		{"heuristic wins over ml", []Engine{automated(SourceHeuristics), propose(80, SourceML)}, 1, SourceHeuristics, 0},
		{"ml then heuristic", []Engine{propose(80, SourceML), automated(SourceHeuristics)}, 1, SourceHeuristics, 0},
		{"error is counted", []Engine{failing(), propose(50, SourceML)}, 50, SourceML, 1},
		{"panic is contained", []Engine{panicking(), propose(50, SourceML)}, 50, SourceML, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Pipeline{Engines: tt.engines}
			v := p.Check(context.Background(), &Request{})
			if v.Score != tt.wantScore || v.Source != tt.wantSrc || v.Errors != tt.wantErrs {
				t.Fatalf("got score %d src %s errs %d", v.Score, v.Source, v.Errors)
			}
			if v.Action != ActionAllow || v.EnforcedAction != ActionAllow {
				t.Fatalf("default action: %s/%s", v.Action, v.EnforcedAction)
			}
		})
	}
}

func TestPipelineDeadlineFallsBack(t *testing.T) {
	// A fake clock: the slow engine advances it past the budget, so the
	// test does not depend on real time.
	clock := time.Unix(1000, 0)
	slow := EngineFunc{"slow", func(ctx context.Context, r *Request, v *Verdict) error {
		clock = clock.Add(time.Second)
		v.Propose(80, SourceML)
		return nil
	}}
	never := EngineFunc{"never", func(ctx context.Context, r *Request, v *Verdict) error {
		t.Error("engine after a spent budget must not run")
		return nil
	}}
	for _, fallback := range []Action{ActionAllow, ActionBlock} {
		p := &Pipeline{Engines: []Engine{slow, never}, Budget: 20 * time.Millisecond, Fallback: fallback, Now: func() time.Time { return clock }}
		v := p.Check(context.Background(), &Request{})
		if !v.Deadline || v.EnforcedAction != fallback || !v.HasTag("deadline") || v.Score != 0 {
			t.Fatalf("want %s deadline fallback, got %+v", fallback, v)
		}
	}
}

func TestPipelineCancelledContextFallsBack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v := (&Pipeline{Engines: []Engine{propose(50, SourceML)}}).Check(ctx, &Request{})
	if !v.Deadline {
		t.Fatalf("cancelled caller: want fallback, got %+v", v)
	}
}

type panicDecider struct{}

func (panicDecider) Decide(context.Context, *Request, *Verdict) { panic("policy bug") }

type panicFinisher struct{}

func (panicFinisher) Finish(context.Context, *Request, *Verdict) { panic("finisher bug") }

func TestPipelineContainsDeciderAndFinisherPanics(t *testing.T) {
	var errs []string
	p := &Pipeline{Decider: panicDecider{}, Fallback: ActionAllow, OnError: func(e string, err error) { errs = append(errs, e) }}
	v := p.Check(context.Background(), &Request{})
	if v.EnforcedAction != ActionAllow || v.RuleID != "error" || v.Errors != 1 || !v.HasTag("internal-error") || v.Deadline {
		t.Fatalf("decider panic: got %+v", v)
	}
	p = &Pipeline{Finishers: []Finisher{panicFinisher{}}, OnError: func(e string, err error) { errs = append(errs, e) }}
	v = p.Check(context.Background(), &Request{})
	if v.Errors != 1 || v.EnforcedAction != ActionAllow {
		t.Fatalf("finisher panic: got %+v", v)
	}
	if len(errs) != 2 {
		t.Fatalf("OnError calls: %v", errs)
	}
}

type namePanics struct{ Engine }

func (namePanics) Name() string { panic("no name") }

// TestPipelineSafeVerdictHonoursFallback: a break outside any one stage
// (a nil engine, a panicking Name, a nil request) is the pipeline's to
// answer, with the configured fallback action.
func TestPipelineSafeVerdictHonoursFallback(t *testing.T) {
	tests := []struct {
		name    string
		engines []Engine
		r       *Request
		tag     string
	}{
		{"nil engine", []Engine{propose(50, SourceML), nil}, &Request{}, "internal-error"},
		{"engine name panics", []Engine{namePanics{}}, &Request{}, "internal-error"},
		{"nil request", []Engine{propose(50, SourceML)}, nil, "nil-request"},
	}
	for _, tt := range tests {
		for _, fallback := range []Action{ActionAllow, ActionBlock} {
			t.Run(tt.name+"/"+string(fallback), func(t *testing.T) {
				var reported []string
				p := &Pipeline{Engines: tt.engines, Fallback: fallback, OnError: func(stage string, err error) { reported = append(reported, stage) }}
				v := p.Check(context.Background(), tt.r)
				if v.Action != fallback || v.EnforcedAction != fallback || v.RuleID != "error" || !v.HasTag(tt.tag) || v.Score != 0 || v.Deadline {
					t.Fatalf("got %+v, want the %s safe verdict tagged %s", v, fallback, tt.tag)
				}
				if tt.r != nil && (v.Errors != 1 || len(reported) != 1 || reported[0] != "pipeline") {
					t.Fatalf("errors %d, reported %v", v.Errors, reported)
				}
			})
		}
	}
	// A panicking OnError on top does not escape either.
	p := &Pipeline{Engines: []Engine{nil}, Fallback: ActionBlock, OnError: func(string, error) { panic("metrics bug") }}
	if v := p.Check(context.Background(), &Request{}); v.EnforcedAction != ActionBlock {
		t.Fatalf("got %+v", v)
	}
}

func TestVerdictTagsAndCategory(t *testing.T) {
	v := &Verdict{}
	v.AddTags("a", "b", "a", "")
	v.Automated(SourceHeuristics, 7, "b", "c")
	v.Automated(SourceML, 7)
	if len(v.Tags) != 3 || len(v.DetectionIDs) != 1 || v.Source != SourceHeuristics {
		t.Fatalf("got %+v", v)
	}
	v.MarkVerified("googlebot", "search_engine")
	if v.Category() != CategoryVerifiedBot || v.Score != 1 {
		t.Fatalf("verified: %+v", v)
	}
	for score, want := range map[int]Category{0: CategoryNotComputed, 1: CategoryAutomated, 29: CategoryLikelyAutomated, 30: CategoryLikelyHuman, 99: CategoryLikelyHuman} {
		if got := CategoryOf(score); got != want {
			t.Errorf("CategoryOf(%d) = %s, want %s", score, got, want)
		}
	}
}

func TestReservedAndCookie(t *testing.T) {
	for name, want := range map[string]bool{"x-bot-score": true, "x-botwarden-session": true, HeaderJA4: false, "x-botnet": false, "accept": false} {
		if Reserved(name) != want {
			t.Errorf("Reserved(%q) != %v", name, want)
		}
	}
	r := &Request{Headers: Headers{"cookie": `a=1; __bw="tok"; b=2`}}
	if r.Cookie("__bw") != "tok" || r.Cookie("c") != "" {
		t.Fatalf("cookie parse")
	}
}

func propose(s int, src Source) Engine {
	return EngineFunc{"p", func(ctx context.Context, r *Request, v *Verdict) error { v.Propose(s, src); return nil }}
}
func automated(src Source) Engine {
	return EngineFunc{"a", func(ctx context.Context, r *Request, v *Verdict) error { v.Automated(src, 1); return nil }}
}
func failing() Engine {
	return EngineFunc{"f", func(ctx context.Context, r *Request, v *Verdict) error { return errors.New("boom") }}
}
func panicking() Engine {
	return EngineFunc{"x", func(ctx context.Context, r *Request, v *Verdict) error { panic("bug") }}
}

// BenchmarkPipeline measures the pipeline's own overhead against calling the
// same engine directly (the do-nothing baseline in the same run).
func BenchmarkPipeline(b *testing.B) {
	e := propose(50, SourceML)
	r := &Request{}
	b.Run("baseline-direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v := &Verdict{}
			_ = e.Evaluate(context.Background(), r, v)
		}
	})
	b.Run("pipeline", func(b *testing.B) {
		p := &Pipeline{Engines: []Engine{e}}
		b.ReportAllocs()
		for b.Loop() {
			p.Check(context.Background(), r)
		}
	})
}

func TestCookiePairs(t *testing.T) {
	tests := []struct {
		header string
		want   string
	}{
		{"", ""},
		{`a=1; b="two" ;=x; c; a=3;d=`, `a=1 b=two =x a=3 d=`},
		{"  __bw=tok  ;x=y", "__bw=tok x=y"},
		{";;;", ""},
		{"k=v=w", "k=v=w"},
	}
	for _, tt := range tests {
		var got []string
		for k, v := range CookiePairs(tt.header) {
			got = append(got, k+"="+v)
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("CookiePairs(%q) = %q, want %q", tt.header, g, tt.want)
		}
	}
	r := &Request{Headers: Headers{"cookie": "a=1; a=2"}}
	if allocs := testing.AllocsPerRun(100, func() { r.Cookie("a") }); allocs != 0 {
		t.Errorf("Request.Cookie allocates %v times", allocs)
	}
}
