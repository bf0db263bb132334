package main

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/heuristics"
)

// newPipeline builds the pipeline the harness measures. It is the one place
// to swap for the server's real pipeline (engines, policy, finishers) once
// that is wired: any func() (*detect.Pipeline, error) fits.
//
// Until then it is the real heuristics engine (UA database, header
// consistency, JA4) followed by a stand-in decider with the shape of the
// default policy: certain automation is blocked, everything else allowed.
var newPipeline = func() (*detect.Pipeline, error) {
	h, err := heuristics.New(heuristics.DefaultConfig(), zerolog.Nop(), nil)
	if err != nil {
		return nil, fmt.Errorf("heuristics: %w", err)
	}
	return &detect.Pipeline{Engines: []detect.Engine{h}, Decider: blockAutomated{}}, nil
}

// blockAutomated blocks score 1 in mitigate mode; a stand-in for the policy
// decider, kept trivial so the figures are the transport's and the engine's.
type blockAutomated struct{}

func (blockAutomated) Decide(_ context.Context, _ *detect.Request, v *detect.Verdict) {
	v.Mode, v.Action, v.RuleID = detect.ModeMitigate, detect.ActionAllow, "default"
	if v.Score == detect.ScoreAutomated && !v.Verified {
		v.Action, v.RuleID = detect.ActionBlock, "block-automated"
	}
	v.EnforcedAction = v.Action
}
