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
	Engines []Engine
	Decider Decider // nil: allow everything (monitor-only deployments)
	// Finishers run on judged verdicts, not on safe ones: a safe verdict
	// knows nothing about the client (no session), so a finisher acting on
	// it would undo what the client proved.
	Finishers []Finisher
	// Budget bounds one check; once it is spent Check returns Fallback.
	// Zero means DefaultBudget; negative disables the budget (tools, replay).
	Budget time.Duration
	// Fallback is the action of every safe verdict: a spent budget, a
	// broken policy, a request that could not be judged (default allow:
	// fail open, like Envoy's failure_mode_allow; block fails closed).
	Fallback Action
	// OnError, if set, is told about every engine error (for logs/metrics).
	OnError func(engine string, err error)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Check evaluates r and returns its verdict. It never fails and never
// panics: engine errors and panics are counted in the verdict, a spent
// budget yields the fallback verdict with Deadline set, and anything else
// that breaks (a broken policy, a nil engine, a nil request) yields the
// safe verdict. Every safe verdict comes from here, so Fallback decides
// them all. Engines may only read r: what they find goes on the verdict.
//
// The stages run inline on the caller's goroutine and the budget is checked
// between them. Engines never block on the network (slow work happens in
// the background or behind its own short timeout), so the checks between
// stages bound the answer; a goroutine and a timer per check would cost
// more CPU than the engines themselves. The context handed
// to engines carries the caller's deadline (Envoy's grpc-timeout) for
// engines that do consult a shared store.
func (p *Pipeline) Check(ctx context.Context, r *Request) (verdict *Verdict) {
	defer func() {
		if x := recover(); x != nil {
			// Outside any one stage (a nil engine, a panicking Name):
			// the request still gets the configured answer.
			_ = guard("OnError", func() error { p.report("pipeline", fmt.Errorf("pipeline panicked: %v", x)); return nil })
			verdict = p.SafeVerdict("error", "internal-error")
			verdict.Errors = 1
		}
	}()
	if r == nil {
		return p.SafeVerdict("error", "nil-request")
	}
	budget := p.Budget
	if budget == 0 {
		budget = DefaultBudget
	}
	// The budget is checked on elapsed monotonic time: time.Since reads
	// only the monotonic clock, where comparing against a deadline with
	// time.Now would read the wall clock too, at every stage.
	var start time.Time
	if budget > 0 {
		start = p.now()
	}
	spent := func() bool { return budget > 0 && p.since(start) > budget || ctx.Err() != nil }

	v := &Verdict{}
	for _, e := range p.Engines {
		if spent() {
			return p.fallback(ctx, r)
		}
		if err := guard(e.Name(), func() error { return e.Evaluate(ctx, r, v) }); err != nil {
			v.Errors++
			p.report(e.Name(), err)
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
			p.report("decider", err)
			fb := p.SafeVerdict("error", "internal-error")
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

// now and since read the pipeline's clock.
func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pipeline) since(t time.Time) time.Duration {
	if p.Now != nil {
		return p.Now().Sub(t)
	}
	return time.Since(t)
}

func (p *Pipeline) finish(ctx context.Context, r *Request, v *Verdict) {
	for i, f := range p.Finishers {
		// The stage is named only when it fails: formatting the name
		// up front would cost every request an allocation.
		if err := guard("Finish", func() error { f.Finish(ctx, r, v); return nil }); err != nil {
			v.Errors++
			p.report("finisher", fmt.Errorf("finisher %d: %w", i, err))
		}
	}
}

// report tells OnError about a failed stage.
func (p *Pipeline) report(stage string, err error) {
	if p.OnError != nil {
		p.OnError(stage, err)
	}
}

// fallback is the safe verdict for a spent budget.
func (p *Pipeline) fallback(ctx context.Context, r *Request) *Verdict {
	v := p.SafeVerdict("deadline", "deadline")
	v.Deadline = true
	return v
}

// SafeVerdict is the answer when a request cannot be judged: nothing
// computed, the configured Fallback action, and rule and tag saying why.
// Check returns it itself; a transport uses it only for what never reaches
// Check (a request it could not even build).
func (p *Pipeline) SafeVerdict(rule, tag string) *Verdict {
	a := p.Fallback
	if a == "" {
		a = ActionAllow
	}
	v := &Verdict{Source: SourceNotComputed, Action: a, EnforcedAction: a, RuleID: rule}
	v.AddTags(tag)
	return v
}
