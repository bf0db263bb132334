package analytics

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/policy"
)

// Draft is a rule to try on stored traffic before it goes into the policy.
type Draft struct {
	Expression string `json:"expression"`
	Action     string `json:"action"`
}

// DraftResult is what a draft rule would have done to the stored traffic.
type DraftResult struct {
	Scanned     int64            `json:"scanned"` // records read (each standing for SampleInterval requests)
	Requests    int64            `json:"requests"`
	Matched     int64            `json:"matched"` // requests the rule matches, scaled
	ByCategory  map[string]int64 `json:"by_category"`
	Clients     int              `json:"clients"` // distinct client IPs matched
	TopClients  []Count          `json:"top_clients"`
	AlreadySame int64            `json:"already_same"` // matched requests that already got this action
	Examples    []string         `json:"examples"`     // RayIDs of matched requests
	Truncated   bool             `json:"truncated"`    // stopped at MaxDraftRecords
	Note        string           `json:"note"`
}

// MaxDraftRecords bounds one draft run (newest records first).
const MaxDraftRecords = 500_000

// draftNote says what the replay cannot know.
const draftNote = "replayed from stored records: request headers other than user-agent, cookies and rate-limit state are not stored, so rules reading them see them empty"

// compileDraft compiles the draft with the policy's own compiler, as the
// only rule of a policy in mitigate mode.
func compileDraft(d Draft) (*policy.Decider, error) {
	if d.Expression == "" {
		return nil, fmt.Errorf("expression: empty")
	}
	if len(d.Expression) > 8192 {
		return nil, fmt.Errorf("expression: longer than 8192 bytes")
	}
	a := detect.Action(d.Action)
	if a == "" {
		a = detect.ActionBlock
	}
	if !a.Valid() || a == detect.ActionRateLimit {
		return nil, fmt.Errorf("action: %q is not one of block, managed_challenge, js_challenge, log, allow, skip (rate_limit needs live traffic)", d.Action)
	}
	doc, err := yaml.Marshal(map[string]any{"version": 1, "mode": "mitigate",
		"rules": []map[string]any{{"id": "draft", "expression": d.Expression, "action": string(a)}}})
	if err != nil {
		return nil, fmt.Errorf("expression: %w", err)
	}
	// The policy package loads files; the draft lives only as long as this.
	f, err := os.CreateTemp("", "botwarden-draft-*.yaml")
	if err != nil {
		return nil, fmt.Errorf("draft: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(doc); err != nil {
		f.Close()
		return nil, fmt.Errorf("draft: %w", err)
	}
	f.Close()
	cfg := policy.DefaultConfig()
	cfg.File, cfg.Watch = f.Name(), false
	dec, err := policy.New(cfg, zerolog.Nop(), nil)
	if err != nil {
		return nil, fmt.Errorf("expression: %w", err)
	}
	return dec, nil
}

// asRequest reconstructs the request and the engines' evidence from a
// stored record, as the policy saw them.
func (r *Record) asRequest() (*detect.Request, *detect.Verdict) {
	req := &detect.Request{ID: r.Ref, Time: r.Time, Method: r.Method, Host: r.Host, Path: r.Path,
		Headers: detect.Headers{"user-agent": r.UserAgent}}
	if r.JA4 != "" {
		req.Headers[detect.HeaderJA4] = r.JA4
	}
	if ip, err := netip.ParseAddr(r.ClientIP); err == nil {
		req.ClientIP = ip
	}
	v := &detect.Verdict{Score: r.BotScore, Source: detect.Source(r.BotScoreSrc), DetectionIDs: r.BotDetectionIDs, Tags: r.BotTags,
		Verified: r.BotCategory == string(detect.CategoryVerifiedBot), VerifiedBot: r.VerifiedBot, VerifiedCategory: r.VerifiedBotCategory,
		AI: r.AICategory != "", AICategory: r.AICategory, IP: detect.IPInfo{ASN: uint32(r.ClientASN), Country: r.ClientCountry},
		JSDetectionChecked: r.JSDetectionPassed == detect.JSDetectionResultPassed || r.JSDetectionPassed == detect.JSDetectionResultFailed,
		JSDetectionPassed:  r.JSDetectionPassed == detect.JSDetectionResultPassed}
	return req, v
}

// RunDraft evaluates d over the records f selects, newest first.
func RunDraft(ctx context.Context, s Store, f Filter, d Draft) (DraftResult, error) {
	dec, err := compileDraft(d)
	if err != nil {
		return DraftResult{}, err
	}
	res := DraftResult{ByCategory: map[string]int64{}, Note: draftNote}
	clients := map[string]int64{}
	tok := ""
	for {
		recs, next, err := s.Events(ctx, f, 1000, tok)
		if err != nil {
			return res, err
		}
		for i := range recs {
			rec := &recs[i]
			w := int64(max(rec.SampleInterval, 1))
			res.Scanned++
			res.Requests += w
			req, v := rec.asRequest()
			dec.Decide(ctx, req, v)
			if v.RuleID != "draft" {
				continue
			}
			res.Matched += w
			res.ByCategory[rec.BotCategory] += w
			if rec.ClientIP != "" {
				clients[rec.ClientIP] += w
			}
			if rec.Action == string(v.Action) {
				res.AlreadySame += w
			}
			if len(res.Examples) < 20 {
				res.Examples = append(res.Examples, rec.Ref)
			}
		}
		if next == "" || ctx.Err() != nil {
			break
		}
		if res.Scanned >= MaxDraftRecords {
			res.Truncated = true
			break
		}
		tok = next
	}
	res.Clients = len(clients)
	for ip, n := range clients {
		res.TopClients = append(res.TopClients, Count{Value: ip, Count: n})
	}
	slices.SortFunc(res.TopClients, func(a, b Count) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		if a.Value < b.Value {
			return -1
		}
		return 1
	})
	res.TopClients = res.TopClients[:min(len(res.TopClients), 10)]
	return res, ctx.Err()
}
