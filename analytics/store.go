package analytics

import (
	"context"
	"time"
)

// Store keeps records and answers the dashboard's questions. The embedded
// DuckDB file implements it; a scale-out store (ClickHouse, say) can come
// later behind the same methods without touching the API or the dashboard.
// Counts are always scaled by each record's SampleInterval.
type Store interface {
	// Append stores a batch. It is called from one writer goroutine.
	Append(ctx context.Context, recs []Record) error
	// AppendVerdict stores a behavioural verdict that was published.
	AppendVerdict(ctx context.Context, v VerdictRecord) error
	// AppendFeedback stores a feedback report.
	AppendFeedback(ctx context.Context, f Feedback) error
	// AppendChallenges stores challenge answers.
	AppendChallenges(ctx context.Context, cs []ChallengeRecord) error
	// AppendTraining stores requests labelled by live feedback reports.
	AppendTraining(ctx context.Context, ts []TrainingRecord) error

	Timeseries(ctx context.Context, f Filter, step time.Duration, by Dim) ([]Point, error)
	Histogram(ctx context.Context, f Filter) ([]Count, error)
	Top(ctx context.Context, f Filter, by Dim, n int) ([]Count, error)
	// Events returns matching records newest first, a page at a time; the
	// returned token (empty at the end) continues after the last record.
	Events(ctx context.Context, f Filter, limit int, token string) ([]Record, string, error)
	Verdicts(ctx context.Context, from, to time.Time, limit int) ([]VerdictRecord, error)
	FeedbackList(ctx context.Context, q FeedbackQuery) ([]Feedback, error)
	// Challenges counts the answers in [from, to) on host ("" = all):
	// per result, and per outcome every step.
	Challenges(ctx context.Context, from, to time.Time, host string, step time.Duration) (ChallengeStats, error)
	// TrainingExamples returns the labelled requests in [from, to), oldest first.
	TrainingExamples(ctx context.Context, from, to time.Time, limit int) ([]TrainingRecord, error)

	// Maintain applies retention: detail older than the retention, or
	// beyond the size cap, is rolled up per hour and deleted.
	Maintain(ctx context.Context, now time.Time) error
	// Stats reports the size and span of what is stored.
	Stats(ctx context.Context) (Stats, error)
	Close() error
}

// Point is one step of a timeseries: the count per value of the
// breakdown dimension at Time.
type Point struct {
	Time   time.Time `json:"time"`
	Value  string    `json:"value"`
	Count  int64     `json:"count"`
	Sample int64     `json:"sampled"` // records behind Count (Count/Sample = mean interval)
}

// Count is one row of a top-N or histogram.
type Count struct {
	Value  string `json:"value"`
	Count  int64  `json:"count"`
	Sample int64  `json:"sampled"`
	Text   string `json:"text,omitempty"` // catalogue text for detection IDs
}

// VerdictRecord is a verdict the behavioural analysis published.
type VerdictRecord struct {
	Time   time.Time `json:"time"`
	Key    string    `json:"key"`
	Score  int       `json:"score"`
	Source string    `json:"source"`
	Tags   []string  `json:"tags"`
	Expiry time.Time `json:"expiry"`
}

// Feedback is a false-positive or false-negative report.
type Feedback struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"` // false_positive or false_negative
	Expression  string    `json:"expression,omitempty"`
	Ref         string    `json:"ray_id,omitempty"`
	Key         string    `json:"key,omitempty"`
	Abuse       string    `json:"abuse,omitempty"`
	Description string    `json:"description"`
	Requests    int64     `json:"requests"`
	FirstSeen   time.Time `json:"first_seen,omitzero"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	FeedbackDetail
}

// FeedbackDetail is who reported, what the report's filter selected and
// what the report did (the store keeps it as one JSON column).
type FeedbackDetail struct {
	// Origin is who reported: operator (dashboard, API, CLI) or visitor
	// (the block page's form, which never applies anything by itself).
	Origin string `json:"origin,omitempty"`
	// What the report's filter selected, as Cloudflare's feedback report
	// records it: requests by score band, by score source, and the top
	// client addresses and user agents.
	ByScore       []Count `json:"by_score,omitempty"`
	BySource      []Count `json:"by_source,omitempty"`
	TopIPs        []Count `json:"top_ips,omitempty"`
	TopUserAgents []Count `json:"top_user_agents,omitempty"`
	// Applied is the verdict the report put in the reputation store: an
	// exemption for a false positive, a scored verdict for a false
	// negative; nil when it applied nothing (no client key, or a visitor's
	// report).
	Applied *Applied `json:"applied,omitempty"`
}

// Applied is a feedback report's verdict in the reputation store.
type Applied struct {
	Key    string    `json:"key"` // reputation key, feedback:<client key>
	Score  int       `json:"score"`
	Tags   []string  `json:"tags"`
	Expiry time.Time `json:"expiry"`
}

// FeedbackQuery selects feedback items, newest first.
type FeedbackQuery struct {
	Limit int
	// LiveAt, when set, keeps only the items whose applied verdict has
	// not expired at that time.
	LiveAt time.Time
}

// ChallengeRecord is one challenge answer (challenge.Answer as stored).
type ChallengeRecord struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`    // page, nojs, jsd
	Result   string    `json:"result"`  // passed, failed, replayed, ...
	Outcome  string    `json:"outcome"` // solved, failed or rejected
	ClientIP string    `json:"client_ip"`
	Host     string    `json:"host"`
	Path     string    `json:"path"`
	SolveMs  float64   `json:"solve_ms"` // from serving the challenge to the answer
}

// ChallengeStats is what Challenges answers.
type ChallengeStats struct {
	Results []ChallengeCount `json:"results"`
	Series  []Point          `json:"series"` // Value is the outcome
	// MedianSolveMs: from the challenge page to a passing answer.
	MedianSolveMs float64 `json:"median_solve_ms"`
}

// ChallengeCount is the answers of one kind and result, with the median
// time to answer.
type ChallengeCount struct {
	Kind          string  `json:"kind"`
	Result        string  `json:"result"`
	Outcome       string  `json:"outcome"`
	Count         int64   `json:"count"`
	MedianSolveMs float64 `json:"median_solve_ms"`
}

// Stats describes the store's contents.
type Stats struct {
	Records    int64     `json:"records"`
	Bytes      int64     `json:"bytes"`
	Oldest     time.Time `json:"oldest,omitzero"`
	Newest     time.Time `json:"newest,omitzero"`
	RollupFrom time.Time `json:"rollup_from,omitzero"` // oldest hour kept only as rollup
}
