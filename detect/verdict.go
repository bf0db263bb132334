package detect

import (
	"slices"
	"time"
)

// Source names the engine that decided a score (Cloudflare's BotScoreSrc).
type Source string

const (
	SourceNotComputed Source = "not_computed"
	SourceHeuristics  Source = "heuristics"
	SourceML          Source = "machine_learning"
	SourceBehavioral  Source = "behavioral_analysis"
	SourceVerifiedBot Source = "verified_bot"
	SourceJSDetection Source = "js_detection"
	SourceAnomaly     Source = "anomaly_detection"
	SourceReputation  Source = "reputation"
)

// Category is the coarse class of a verdict.
type Category string

const (
	CategoryNotComputed     Category = "not_computed"
	CategoryAutomated       Category = "automated"
	CategoryLikelyAutomated Category = "likely_automated"
	CategoryLikelyHuman     Category = "likely_human"
	CategoryVerifiedBot     Category = "verified_bot"
)

// Action is what the policy decided.
type Action string

const (
	ActionAllow            Action = "allow"
	ActionBlock            Action = "block"
	ActionManagedChallenge Action = "managed_challenge"
	ActionJSChallenge      Action = "js_challenge"
	ActionRateLimit        Action = "rate_limit"
	ActionLog              Action = "log"
	ActionSkip             Action = "skip"
)

// Actions lists every valid action, for validation and documentation.
var Actions = []Action{ActionAllow, ActionBlock, ActionManagedChallenge, ActionJSChallenge, ActionRateLimit, ActionLog, ActionSkip}

// Valid reports whether a is a known action.
func (a Action) Valid() bool { return slices.Contains(Actions, a) }

// Denies reports whether a, when enforced, stops the request.
func (a Action) Denies() bool {
	return a == ActionBlock || a == ActionManagedChallenge || a == ActionJSChallenge || a == ActionRateLimit
}

// Mode is Netacea's enforcement mode.
type Mode string

const (
	// ModeMonitor never enforces: score, tag and log only.
	ModeMonitor Mode = "monitor"
	// ModeInject allows but passes the verdict upstream in headers.
	ModeInject Mode = "inject"
	// ModeMitigate enforces the action.
	ModeMitigate Mode = "mitigate"
)

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool { return m == ModeMonitor || m == ModeInject || m == ModeMitigate }

// Score bounds. 1 = certainly automated, 2–29 likely automated, 30–99 likely
// human, 0 = not computed.
const (
	ScoreNotComputed = 0
	ScoreAutomated   = 1
	ScoreLikelyHuman = 30
	ScoreMax         = 99
)

// CategoryOf maps a score to its category (verified bots are handled by Verdict).
func CategoryOf(score int) Category {
	switch {
	case score <= 0:
		return CategoryNotComputed
	case score == 1:
		return CategoryAutomated
	case score < ScoreLikelyHuman:
		return CategoryLikelyAutomated
	default:
		return CategoryLikelyHuman
	}
}

// IPInfo is what the network engine knows about the client address.
type IPInfo struct {
	ASN          uint32
	ASOrg        string
	Country      string // ISO 3166-1 alpha-2
	Datacenter   bool
	PrivateRelay bool // iCloud Private Relay egress: a human behind a proxy
}

// Reputation is what the reputation store (the behavioural loop's output)
// said about this client when the request was checked.
type Reputation struct {
	Found bool
	// Exempt: an operator reported this client as a false positive, so
	// the analysis's verdicts were set aside and the policy does not
	// challenge it until Expiry. (Next to Found: two bools in one word
	// keep the Verdict in its allocation size class.)
	Exempt bool
	Key    string // which key matched: "session:…", "ip:…", "ja4:…"
	Score  int
	Source Source
	Tags   []string
	Expiry time.Time
}

// Verdict accumulates the evidence of every engine and then the decision;
// it is also where per-request state found by one engine for later ones
// lives (the session, the client's network facts), since the Request is
// read-only. Engines use the methods below rather than writing Score
// directly, so that the combination rule holds in one place: a heuristic or
// spoof makes the score 1 and nothing raises it again; otherwise the ML
// score stands; reputation and JS detection may lower it.
type Verdict struct {
	Score        int
	Source       Source
	DetectionIDs []int
	Tags         []string

	Verified         bool
	VerifiedBot      string // operator-level name, e.g. "googlebot"
	VerifiedCategory string // search_engine, ai_crawler, monitoring, ...

	AI         bool
	AICategory string // ai_crawler, ai_search, ai_assistant

	IP         IPInfo
	Reputation Reputation
	// Session is the state carried by the request's valid session cookie,
	// nil when it carried none (or an invalid one). The session engine
	// fills it; reputation looks the session up, the policy reads its
	// flags, and the session finisher renews it.
	Session *Session

	JSDetectionChecked bool
	JSDetectionPassed  bool
	ChallengePassed    bool

	// Decision, filled by the Decider.
	Action Action
	RuleID string
	Mode   Mode
	// EnforcedAction is Action after the mode is applied: what actually
	// happens to the request (monitor and inject turn denials into allow).
	EnforcedAction Action
	// RetryAfter is set for rate_limit: how long until a token is available.
	RetryAfter time.Duration
	// ChallengeDifficulty is the proof-of-work difficulty the policy asked for
	// (leading zero bits), 0 for the default.
	ChallengeDifficulty int

	// Deadline is true when the pipeline ran out of its time budget and this
	// verdict is the safe fallback.
	Deadline bool
	// Errors counts engine and rule evaluation errors (the request still got
	// a verdict; the failed parts were skipped).
	Errors int

	// SetCookies are full Set-Cookie header values to send to the client
	// (on allow through response_headers_to_add, on deny with the reply).
	SetCookies []string
}

// Category returns the verdict's category.
func (v *Verdict) Category() Category {
	if v.Verified {
		return CategoryVerifiedBot
	}
	return CategoryOf(v.Score)
}

// Automated records certain automation (score 1) found by source with a
// detection ID (0 for none) and tags. The first source to say so keeps it.
func (v *Verdict) Automated(source Source, detectionID int, tags ...string) {
	if v.Score != ScoreAutomated {
		v.Score = ScoreAutomated
		v.Source = source
	}
	if detectionID != 0 && !slices.Contains(v.DetectionIDs, detectionID) {
		v.DetectionIDs = append(v.DetectionIDs, detectionID)
	}
	v.AddTags(tags...)
}

// Propose offers a score from source. It is taken when nothing has scored
// yet; a certain-automation score (1) is never overridden.
func (v *Verdict) Propose(score int, source Source) {
	if score < 1 {
		return
	}
	score = min(score, ScoreMax)
	if score == ScoreAutomated {
		v.Automated(source, 0)
		return
	}
	if v.Score == ScoreNotComputed {
		v.Score, v.Source = score, source
	}
}

// Lower replaces the score with a lower one from source (reputation, JS
// detection, behaviour: evidence that overrides a per-request guess).
func (v *Verdict) Lower(score int, source Source) {
	if score < 1 {
		return
	}
	if score == ScoreAutomated {
		v.Automated(source, 0)
		return
	}
	if v.Score == ScoreNotComputed || score < v.Score {
		v.Score, v.Source = score, source
	}
}

// Override replaces a not-yet-certain score with score from source; used
// when stronger evidence than the per-request model exists (a passed
// challenge raises the score). A score of 1 stays.
func (v *Verdict) Override(score int, source Source) {
	if score < 1 || v.Score == ScoreAutomated {
		return
	}
	v.Score, v.Source = min(score, ScoreMax), source
}

// AddTags adds tags without duplicates, keeping first-seen order.
func (v *Verdict) AddTags(tags ...string) {
	for _, t := range tags {
		if t != "" && !slices.Contains(v.Tags, t) {
			v.Tags = append(v.Tags, t)
		}
	}
}

// HasTag reports whether the verdict carries tag t.
func (v *Verdict) HasTag(t string) bool { return slices.Contains(v.Tags, t) }

// MarkVerified records a verified bot. Its score is kept (verified bots are
// bots); the category becomes verified_bot.
func (v *Verdict) MarkVerified(bot, category string) {
	v.Verified = true
	v.VerifiedBot = bot
	v.VerifiedCategory = category
	v.AddTags("verified-bot")
}

// Finalize fills defaults once engines have run: a score that nobody
// computed stays 0 with source not_computed.
func (v *Verdict) Finalize() {
	if v.Score == ScoreNotComputed {
		v.Source = SourceNotComputed
	}
}

// JSDetectionPassed values: Cloudflare's Logpush field of that name is
// one of these, not a boolean.
const (
	JSDetectionResultPassed  = "passed"
	JSDetectionResultFailed  = "failed"  // a result is recorded and it did not pass
	JSDetectionResultMissing = "missing" // no result: the detection never ran for this client
)

// JSDetectionResult is the request's JavaScript detection result as
// exported (JSDetectionPassed): passed, failed or missing.
func (v *Verdict) JSDetectionResult() string {
	switch {
	case v.JSDetectionPassed:
		return JSDetectionResultPassed
	case v.JSDetectionChecked:
		return JSDetectionResultFailed
	}
	return JSDetectionResultMissing
}
