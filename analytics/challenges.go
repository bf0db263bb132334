package analytics

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect/challenge"
)

// Challenge outcomes, the classes the Overview shows.
const (
	OutcomeSolved   = "solved"   // passed (also through the no-JS path), or the invisible detection passed
	OutcomeFailed   = "failed"   // judged and not passed: automation found, or blocked after too many failures
	OutcomeRejected = "rejected" // not judged: malformed, replayed, expired, bound to another client ...
)

func outcomeOf(a challenge.Answer) string {
	switch {
	case a.Solved():
		return OutcomeSolved
	case a.Failed():
		return OutcomeFailed
	}
	return OutcomeRejected
}

// challengeSchema is the table of challenge answers (a file written before
// it gains it on open).
const challengeSchema = `
CREATE TABLE IF NOT EXISTS challenges (
	ts BIGINT NOT NULL, kind VARCHAR, result VARCHAR, outcome VARCHAR, ip VARCHAR, host VARCHAR, path VARCHAR, solve_ms DOUBLE);
`

// maxRowsPerInsert bounds one multi-row INSERT's parameters.
const maxRowsPerInsert = 500

// insertRows inserts n rows of width values each into table, in
// multi-row INSERTs of at most maxRowsPerInsert rows; row(i) gives row i.
// For the small side tables (answers, labelled requests); the events go
// through the appender.
func (s *DuckDB) insertRows(ctx context.Context, table string, width, n int, row func(i int) ([]any, error)) error {
	place := "(?" + strings.Repeat(", ?", width-1) + ")"
	for start := 0; start < n; start += maxRowsPerInsert {
		end := min(n, start+maxRowsPerInsert)
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " VALUES ")
		args := make([]any, 0, (end-start)*width)
		for i := start; i < end; i++ {
			vals, err := row(i)
			if err != nil {
				return fmt.Errorf("store %s: %w", table, err)
			}
			if i > start {
				b.WriteString(", ")
			}
			b.WriteString(place)
			args = append(args, vals...)
		}
		if _, err := s.db.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("store %s: %w", table, err)
		}
	}
	return nil
}

// AppendChallenges implements Store.
func (s *DuckDB) AppendChallenges(ctx context.Context, cs []ChallengeRecord) error {
	return s.insertRows(ctx, "challenges", 8, len(cs), func(i int) ([]any, error) {
		c := cs[i]
		return []any{micros(c.Time), c.Kind, c.Result, c.Outcome, c.ClientIP, c.Host, c.Path, c.SolveMs}, nil
	})
}

// Challenges implements Store.
func (s *DuckDB) Challenges(ctx context.Context, from, to time.Time, host string, step time.Duration) (ChallengeStats, error) {
	var out ChallengeStats
	st := step.Microseconds()
	if st <= 0 {
		return out, fmt.Errorf("step: must be positive")
	}
	cond, args := "ts >= ? AND ts < ?", []any{micros(from), micros(to)}
	if host != "" {
		cond, args = cond+" AND host = ?", append(args, host)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT kind, result, outcome, count(*), coalesce(median(solve_ms), 0)
		FROM challenges WHERE `+cond+` GROUP BY kind, result, outcome ORDER BY count(*) DESC, kind, result`, args...)
	if err != nil {
		return out, fmt.Errorf("challenges: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c ChallengeCount
		if err := rows.Scan(&c.Kind, &c.Result, &c.Outcome, &c.Count, &c.MedianSolveMs); err != nil {
			return out, fmt.Errorf("challenges: %w", err)
		}
		out.Results = append(out.Results, c)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("challenges: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(median(solve_ms), 0) FROM challenges
		WHERE `+cond+` AND outcome = 'solved' AND kind IN ('page', 'nojs')`, args...).Scan(&out.MedianSolveMs); err != nil {
		return out, fmt.Errorf("challenges: %w", err)
	}
	series, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT (ts // %d) * %d AS b, outcome, count(*) FROM challenges WHERE `+cond+`
		GROUP BY b, outcome ORDER BY b, outcome`, st, st), args...)
	if err != nil {
		return out, fmt.Errorf("challenges: %w", err)
	}
	defer series.Close()
	for series.Next() {
		var b int64
		var v sql.NullString
		var p Point
		if err := series.Scan(&b, &v, &p.Count); err != nil {
			return out, fmt.Errorf("challenges: %w", err)
		}
		p.Time, p.Value, p.Sample = time.UnixMicro(b).UTC(), v.String, p.Count
		out.Series = append(out.Series, p)
	}
	return out, series.Err()
}

// ChallengeAnswer is GET /api/v1/challenges: the challenges the decisions
// issued (requests whose enforced action was a challenge, from the same
// records as every other count) and the answers the challenge handler
// judged, by outcome and result, over the filter's time range and host.
// Answers are not requests: no other filter term applies to them.
type ChallengeAnswer struct {
	Issued   int64            `json:"issued"`
	Solved   int64            `json:"solved"`
	Failed   int64            `json:"failed"`
	Rejected int64            `json:"rejected"`
	Results  []ChallengeCount `json:"results"`
	Series   []Point          `json:"series"`
	Step     string           `json:"step"`
	// MedianSolveMs is the median time from the challenge page to a
	// passing answer (page and no-JS paths; 0 when none).
	MedianSolveMs float64 `json:"median_solve_ms"`
}

func (s *Service) challenges(w http.ResponseWriter, r *http.Request) {
	own, q := params(r, "step")
	st, f, step, ok := s.prepareSeries(w, q, own.Get("step"))
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	var ans ChallengeAnswer
	top, err := st.Top(ctx, f, DimEnforced, 20)
	if err != nil {
		fail(w, err)
		return
	}
	for _, c := range top {
		if c.Value == "managed_challenge" || c.Value == "js_challenge" {
			ans.Issued += c.Count
		}
	}
	host := ""
	if hs := f.Match[DimHost]; len(hs) == 1 {
		host = hs[0]
	}
	cs, err := st.Challenges(ctx, f.From, f.To, host, step)
	if err != nil {
		fail(w, err)
		return
	}
	ans.Results, ans.Series, ans.Step = cs.Results, cs.Series, step.String()
	ans.MedianSolveMs = cs.MedianSolveMs
	for _, c := range cs.Results {
		switch c.Outcome {
		case OutcomeSolved:
			ans.Solved += c.Count
		case OutcomeFailed:
			ans.Failed += c.Count
		default:
			ans.Rejected += c.Count
		}
	}
	if ans.Results == nil {
		ans.Results = []ChallengeCount{}
	}
	if ans.Series == nil {
		ans.Series = []Point{}
	}
	writeJSON(w, http.StatusOK, ans)
}
