package policy

import (
	"context"
	"fmt"

	"cel.dev/cel-go/common/types"

	"github.com/botwarden/botwarden/detect"
)

// Condition is one boolean expression over the policy's fields (bot.*,
// http.*, ip.*, route.*), compiled by the policy's own compiler, for the
// places outside a policy file that select requests the way a rule does
// (an export job's filter): one language, one environment, the same cost
// limit and literal checks.
type Condition struct {
	expr string
	prog *program
}

// CompileCondition compiles expr; the error is CEL's message (the caller
// names the field it came from).
func CompileCondition(expr string) (*Condition, error) {
	if expr == "" {
		return nil, fmt.Errorf("empty expression")
	}
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	c := compiler{env: env}
	prog, err := c.program(expr, types.BoolType)
	if err != nil {
		return nil, err
	}
	return &Condition{expr: expr, prog: prog}, nil
}

// String is the expression.
func (c *Condition) String() string { return c.expr }

// Match evaluates the condition on a request and its verdict. An evaluation
// error (a cost limit, a missing map key) is returned with false.
func (c *Condition) Match(ctx context.Context, r *detect.Request, v *detect.Verdict) (bool, error) {
	ec := getCtx(r, v)
	defer putCtx(ec)
	out, err := c.prog.eval(ctx, ec)
	if err != nil {
		return false, err
	}
	return out == types.True, nil
}
