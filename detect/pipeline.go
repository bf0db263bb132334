package detect

import (
	"context"
	"fmt"
	"time"
)

// DefaultBudget is the per-check deadline: well below Envoy's default
// ext_authz timeout (200 ms), so botwarden answers before Envoy gives up.
const DefaultBudget = 20 * time.Millisecond

// Pipeline runs engines in order, then the decider, then the finishers.
type Pipeline struct {
	Engines   []Engine
	Decider   Decider    // nil: allow everything (monitor-only deployments)
	Finishers []Finisher // run on real and fallback verdicts alike
	// Budget bounds one check; once it is spent Check returns Fallback.
	// Zero means DefaultBudget; negative disables the budget (tools, replay).
	Budget time.Duration
	// Fallback is the action of the safe verdict returned when the budget
	// runs out (default allow: fail open, like failure_mode_allow).
	Fallback Action
	// OnError, if set, is told about every engine error (for logs/metrics).
	OnError func(engine string, err error)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Check evaluates r and returns its verdict. It never fails: engine errors
// and panics are counted in the verdict, and a spent budget yields the
// fallback verdict with Deadline set.
//
// The stages run inline on the caller's goroutine and the budget is checked
// between them. Engines never block on the network (DESIGN.md §4: slow work
// happens in the background or behind its own short timeout), so the checks
// between stages bound the answer; a per-check goroutine and timer would
// cost more CPU than the engines they would guard.
// The context handed to engines carries the caller's deadline (Envoy's
// grpc-timeout) for engines that do consult a shared store.
func (p *Pipeline) Check(ctx context.Context, r *Request) *Verdict {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	budget := p.Budget
	if budget == 0 {
		budget = DefaultBudget
	}
	var deadline time.Time
	if budget > 0 {
		deadline = now().Add(budget)
	}
	spent := func() bool { return !deadline.IsZero() && now().After(deadline) || ctx.Err() != nil }

	v := &Verdict{}
	for _, e := range p.Engines {
		if spent() {
			return p.fallback(ctx, r)
		}
		if err := guard(e.Name(), func() error { return e.Evaluate(ctx, r, v) }); err != nil {
			v.Errors++
			if p.OnError != nil {
				p.OnError(e.Name(), err)
			}
		}
	}
	v.Finalize()
	if p.Decider != nil {
		if spent() {
			return p.fallback(ctx, r)
		}
		if err := guard("decider", func() error { p.Decider.Decide(ctx, r, v); return nil }); err != nil {
			// A broken policy must not take the request with it: answer
			// with the safe verdict, as for a spent budget.
			if p.OnError != nil {
				p.OnError("decider", err)
			}
			fb := p.safeVerdict("error", "internal-error")
			fb.Errors = v.Errors + 1
			return fb
		}
	}
	if v.Action == "" {
		v.Action = ActionAllow
	}
	if v.EnforcedAction == "" {
		v.EnforcedAction = v.Action
	}
	p.finish(ctx, r, v)
	if spent() {
		return p.fallback(ctx, r)
	}
	return v
}

// guard runs one stage, turning a panic into an error: a bug in one engine
// must cost that engine's evidence, not the request or the process.
func guard(name string, fn func() error) (err error) {
	defer func() {
		if x := recover(); x != nil {
			err = fmt.Errorf("%s panicked: %v", name, x)
		}
	}()
	if err := fn(); err != nil {
		return fmt.Errorf("engine %s: %w", name, err)
	}
	return nil
}

func (p *Pipeline) finish(ctx context.Context, r *Request, v *Verdict) {
	for i, f := range p.Finishers {
		if err := guard(fmt.Sprintf("finisher %d", i), func() error { f.Finish(ctx, r, v); return nil }); err != nil {
			v.Errors++
			if p.OnError != nil {
				p.OnError("finisher", err)
			}
		}
	}
}

// fallback is the safe verdict for a spent budget.
func (p *Pipeline) fallback(ctx context.Context, r *Request) *Verdict {
	v := p.safeVerdict("deadline", "deadline")
	v.Deadline = true
	return v
}

// safeVerdict answers with the configured fallback action when the pipeline
// could not judge the request; rule and tag say why.
func (p *Pipeline) safeVerdict(rule, tag string) *Verdict {
	a := p.Fallback
	if a == "" {
		a = ActionAllow
	}
	v := &Verdict{Source: SourceNotComputed, Action: a, EnforcedAction: a, RuleID: rule}
	v.AddTags(tag)
	return v
}
