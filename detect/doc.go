// Package detect is botwarden's core: the Request every engine reads, the
// Verdict engines add evidence to, the Engine interface and the Pipeline that
// runs engines in a fixed order and then asks a Decider (the policy) for an
// action.
//
// detect depends on no transport: extauthz, accesslog and wasmfilter convert
// their wire types into these and back. Subpackages (heuristics, verified, ml,
// behavior, challenge, policy, ratelimit, token, reputation) implement the
// interfaces declared here; the server package wires them together.
package detect
