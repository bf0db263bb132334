package policy

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ratelimit"
)

// deciderFor wraps a compiled policy without a file or registry.
func deciderFor(t testing.TB, p *Policy) *Decider {
	t.Helper()
	l, err := ratelimit.NewLocal(ratelimit.Config{MaxKeys: 256, Shards: 4, SweepInterval: time.Minute}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &Decider{log: zerolog.Nop(), sampled: zerolog.Nop(), limiter: l, now: time.Now, watching: make(chan struct{})}
	if err := d.m.register(nil); err != nil {
		t.Fatal(err)
	}
	d.install(p)
	return d
}

// FuzzLoadPolicy: any bytes give either a *LoadError whose problems all say
// something, or a policy that can decide requests without panicking.
// Seeds: testdata/fuzz/FuzzLoadPolicy.
func FuzzLoadPolicy(f *testing.F) {
	f.Add([]byte(policyA))
	f.Add([]byte(limitPolicy))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Compile(data, "fuzz.yaml")
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error is not a LoadError with problems: %v", err)
			}
			for _, pr := range le.Problems {
				if pr.Msg == "" {
					t.Fatalf("problem without a message: %+v", pr)
				}
			}
			return
		}
		d := deciderFor(t, p)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for _, r := range []*detect.Request{browser(), {}, {ClientIP: netip.MustParseAddr("::ffff:10.0.0.1"), Path: "?", Host: "[::1"}} {
			v := &detect.Verdict{Score: 12, Tags: []string{"a", "spoofed-x"}, DetectionIDs: []int{1, 2}}
			d.Decide(ctx, r, v)
			if !v.Action.Valid() || !v.Mode.Valid() || !v.EnforcedAction.Valid() || v.RuleID == "" {
				t.Fatalf("incomplete verdict %+v", v)
			}
			if v.EnforcedAction.Denies() && v.Mode != detect.ModeMitigate {
				t.Fatalf("mode %s enforced %s", v.Mode, v.EnforcedAction)
			}
		}
	})
}
