package detect

import (
	"context"
	"net/http"
)

// Engine adds evidence to a verdict. Engines run in a fixed, configured order
// on the hot path, so they must not block on the network: anything slow
// (DNS, shared stores) happens in the background or behind a timeout with a
// local fallback. An error means the engine could not judge this request; the
// pipeline counts it and goes on with the next engine.
type Engine interface {
	Name() string
	Evaluate(ctx context.Context, r *Request, v *Verdict) error
}

// Decider turns evidence into an action: it sets v.Action, v.RuleID, v.Mode,
// v.EnforcedAction and, for rate limits, v.RetryAfter. The policy package
// implements it.
type Decider interface {
	Decide(ctx context.Context, r *Request, v *Verdict)
}

// Finisher runs after the decision, e.g. to issue a session cookie.
type Finisher interface {
	Finish(ctx context.Context, r *Request, v *Verdict)
}

// Response is what a denied client receives.
type Response struct {
	Status  int
	Headers http.Header
	Body    []byte
}

// Responder renders the reply for an enforced denial (block page, 429,
// challenge page). The transport copies it into its own wire type.
type Responder interface {
	Respond(r *Request, v *Verdict) Response
}

// EngineFunc adapts a function to Engine, for tests and small engines.
type EngineFunc struct {
	EngineName string
	Fn         func(ctx context.Context, r *Request, v *Verdict) error
}

func (f EngineFunc) Name() string { return f.EngineName }
func (f EngineFunc) Evaluate(ctx context.Context, r *Request, v *Verdict) error {
	return f.Fn(ctx, r, v)
}
