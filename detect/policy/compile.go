package policy

import (
	"context"
	"crypto/sha256"
	"embed"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/botwarden/botwarden/detect"
)

// Context-extension keys read from the Envoy route (check_settings.
// context_extensions): the mode for that route, and the route's name for
// rules (route.name).
const (
	ContextKeyMode  = "botwarden_mode"
	ContextKeyRoute = "route"
)

// DefaultRuleID is the rule id of a verdict no rule decided.
const DefaultRuleID = "default"

// ExemptRuleID is the rule id of a challenge an operator's feedback
// exemption set aside (reputation.TagExempt): the request was allowed.
const ExemptRuleID = "feedback_exemption"

// CostLimit bounds the work one rule may do on one request, in CEL cost
// units (about one per operation, more for string scans). A few thousand
// covers any sensible rule; an expression that exceeds it at run time (say
// nested comprehensions over every header) fails that request's evaluation
// of the rule, which is then skipped and counted, instead of running long.
const CostLimit = 100_000

// maxRules bounds a policy's own rules: each one is evaluated on every
// request that reaches it.
const maxRules = 1000

// interruptEvery is how many comprehension iterations pass between checks
// of the Decide context's deadline.
const interruptEvery = 64

// Policy is a compiled, immutable policy: safe to share between goroutines
// and swapped whole on reload.
type Policy struct {
	source  string
	sum     [sha256.Size]byte
	mode    detect.Mode
	exact   map[string]detect.Mode // host → mode
	suffix  map[string]detect.Mode // "example.com" for the pattern "*.example.com"
	rules   []*rule                // enabled rules in evaluation order
	all     []*rule                // every rule, disabled ones too
	presets []string
}

type rule struct {
	id, description, preset string
	expression              string
	action                  detect.Action
	enabled                 bool
	prog                    *program
	logTag                  string
	limit                   *rateLimit
	difficulty              int
}

// RuleInfo describes a compiled rule (for check-config and the dashboard).
type RuleInfo struct {
	ID          string
	Description string
	Expression  string
	Action      detect.Action
	Enabled     bool
	Preset      string // the preset it came from, "" for the file's own rules
	RateLimit   string // e.g. "ip 10/1m0s burst 20", "" without one
}

// Source is the file (or "embedded:default") the policy came from.
func (p *Policy) Source() string { return p.source }

// Mode is the default mode.
func (p *Policy) Mode() detect.Mode { return p.mode }

// Presets lists the presets included, in evaluation order.
func (p *Policy) Presets() []string { return slices.Clone(p.presets) }

// Rules lists every rule in evaluation order.
func (p *Policy) Rules() []RuleInfo {
	out := make([]RuleInfo, 0, len(p.all))
	for _, r := range p.all {
		ri := RuleInfo{ID: r.id, Description: r.description, Expression: r.expression, Action: r.action, Enabled: r.enabled, Preset: r.preset}
		if r.limit != nil {
			ri.RateLimit = r.limit.key + " " + r.limit.limit.String()
		}
		out = append(out, ri)
	}
	return out
}

//go:embed default.yaml presets/*.yaml
var embedded embed.FS

// DefaultSource names the embedded default policy.
const DefaultSource = "embedded:default"

// Default returns the embedded default policy: mitigate mode with the
// bot_fight preset.
func Default() (*Policy, error) {
	data, err := embedded.ReadFile("default.yaml")
	if err != nil {
		return nil, fmt.Errorf("policy: embedded default: %w", err)
	}
	return Compile(data, DefaultSource)
}

// LoadFile reads and compiles the policy file at path.
func LoadFile(path string) (*Policy, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Compile(data, path)
}

// Validate reports whether the policy file at path loads, with every
// problem found (for `botwarden check-config`).
func Validate(path string) error {
	_, err := LoadFile(path)
	return err
}

// Compile parses and compiles a policy. source names it in errors. Every
// problem is reported in one *LoadError: YAML errors with their line,
// unknown fields, bad modes, hosts, actions, and each rule whose expression
// does not compile, named by id with CEL's message.
func Compile(data []byte, source string) (*Policy, error) {
	var spec fileSpec
	if probs := decodeStrict(data, &spec); len(probs) > 0 {
		return nil, &LoadError{Source: source, Problems: probs}
	}
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	c := compiler{env: env}
	p := &Policy{source: source, sum: sha256.Sum256(data), exact: map[string]detect.Mode{}, suffix: map[string]detect.Mode{}}

	if spec.Version != 0 && spec.Version != 1 {
		c.problem(Problem{Field: "version", Msg: fmt.Sprintf("unsupported version %d (this build reads 1)", spec.Version)})
	}
	p.mode = detect.ModeMitigate
	if spec.Mode != "" {
		p.mode = detect.Mode(spec.Mode)
		if !p.mode.Valid() {
			c.problem(Problem{Field: "mode", Msg: fmt.Sprintf("%q is not one of monitor, inject, mitigate", spec.Mode)})
		}
	}
	c.hosts(p, spec.Hosts)

	if len(spec.Rules) > maxRules {
		c.problem(Problem{Field: "rules", Msg: fmt.Sprintf("%d rules, more than the %d allowed (every rule costs every request; put lists in one rule: ip.in_cidr(ip.src, [...]), x in [...])", len(spec.Rules), maxRules)})
		spec.Rules = spec.Rules[:maxRules]
	}
	ids := map[string]bool{}
	for i := range spec.Rules {
		if r := c.rule(&spec.Rules[i], "", ids); r != nil {
			p.all = append(p.all, r)
		}
	}
	presets, probs := selectPresets(spec.Presets)
	c.probs = append(c.probs, probs...)
	for _, ps := range presets {
		p.presets = append(p.presets, ps.name)
		for i := range ps.spec.Rules {
			// Copy: the preset's spec is shared by every compilation.
			rs := ps.spec.Rules[i]
			if r := c.rule(&rs, ps.name, ids); r != nil {
				p.all = append(p.all, r)
			}
		}
	}
	if len(c.probs) > 0 {
		return nil, &LoadError{Source: source, Problems: c.probs}
	}
	for _, r := range p.all {
		if r.enabled {
			p.rules = append(p.rules, r)
		}
	}
	return p, nil
}

type compiler struct {
	env   *cel.Env
	probs []Problem
}

func (c *compiler) problem(p Problem) { c.probs = append(c.probs, p) }

var hostRE = regexp.MustCompile(`^(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$`)

func (c *compiler) hosts(p *Policy, hosts map[string]string) {
	names := make([]string, 0, len(hosts))
	for h := range hosts {
		names = append(names, h)
	}
	sort.Strings(names) // stable error order
	for _, h := range names {
		m := detect.Mode(hosts[h])
		field := "hosts." + h
		if !m.Valid() {
			c.problem(Problem{Field: field, Msg: fmt.Sprintf("%q is not one of monitor, inject, mitigate", hosts[h])})
			continue
		}
		key := strings.TrimSuffix(strings.ToLower(h), ".")
		if a, err := netip.ParseAddr(strings.Trim(key, "[]")); err == nil {
			p.exact[a.String()] = m
			continue
		}
		if !hostRE.MatchString(key) {
			c.problem(Problem{Field: field, Msg: "not a host name or *.suffix pattern (no port, scheme or path)"})
			continue
		}
		if rest, ok := strings.CutPrefix(key, "*."); ok {
			p.suffix[rest] = m
		} else {
			p.exact[key] = m
		}
	}
}

var ruleIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

// rule compiles one rule spec; nil when it has problems (recorded).
func (c *compiler) rule(rs *ruleSpec, preset string, ids map[string]bool) *rule {
	id := rs.ID
	if preset != "" {
		id = preset + "." + rs.ID
	}
	before := len(c.probs)
	bad := func(field, format string, args ...any) {
		c.problem(Problem{Line: rs.line, Rule: id, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case rs.ID == "":
		bad("id", "required")
		id = fmt.Sprintf("#%d", rs.line)
	case !ruleIDRE.MatchString(rs.ID):
		bad("id", "must be 1–64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit")
	case id == DefaultRuleID:
		bad("id", "%q is reserved for requests no rule matched", DefaultRuleID)
	case id == ExemptRuleID:
		bad("id", "%q is reserved for challenges a feedback exemption set aside", ExemptRuleID)
	case ids[id]:
		bad("id", "duplicate rule id")
	}
	ids[id] = true

	r := &rule{id: id, description: rs.Description, preset: preset, expression: rs.Expression,
		action: detect.Action(rs.Action), enabled: rs.Enabled == nil || *rs.Enabled, logTag: "rule:" + id}
	if !r.action.Valid() {
		bad("action", "%q is not one of %s", rs.Action, actionList())
	}
	if rs.Expression == "" {
		bad("expression", "required (use 'true' to match every request)")
	} else if prog, err := c.program(rs.Expression, types.BoolType); err != nil {
		bad("expression", "%v", err)
	} else {
		r.prog = prog
	}
	if rs.RateLimit != nil {
		r.limit = c.rateLimit(rs.RateLimit, id, bad)
		if r.action == detect.ActionAllow || r.action == detect.ActionSkip {
			bad("rate_limit", "a rate limit selects requests over the limit; it cannot allow or skip them")
		}
	} else if r.action == detect.ActionRateLimit {
		bad("rate_limit", "required for action rate_limit")
	}
	if rs.Challenge != nil {
		if r.action != detect.ActionManagedChallenge && r.action != detect.ActionJSChallenge {
			bad("challenge", "only for managed_challenge and js_challenge")
		}
		if d := rs.Challenge.Difficulty; d < 0 || d > maxDifficulty {
			bad("challenge.difficulty", "must be in [0, %d] leading zero bits (0: the challenge's default), got %d", maxDifficulty, d)
		}
		r.difficulty = rs.Challenge.Difficulty
	}
	if len(c.probs) > before {
		return nil
	}
	return r
}

// maxDifficulty caps proof-of-work difficulty: each bit doubles the work a
// browser does, and past ~24 bits phones take minutes.
const maxDifficulty = 32

func actionList() string {
	s := make([]string, len(detect.Actions))
	for i, a := range detect.Actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// program compiles expr, checks it returns want, validates literal CIDRs and
// addresses, and plans it with constant folding, precompiled regular
// expressions and the cost limit.
func (c *compiler) program(expr string, want *types.Type) (*program, error) {
	ast, iss := c.env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if got := ast.OutputType(); !got.IsExactType(want) {
		return nil, fmt.Errorf("must return %s, returns %s", want, got)
	}
	if err := checkLiterals(ast.NativeRep()); err != nil {
		return nil, err
	}
	// Rules whose worst case (inputs at their size bounds) fits the cost
	// limit run without a cost tracker, which costs an allocation or two per
	// evaluation; the others are tracked and stopped at the limit.
	// Comprehensions also check the Decide context's deadline as they loop.
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	est, err := c.env.EstimateCost(ast, sizeBounds{})
	tracked := err != nil || est.Max > CostLimit
	if tracked {
		opts = append(opts, cel.CostLimit(CostLimit))
	}
	loops := hasComprehension(ast.NativeRep())
	if loops {
		opts = append(opts, cel.InterruptCheckFrequency(interruptEvery))
	}
	prog, err := c.env.Program(ast, opts...)
	if err != nil {
		return nil, err
	}
	return &program{prog: prog, tracked: tracked, loops: loops, maxCost: est.Max}, nil
}

// program is a compiled expression and how it must be run.
type program struct {
	prog    cel.Program
	tracked bool   // runs with the cost limit
	loops   bool   // has comprehensions: evaluated under the context
	maxCost uint64 // static worst-case cost estimate
}

// eval runs the program over c.
func (p *program) eval(ctx context.Context, c *evalCtx) (ref.Val, error) {
	var out ref.Val
	var err error
	if p.loops {
		out, _, err = p.prog.ContextEval(ctx, c)
	} else {
		out, _, err = p.prog.Eval(c)
	}
	return out, err
}

// Size bounds of the inputs for the static cost estimate: Envoy's default
// request header limits (60 KiB, 100 headers) round up to these.
const (
	maxInputString     = 64 << 10
	maxInputCollection = 128
)

// sizeBounds tells the cost estimator how large botwarden's inputs can be.
type sizeBounds struct{}

func (sizeBounds) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if len(n.Path()) == 0 {
		return nil
	}
	switch n.Type().Kind() {
	case types.StringKind:
		return &cost.SizeEstimate{Min: 0, Max: maxInputString}
	case types.ListKind, types.MapKind:
		return &cost.SizeEstimate{Min: 0, Max: maxInputCollection}
	}
	return nil
}

func (sizeBounds) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

func hasComprehension(a *celast.AST) bool {
	return len(celast.MatchDescendants(celast.NavigateAST(a), celast.KindMatcher(celast.ComprehensionKind))) > 0
}

// checkLiterals rejects literal CIDRs and addresses that can never parse,
// at load time rather than as a run-time error on every request.
func checkLiterals(a *celast.AST) error {
	var errs []string
	visit := func(e celast.Expr) {
		if e.Kind() != celast.CallKind {
			return
		}
		call := e.AsCall()
		for i, arg := range call.Args() {
			for _, lit := range stringLiterals(arg) {
				var err error
				switch {
				case call.FunctionName() == inCIDRFunc && i == 1, call.FunctionName() == "cidr":
					_, err = netip.ParsePrefix(lit)
				case call.FunctionName() == "ip" && !call.IsMemberFunction():
					_, err = netip.ParseAddr(lit)
				default:
					continue
				}
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s(%q): %v", call.FunctionName(), lit, err))
				}
			}
		}
	}
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(visit))
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// stringLiterals returns e's value if it is a string literal, or the string
// literals of a list literal.
func stringLiterals(e celast.Expr) []string {
	switch e.Kind() {
	case celast.LiteralKind:
		if s, ok := e.AsLiteral().(types.String); ok {
			return []string{string(s)}
		}
	case celast.ListKind:
		var out []string
		for _, el := range e.AsList().Elements() {
			if el.Kind() == celast.LiteralKind {
				if s, ok := el.AsLiteral().(types.String); ok {
					out = append(out, string(s))
				}
			}
		}
		return out
	}
	return nil
}

// readFile reads at most maxFileSize+1 bytes of path (Compile rejects the
// oversized rest), so a wrong path to a huge file cannot exhaust memory.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return data, nil
}

// celEnv is built once: every policy compiles in the same environment.
var celEnv = sync.OnceValues(newEnv)
