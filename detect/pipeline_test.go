package detect

import (
	"context"
	"errors"
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
	release := make(chan struct{})
	defer close(release)
	slow := EngineFunc{"slow", func(ctx context.Context, r *Request, v *Verdict) error {
		<-release
		return nil
	}}
	p := &Pipeline{Engines: []Engine{slow}, Budget: 5 * time.Millisecond, Fallback: ActionAllow}
	v := p.Check(context.Background(), &Request{})
	if !v.Deadline || v.EnforcedAction != ActionAllow || !v.HasTag("deadline") {
		t.Fatalf("want deadline fallback, got %+v", v)
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
