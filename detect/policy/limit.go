package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"cel.dev/cel-go/common/types"

	"github.com/botwarden/botwarden/detect/ratelimit"
)

// keyKind says what a rate-limit bucket is keyed on.
type keyKind int

const (
	keyIP      keyKind = iota // the client IP
	keySession                // the session cookie's id, else the IP
	keyJA4                    // the TLS JA4 fingerprint, else the IP
	keyHeader                 // a request header's value, else the IP
	keyExpr                   // a CEL expression's string, else the IP
)

// rateLimit is a compiled rate_limit block.
type rateLimit struct {
	kind   keyKind
	header string
	expr   *program
	key    string // as written, for RuleInfo
	limit  ratelimit.Limit
	prefix string // "<rule id>|": each rule counts in its own buckets
}

func (c *compiler) rateLimit(rs *rateLimitSpec, id string, bad func(field, format string, args ...any)) *rateLimit {
	rl := &rateLimit{limit: rs.Limit, prefix: id + "|", key: rs.Key}
	if err := rs.Limit.Validate(); err != nil {
		// Limit.Validate says "field: message", one per line.
		for _, e := range strings.Split(err.Error(), "\n") {
			field, msg, _ := strings.Cut(e, ": ")
			bad("rate_limit."+field, "%s", msg)
		}
	}
	switch {
	case rs.Key != "" && rs.KeyExpression != "":
		bad("rate_limit", "set key or key_expression, not both")
	case rs.KeyExpression != "":
		rl.kind, rl.key = keyExpr, "expression"
		prog, err := c.program(rs.KeyExpression, types.StringType)
		if err != nil {
			bad("rate_limit.key_expression", "%v", err)
		}
		rl.expr = prog
	case rs.Key == "" || rs.Key == "ip":
		rl.kind, rl.key = keyIP, "ip"
	case rs.Key == "session":
		rl.kind = keySession
	case rs.Key == "ja4":
		rl.kind = keyJA4
	case strings.HasPrefix(rs.Key, "header:"):
		rl.kind, rl.header = keyHeader, strings.ToLower(strings.TrimSpace(strings.TrimPrefix(rs.Key, "header:")))
		if rl.header == "" {
			bad("rate_limit.key", "header: needs a header name, e.g. header:x-api-key")
		}
	default:
		bad("rate_limit.key", "%q is not ip, session, ja4 or header:<name>", rs.Key)
	}
	return rl
}

// maxKeyLen bounds the part of a bucket key taken from the request; longer
// values (a 64 KiB header) are hashed so that memory per bucket stays small.
const maxKeyLen = 96

// bucketKey returns the limiter key for this request. A key that is
// missing (no session, no JA4, no header, empty expression) falls back to
// the client IP, so clients cannot escape a limit by omitting it.
func (rl *rateLimit) bucketKey(ctx context.Context, c *evalCtx) (string, error) {
	kind, val := "", ""
	switch rl.kind {
	case keySession:
		if c.v.Session != nil {
			kind, val = "session:", c.v.Session.ID
		}
	case keyJA4:
		kind, val = "ja4:", c.r.JA4()
	case keyHeader:
		kind, val = "header:", c.r.Headers.Get(rl.header)
	case keyExpr:
		out, err := rl.expr.eval(ctx, c)
		if err != nil {
			return "", fmt.Errorf("key_expression: %w", err)
		}
		s, _ := out.Value().(string)
		kind, val = "expr:", s
	}
	if val == "" {
		kind, val = "ip:", string(c.ipSrc().(types.String))
		if val == "" && c.r.PeerIP.IsValid() {
			val = c.r.PeerIP.Unmap().String()
		}
	}
	if len(val) > maxKeyLen {
		sum := sha256.Sum256([]byte(val))
		val = "sha256:" + hex.EncodeToString(sum[:16])
	}
	return rl.prefix + kind + val, nil
}
