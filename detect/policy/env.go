package policy

import (
	"fmt"
	"net/netip"
	"reflect"
	"sort"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
)

// The CEL variables a rule can read. Each is a struct type served by the
// provider below, whose field getters read the request and verdict in place
// (see activation.go), so a rule touching bot.score costs one field read and
// no map is built per request.
var (
	botType        = types.NewObjectType("botwarden.Bot")
	jsType         = types.NewObjectType("botwarden.JSDetection")
	challengeType  = types.NewObjectType("botwarden.Challenge")
	reputationType = types.NewObjectType("botwarden.Reputation")
	httpType       = types.NewObjectType("botwarden.HTTP")
	ipType         = types.NewObjectType("botwarden.IP")
	routeType      = types.NewObjectType("botwarden.Route")

	stringList = types.NewListType(types.StringType)
	intList    = types.NewListType(types.IntType)
	stringMap  = types.NewMapType(types.StringType, types.StringType)
)

// field is one readable field of a struct type.
type field struct {
	name string
	typ  *types.Type
	get  func(c *evalCtx) ref.Val
	doc  string
}

// schema lists every field of every variable: the single source of the CEL
// declarations and of the table in README.md (TestReadmeListsEveryField).
var schema = map[*types.Type][]field{
	botType: {
		{"score", types.IntType, (*evalCtx).score, "1–99; 1 automated, 2–29 likely automated, 30–99 likely human, 0 not computed"},
		{"source", types.StringType, (*evalCtx).source, "engine that set the score: heuristics, machine_learning, verified_bot, …"},
		{"category", types.StringType, (*evalCtx).category, "automated, likely_automated, likely_human, verified_bot, not_computed"},
		{"verified", types.BoolType, (*evalCtx).verified, "a proven good bot (published ranges or forward-confirmed reverse DNS)"},
		{"verified_bot", types.StringType, (*evalCtx).verifiedBot, "operator-level name of the verified bot, e.g. googlebot"},
		{"verified_category", types.StringType, (*evalCtx).verifiedCategory, "search_engine, ai_crawler, monitoring, …"},
		{"tags", stringList, (*evalCtx).tags, "tags explaining the score, e.g. http-library, headless, spoofed-googlebot"},
		{"detection_ids", intList, (*evalCtx).detectionIDs, "static detection rules that matched"},
		{"ai", types.BoolType, (*evalCtx).ai, "the client is a known AI bot or agent"},
		{"ai_category", types.StringType, (*evalCtx).aiCategory, "ai_crawler (training), ai_search, ai_assistant (user-triggered)"},
		{"static_resource", types.BoolType, (*evalCtx).staticResource, "the path names a static file (extension list) or lies under /.well-known/"},
		{"ja4", types.StringType, (*evalCtx).ja4, "TLS JA4 fingerprint set by Envoy, \"\" without TLS"},
		{"js_detection", jsType, (*evalCtx).jsObj, "JavaScript detection result"},
		{"challenge", challengeType, (*evalCtx).challengeObj, "managed challenge result"},
		{"reputation", reputationType, (*evalCtx).reputationObj, "what the behavioural analysis published for this client"},
	},
	jsType: {
		{"checked", types.BoolType, (*evalCtx).jsChecked, "a JavaScript detection result is recorded for the session"},
		{"passed", types.BoolType, (*evalCtx).jsPassed, "the session passed JavaScript detection"},
	},
	challengeType: {
		{"passed", types.BoolType, (*evalCtx).challengePassed, "the session passed a managed challenge"},
		{"nojs", types.BoolType, (*evalCtx).challengeNoJS, "the pass came through the no-JavaScript path (lower trust)"},
	},
	reputationType: {
		{"found", types.BoolType, (*evalCtx).repFound, "the reputation store had a verdict for the session, IP or JA4"},
		{"score", types.IntType, (*evalCtx).repScore, "its score"},
		{"source", types.StringType, (*evalCtx).repSource, "its source, normally behavioral_analysis"},
		{"tags", stringList, (*evalCtx).repTags, "its tags, e.g. rate-anomaly"},
		{"exempt", types.BoolType, (*evalCtx).repExempt, "an operator's false-positive report exempts this client (its challenges are skipped)"},
	},
	httpType: {
		{"method", types.StringType, (*evalCtx).method, "request method"},
		{"host", types.StringType, (*evalCtx).host, ":authority, lower-case, port kept"},
		{"path", types.StringType, (*evalCtx).path, ":path with the query string"},
		{"path_only", types.StringType, (*evalCtx).pathOnly, "path without the query string"},
		{"query", types.StringType, (*evalCtx).query, "raw query string without '?'"},
		{"scheme", types.StringType, (*evalCtx).scheme, "http or https"},
		{"protocol", types.StringType, (*evalCtx).protocol, "HTTP/1.0, HTTP/1.1, HTTP/2, HTTP/3"},
		{"user_agent", types.StringType, (*evalCtx).userAgent, "user-agent header"},
		{"headers", stringMap, (*evalCtx).headers, "request headers by lower-case name (lookups ignore case)"},
		{"cookies", stringMap, (*evalCtx).cookies, "cookies by name, parsed only when a rule reads them"},
	},
	ipType: {
		{"src", types.StringType, (*evalCtx).ipSrc, "client IP (from x-forwarded-for with trusted hops), \"\" when unknown"},
		{"asn", types.IntType, (*evalCtx).ipASN, "autonomous system number, 0 when unknown"},
		{"as_org", types.StringType, (*evalCtx).ipASOrg, "autonomous system organisation"},
		{"country", types.StringType, (*evalCtx).ipCountry, "ISO 3166-1 alpha-2 country code"},
		{"datacenter", types.BoolType, (*evalCtx).ipDatacenter, "address of a hosting or cloud provider"},
		{"private_relay", types.BoolType, (*evalCtx).ipPrivateRelay, "iCloud Private Relay egress (a human behind a proxy)"},
	},
	routeType: {
		{"name", types.StringType, (*evalCtx).routeName, "context_extensions[\"" + ContextKeyRoute + "\"] of the Envoy route"},
		{"context", stringMap, (*evalCtx).routeContext, "all context_extensions of the Envoy route"},
	},
}

// variables are the top-level names, in documentation order.
var variables = []struct {
	name string
	typ  *types.Type
}{
	{"bot", botType}, {"http", httpType}, {"ip", ipType}, {"route", routeType},
}

// structType is the provider's view of one declared type.
type structType struct {
	typ    *types.Type
	fields map[string]*types.FieldType
	byName map[string]field
	names  []string
}

// provider serves the botwarden.* struct types and delegates everything else
// (well-known and optional types) to the environment's own provider.
type provider struct {
	types.Provider
}

// structs holds the struct types built from schema.
var structs = buildStructs()

func buildStructs() map[string]*structType {
	out := map[string]*structType{}
	for t, fields := range schema {
		st := &structType{typ: t, fields: map[string]*types.FieldType{}, byName: map[string]field{}}
		for _, f := range fields {
			st.fields[f.name] = &types.FieldType{
				Type:  f.typ,
				IsSet: func(any) bool { return true },
				GetFrom: func(target any) (any, error) {
					o, ok := target.(*object)
					if !ok {
						return nil, fmt.Errorf("policy: field %s read from %T", f.name, target)
					}
					return f.get(o.c), nil
				},
			}
			st.byName[f.name] = f
			st.names = append(st.names, f.name)
		}
		sort.Strings(st.names)
		out[t.TypeName()] = st
	}
	return out
}

func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if st, ok := structs[name]; ok {
		return types.NewTypeTypeWithParam(st.typ), true
	}
	return p.Provider.FindStructType(name)
}

func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if st, ok := structs[name]; ok {
		return st.names, true
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p *provider) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	if st, ok := structs[name]; ok {
		ft, ok := st.fields[fieldName]
		return ft, ok
	}
	return p.Provider.FindStructFieldType(name, fieldName)
}

// NewValue refuses to build botwarden.* values in expressions: they are
// inputs, not something a rule constructs.
func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := structs[name]; ok {
		return types.NewErr("policy: %s values cannot be constructed", name)
	}
	return p.Provider.NewValue(name, fields)
}

// object is a botwarden.* value: a typed view over the evaluation context.
// It is a ref.Val (and an Indexer) so that it also works where the checker
// could not pick a field getter, e.g. in dyn() or inside a list literal.
type object struct {
	st *structType
	c  *evalCtx
}

var (
	_ ref.Val            = (*object)(nil)
	_ traits.Indexer     = (*object)(nil)
	_ traits.FieldTester = (*object)(nil)
)

func (o *object) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("policy: %s cannot be converted to %v", o.st.typ.TypeName(), t)
}

func (o *object) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return o.st.typ
	}
	return types.NewErr("policy: %s cannot be converted to %s", o.st.typ.TypeName(), t.TypeName())
}

func (o *object) Equal(other ref.Val) ref.Val { return types.Bool(o == other) }
func (o *object) Type() ref.Type              { return o.st.typ }
func (o *object) Value() any                  { return o }

func (o *object) Get(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.ValOrErr(index, "policy: no field %v on %s", index, o.st.typ.TypeName())
	}
	f, ok := o.st.byName[string(name)]
	if !ok {
		return types.NewErr("policy: no field %q on %s", name, o.st.typ.TypeName())
	}
	return f.get(o.c)
}

func (o *object) IsSet(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.False
	}
	_, ok = o.st.byName[string(name)]
	return types.Bool(ok)
}

// inCIDRFunc is ip.in_cidr(addr, cidr) and ip.in_cidr(addr, [cidr, ...]).
// cel-go's own network library (ext.Network, cel-go v0.33 ext/network.go) is
// also loaded and offers cidr('10.0.0.0/8').containsIP(ip.src); this helper
// adds the list form for allow-lists, treats an unknown or unparsable client
// address as "not in the range" instead of an error, and unmaps
// IPv4-mapped IPv6 addresses (which ext.Network rejects).
const inCIDRFunc = "ip.in_cidr"

func inCIDR(addr, prefix ref.Val) ref.Val {
	a, ok := parseAddr(addr)
	if !ok {
		return types.False
	}
	return inCIDRParsed(a, prefix)
}

func inCIDRList(addr, list ref.Val) ref.Val {
	a, ok := parseAddr(addr)
	if !ok {
		return types.False
	}
	l, ok := list.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(list)
	}
	for it := l.Iterator(); it.HasNext() == types.True; {
		if r := inCIDRParsed(a, it.Next()); r != types.False {
			return r
		}
	}
	return types.False
}

func inCIDRParsed(a netip.Addr, prefix ref.Val) ref.Val {
	s, ok := prefix.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(prefix)
	}
	p, err := netip.ParsePrefix(string(s))
	if err != nil {
		return types.NewErr("ip.in_cidr: %v", err)
	}
	return types.Bool(prefixContains(p, a))
}

func parseAddr(v ref.Val) (netip.Addr, bool) {
	s, ok := v.(types.String)
	if !ok || s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(string(s))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func prefixContains(p netip.Prefix, a netip.Addr) bool {
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
	}
	return p.Contains(a)
}

// Expression limits, checked at parse time.
const (
	maxExpressionSize = 8 << 10
	maxRecursion      = 64
)

// newEnv builds the CEL environment every rule is compiled in.
func newEnv() (*cel.Env, error) {
	base, err := cel.NewEnv(
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Network(),
		cel.ParserExpressionSizeLimit(maxExpressionSize),
		cel.ParserRecursionLimit(maxRecursion),
		cel.CrossTypeNumericComparisons(true),
	)
	if err != nil {
		return nil, fmt.Errorf("cel base environment: %w", err)
	}
	opts := []cel.EnvOption{
		cel.CustomTypeProvider(&provider{Provider: base.CELTypeProvider()}),
		cel.Function(inCIDRFunc,
			cel.Overload("ip_in_cidr_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(inCIDR)),
			cel.Overload("ip_in_cidr_string_list", []*cel.Type{cel.StringType, cel.ListType(cel.StringType)}, cel.BoolType,
				cel.BinaryBinding(inCIDRList)),
		),
	}
	for _, v := range variables {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	env, err := base.Extend(opts...)
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	return env, nil
}
