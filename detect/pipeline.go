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
	// Budget bounds one check; past it Check returns Fallback. Zero means
	// DefaultBudget; negative disables the budget (tools, replay).
	Budget time.Duration
	// Fallback is the action of the safe verdict returned when the budget
	// runs out (default allow: fail open, like failure_mode_allow).
	Fallback Action
	// OnError, if set, is told about every engine error (for logs/metrics).
	OnError func(engine string, err error)
}

// Check evaluates r and returns its verdict. It never fails: engine errors
// are counted in the verdict and a blown budget yields the fallback verdict
// with Deadline set.
func (p *Pipeline) Check(ctx context.Context, r *Request) *Verdict {
	budget := p.Budget
	if budget == 0 {
		budget = DefaultBudget
	}
	if budget < 0 {
		return p.run(ctx, r)
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	// Run on another goroutine so a stuck engine cannot hold the answer past
	// the budget; the late verdict is discarded.
	done := make(chan *Verdict, 1)
	go func() { done <- p.run(ctx, r) }()
	select {
	case v := <-done:
		return v
	case <-ctx.Done():
		return p.fallback(r)
	}
}

func (p *Pipeline) run(ctx context.Context, r *Request) (v *Verdict) {
	v = &Verdict{}
	for _, e := range p.Engines {
		if ctx.Err() != nil {
			break
		}
		if err := p.evaluate(ctx, e, r, v); err != nil {
			v.Errors++
			if p.OnError != nil {
				p.OnError(e.Name(), err)
			}
		}
	}
	v.Finalize()
	if p.Decider != nil {
		p.Decider.Decide(ctx, r, v)
	}
	if v.Action == "" {
		v.Action = ActionAllow
	}
	if v.EnforcedAction == "" {
		v.EnforcedAction = v.Action
	}
	for _, f := range p.Finishers {
		f.Finish(ctx, r, v)
	}
	return v
}

// evaluate calls one engine, turning a panic into an error: a bug in one
// engine must cost that engine's evidence, not the request.
func (p *Pipeline) evaluate(ctx context.Context, e Engine, r *Request, v *Verdict) (err error) {
	defer func() {
		if x := recover(); x != nil {
			err = fmt.Errorf("engine %s panicked: %v", e.Name(), x)
		}
	}()
	if err := e.Evaluate(ctx, r, v); err != nil {
		return fmt.Errorf("engine %s: %w", e.Name(), err)
	}
	return nil
}

func (p *Pipeline) fallback(r *Request) *Verdict {
	a := p.Fallback
	if a == "" {
		a = ActionAllow
	}
	v := &Verdict{Source: SourceNotComputed, Action: a, EnforcedAction: a, RuleID: "deadline", Deadline: true}
	v.AddTags("deadline")
	return v
}
