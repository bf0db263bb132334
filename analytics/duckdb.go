package analytics

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/botwarden/botwarden/detect"
)

// DuckDB is the embedded store: one DuckDB file (columnar, compressed), so
// a 30-day top-N is a scan of one column rather than of every row.
//
// Every closed hour is also folded into an hourly rollup (category, source,
// action, enforced action, mode, score: what the overview charts group and
// filter by), and the overview's long questions read the rollup for the
// whole hours it covers instead of millions of detail rows. Detail older
// than the retention, or beyond the size cap, is deleted; its hours stay in
// the rollup, so the 30-day charts survive.
type DuckDB struct {
	db  *sql.DB
	cfg StoreConfig

	mu     sync.Mutex // the appender's connection is not shared; folds take it too
	conn   *sql.Conn
	closed bool

	// rolledTo (unix µs, an hour boundary): every record before it is
	// counted in the rollup, whenever it arrived (Append adds a late
	// record to the rollup itself). detailFrom: detail before it was
	// deleted. Both persist in rollup_state.
	rolledTo, detailFrom atomic.Int64
}

// StoreConfig bounds the embedded store.
type StoreConfig struct {
	// Path is the DuckDB file; "" keeps everything in memory (lost on
	// restart, for tests and tools).
	Path string `yaml:"path"`
	// Retention is how long detail rows are kept.
	Retention time.Duration `yaml:"retention"`
	// MaxBytes caps the file; the oldest detail goes first (rolled up).
	MaxBytes int64 `yaml:"max_bytes"`
	// MemoryLimit caps DuckDB's memory, e.g. "512MB"; "" is DuckDB's default
	// (80% of RAM), too much beside the hot path.
	MemoryLimit string `yaml:"memory_limit"`
	// Threads DuckDB may use for a query; 0 = one per CPU.
	Threads int `yaml:"threads"`
}

const schemaSQL = `
CREATE TABLE IF NOT EXISTS events (
	ts BIGINT NOT NULL, ref VARCHAR, sample INTEGER,
	score INTEGER, src VARCHAR, cat VARCHAR, tags VARCHAR[], dids INTEGER[], ja4 VARCHAR, js BOOLEAN,
	vbot VARCHAR, vcat VARCHAR, aicat VARCHAR, action VARCHAR, enforced VARCHAR, rule VARCHAR, mode VARCHAR,
	session VARCHAR, ip VARCHAR, net VARCHAR, asn INTEGER, country VARCHAR,
	method VARCHAR, host VARCHAR, path VARCHAR, ua VARCHAR, status INTEGER, bytes BIGINT, dur DOUBLE, logged BOOLEAN);
CREATE TABLE IF NOT EXISTS rollup (
	ts BIGINT NOT NULL, cat VARCHAR, src VARCHAR, action VARCHAR, enforced VARCHAR, mode VARCHAR, score INTEGER,
	w BIGINT, recs BIGINT);
CREATE TABLE IF NOT EXISTS rollup_state (rolled_to BIGINT NOT NULL, detail_from BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS verdicts (
	ts BIGINT NOT NULL, key VARCHAR, score INTEGER, src VARCHAR, tags VARCHAR[], expiry BIGINT);
CREATE TABLE IF NOT EXISTS feedback (
	id VARCHAR, ts BIGINT NOT NULL, kind VARCHAR, expr VARCHAR, ref VARCHAR, key VARCHAR, abuse VARCHAR,
	description VARCHAR, requests BIGINT, first_seen BIGINT, last_seen BIGINT);
`

// feedbackColumns are the feedback table's later columns (a file written
// before them gains them on open): detail holds the report's breakdowns
// and applied verdict as JSON, applied_until that verdict's expiry (unix
// µs, 0 when none) so the live ones are found without parsing JSON.
const feedbackColumns = `
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS detail VARCHAR;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS applied_until BIGINT;
`

// jsColumn stores JSDetectionPassed in the js column: true passed, false
// failed, NULL missing (or unknown: only the access-log entry was seen).
func jsColumn(result string) any {
	switch result {
	case detect.JSDetectionResultPassed:
		return true
	case detect.JSDetectionResultFailed:
		return false
	}
	return nil
}

// jsResult reads the js column back. An unknown result reads as missing.
func jsResult(js sql.NullBool) string {
	switch {
	case !js.Valid:
		return detect.JSDetectionResultMissing
	case js.Bool:
		return detect.JSDetectionResultPassed
	}
	return detect.JSDetectionResultFailed
}

// eventCols is the column order of events (Append and Events).
const eventCols = `ts, ref, sample, score, src, cat, tags, dids, ja4, js, vbot, vcat, aicat, action, enforced, rule, mode,
	session, ip, net, asn, country, method, host, path, ua, status, bytes, dur, logged`

// OpenDuckDB opens (or creates) the store. A file that is not a DuckDB
// database, or one written by an incompatible version, is an error naming
// the file; the caller keeps serving without analytics.
func OpenDuckDB(cfg StoreConfig) (*DuckDB, error) {
	var opts []string
	if cfg.MemoryLimit != "" {
		opts = append(opts, "memory_limit="+cfg.MemoryLimit)
	}
	if cfg.Threads > 0 {
		opts = append(opts, "threads="+strconv.Itoa(cfg.Threads))
	}
	if cfg.Path != "" {
		opts = append(opts, "wal_autocheckpoint="+strconv.FormatInt(walLimit(cfg.MaxBytes)>>20, 10)+"MiB")
	}
	dsn := cfg.Path
	if len(opts) > 0 {
		dsn += "?" + strings.Join(opts, "&")
	}
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("analytics store %q: %w", cfg.Path, err)
	}
	db := sql.OpenDB(connector)
	if _, err := db.Exec(schemaSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("analytics store %q: schema: %w", cfg.Path, err)
	}
	if _, err := db.Exec(feedbackColumns + challengeSchema + trainingSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("analytics store %q: schema: %w", cfg.Path, err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("analytics store %q: %w", cfg.Path, err)
	}
	s := &DuckDB{db: db, conn: conn, cfg: cfg}
	if err := s.loadState(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("analytics store %q: %w", cfg.Path, err)
	}
	return s, nil
}

// walLimit is how much write-ahead log DuckDB collects before it
// checkpoints. Each checkpoint rewrites the row group the appends are
// filling (re-reading and re-compressing its strings), so at DuckDB's
// default of 16 MB, about every 100,000 events, that rewrite was most of
// the ingest cost (BenchmarkAppend: 56,000 events per CPU-second sustained
// at 16 MB, 99,000 at 128 MiB). 128 MiB, or a sixteenth of the size cap if
// that is smaller (the log is not counted in the cap), at least 16 MiB.
func walLimit(maxBytes int64) int64 {
	const lo, hi = 16 << 20, 128 << 20
	if maxBytes <= 0 {
		return hi
	}
	return min(max(maxBytes/16, lo), hi)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

// hourMicros is an hour in the store's unit; hours are counted from the
// epoch, as the rollup's (ts // hourMicros) * hourMicros does.
const hourMicros = int64(time.Hour / time.Microsecond)

func floorHour(us int64) int64 { return us / hourMicros * hourMicros }
func ceilHour(us int64) int64  { return floorHour(us + hourMicros - 1) }

// loadState reads the rollup watermarks. A file written before they
// existed kept rollups only for the hours whose detail it had deleted, and
// always cut at an hour boundary: the first detail hour is both marks.
func (s *DuckDB) loadState(ctx context.Context) error {
	var w, d int64
	err := s.db.QueryRowContext(ctx, `SELECT rolled_to, detail_from FROM rollup_state`).Scan(&w, &d)
	if errors.Is(err, sql.ErrNoRows) {
		var minEv, maxRoll sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT (SELECT min(ts) FROM events), (SELECT max(ts) FROM rollup)`).Scan(&minEv, &maxRoll); err != nil {
			return fmt.Errorf("rollup state: %w", err)
		}
		switch {
		case minEv.Valid:
			w = floorHour(minEv.Int64)
		case maxRoll.Valid:
			w = maxRoll.Int64 + hourMicros
		}
		d = w
		_, err = s.db.ExecContext(ctx, `INSERT INTO rollup_state VALUES (?, ?)`, w, d)
	}
	if err != nil {
		return fmt.Errorf("rollup state: %w", err)
	}
	s.rolledTo.Store(w)
	s.detailFrom.Store(d)
	return nil
}

// Append writes recs through DuckDB's appender (one round trip per batch,
// not per row). A record older than the rollup watermark (a decision that
// waited, an access-log entry that came late) is added to the rollup in
// the same transaction, so the rollup always counts every record of its
// hours.
func (s *DuckDB) Append(ctx context.Context, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("analytics store closed")
	}
	late := lateRollup(recs, s.rolledTo.Load())
	return s.conn.Raw(func(dc any) error {
		conn := dc.(driver.Conn)
		if len(late) > 0 {
			if err := execDriver(ctx, conn, "BEGIN TRANSACTION"); err != nil {
				return fmt.Errorf("append: %w", err)
			}
		}
		err := appendEvents(conn, recs)
		if err == nil && len(late) > 0 {
			err = appendRollup(conn, late)
		}
		if len(late) > 0 {
			if err != nil {
				execDriver(ctx, conn, "ROLLBACK")
				return err
			}
			if err := execDriver(ctx, conn, "COMMIT"); err != nil {
				return fmt.Errorf("append: commit: %w", err)
			}
		}
		return err
	})
}

func execDriver(ctx context.Context, conn driver.Conn, q string) error {
	_, err := conn.(driver.ExecerContext).ExecContext(ctx, q, nil)
	return err
}

func appendEvents(conn driver.Conn, recs []Record) error {
	a, err := duckdb.NewAppenderFromConn(conn, "", "events")
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	for i := range recs {
		r := &recs[i]
		tags := r.BotTags
		if tags == nil {
			tags = []string{}
		}
		dids := make([]int32, len(r.BotDetectionIDs))
		for j, id := range r.BotDetectionIDs {
			dids[j] = int32(id)
		}
		if err := a.AppendRow(micros(r.Time), r.Ref, int32(max(r.SampleInterval, 1)),
			int32(r.BotScore), r.BotScoreSrc, r.BotCategory, tags, dids, r.JA4, jsColumn(r.JSDetectionPassed),
			r.VerifiedBot, r.VerifiedBotCategory, r.AICategory, r.Action, r.EnforcedAction, r.RuleID, r.Mode,
			r.SessionID, r.ClientIP, r.ClientNet, int32(r.ClientASN), r.ClientCountry,
			r.Method, r.Host, r.Path, r.UserAgent, int32(r.Status), r.ResponseBytes, r.DurationMs, r.Logged); err != nil {
			a.Close()
			return fmt.Errorf("append: %w", err)
		}
	}
	if err := a.Close(); err != nil {
		return fmt.Errorf("append: flush: %w", err)
	}
	return nil
}

// rollupKey is one row of the rollup: an hour and the attributes kept.
type rollupKey struct {
	hour                             int64
	cat, src, action, enforced, mode string
	score                            int
}

type rollupSum struct{ w, recs int64 }

// lateRollup sums the records before the watermark per rollup row, as the
// fold's GROUP BY does.
func lateRollup(recs []Record, rolledTo int64) map[rollupKey]rollupSum {
	var out map[rollupKey]rollupSum
	for i := range recs {
		r := &recs[i]
		ts := micros(r.Time)
		if ts >= rolledTo {
			continue
		}
		if out == nil {
			out = map[rollupKey]rollupSum{}
		}
		k := rollupKey{floorHour(ts), r.BotCategory, r.BotScoreSrc, r.Action, r.EnforcedAction, r.Mode, r.BotScore}
		v := out[k]
		v.w += int64(max(r.SampleInterval, 1))
		v.recs++
		out[k] = v
	}
	return out
}

func appendRollup(conn driver.Conn, rows map[rollupKey]rollupSum) error {
	a, err := duckdb.NewAppenderFromConn(conn, "", "rollup")
	if err != nil {
		return fmt.Errorf("append rollup: %w", err)
	}
	for k, v := range rows {
		if err := a.AppendRow(k.hour, k.cat, k.src, k.action, k.enforced, k.mode, int32(k.score), v.w, v.recs); err != nil {
			a.Close()
			return fmt.Errorf("append rollup: %w", err)
		}
	}
	if err := a.Close(); err != nil {
		return fmt.Errorf("append rollup: flush: %w", err)
	}
	return nil
}

// AppendVerdict implements Store.
func (s *DuckDB) AppendVerdict(ctx context.Context, v VerdictRecord) error {
	tags := v.Tags
	if tags == nil {
		tags = []string{}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?)`,
		micros(v.Time), v.Key, v.Score, v.Source, tags, micros(v.Expiry))
	if err != nil {
		return fmt.Errorf("store verdict: %w", err)
	}
	return nil
}

// AppendFeedback implements Store.
func (s *DuckDB) AppendFeedback(ctx context.Context, f Feedback) error {
	detail, err := json.Marshal(f.FeedbackDetail)
	if err != nil {
		return fmt.Errorf("store feedback: %w", err)
	}
	var until int64
	if f.Applied != nil {
		until = micros(f.Applied.Expiry)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO feedback (id, ts, kind, expr, ref, key, abuse, description, requests,
		first_seen, last_seen, detail, applied_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, micros(f.Time), f.Kind, f.Expression, f.Ref, f.Key, f.Abuse, f.Description, f.Requests,
		micros(f.FirstSeen), micros(f.LastSeen), string(detail), until)
	if err != nil {
		return fmt.Errorf("store feedback: %w", err)
	}
	return nil
}

// where renders f as a WHERE clause over the events columns (values are
// always bound parameters, never spliced into the SQL).
func where(f Filter, rollup bool) (string, []any) {
	return whereSpan(f, micros(f.From), micros(f.To), rollup)
}

// whereSpan is where over [from, to) in unix µs instead of f's range.
func whereSpan(f Filter, from, to int64, rollup bool) (string, []any) {
	var b strings.Builder
	args := []any{from, to}
	b.WriteString("ts >= ? AND ts < ?")
	if f.ScoreMin > 0 {
		b.WriteString(" AND score >= ?")
		args = append(args, f.ScoreMin)
	}
	if f.ScoreMax > 0 {
		b.WriteString(" AND score <= ?")
		args = append(args, f.ScoreMax)
	}
	if f.PathPrefix != "" && !rollup {
		b.WriteString(" AND starts_with(path, ?)")
		args = append(args, f.PathPrefix)
	}
	for _, d := range sortedDims(f.Match) {
		spec := dimSpecs[d]
		vals := f.Match[d]
		b.WriteString(" AND (")
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" OR ")
			}
			switch spec.kind {
			case dimKindList:
				b.WriteString("list_contains(" + spec.col + ", ?)")
				args = append(args, v)
			case dimKindIntList:
				n, _ := strconv.Atoi(v)
				b.WriteString("list_contains(" + spec.col + ", ?::INTEGER)")
				args = append(args, n)
			case dimKindInt:
				n, _ := strconv.Atoi(v)
				b.WriteString(spec.col + " = ?")
				args = append(args, n)
			default:
				b.WriteString(spec.col + " = ?")
				args = append(args, v)
			}
		}
		b.WriteString(")")
	}
	return b.String(), args
}

func sortedDims(m map[Dim][]string) []Dim {
	out := make([]Dim, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// source is the rows a count reads, each with its weight w (requests) and
// recs (records). cols are the selected expressions (each with its alias)
// over the events table; rollupCols the same over the rollup table, "" when
// the rollup does not keep them. When the filter reads only rolled-up
// attributes, the whole hours of the range that are rolled up are read
// from the rollup and the rest (the partial hours at either end, the hours
// not folded yet) from the detail: the same counts, from a few thousand
// rows an hour instead of every request. exact false (a timeseries step
// that is not a whole number of hours, whose buckets split an hour) uses
// the rollup only where the detail is gone.
func (s *DuckDB) source(f Filter, cols, rollupCols string, exact bool) (string, []any) {
	from, to := micros(f.From), micros(f.To)
	detail := func(lo, hi int64) (string, []any) {
		w, args := whereSpan(f, lo, hi, false)
		return "SELECT " + cols + ", sample AS w, 1 AS recs FROM events WHERE " + w, args
	}
	if rollupCols == "" || !f.rollupOnly() {
		return detail(from, to)
	}
	lo, hi := ceilHour(from), min(floorHour(to), s.rolledTo.Load())
	if !exact {
		hi = min(hi, s.detailFrom.Load())
	}
	if lo >= hi {
		return detail(from, to)
	}
	w, args := whereSpan(f, lo, hi, true)
	q := "SELECT " + rollupCols + ", w, recs FROM rollup WHERE " + w
	for _, span := range [][2]int64{{from, lo}, {hi, to}} {
		if span[0] < span[1] {
			dq, dargs := detail(span[0], span[1])
			q += " UNION ALL " + dq
			args = append(args, dargs...)
		}
	}
	return q, args
}

// Timeseries implements Store.
func (s *DuckDB) Timeseries(ctx context.Context, f Filter, step time.Duration, by Dim) ([]Point, error) {
	spec, ok := dimSpecs[by]
	if !ok || spec.kind == dimKindList || spec.kind == dimKindIntList {
		return nil, fmt.Errorf("by: cannot break a timeseries down by %q", by)
	}
	st := step.Microseconds()
	if st <= 0 {
		return nil, fmt.Errorf("step: must be positive")
	}
	// Group on the number and the column, never on a string built per row:
	// over 30 days that is millions of concatenations.
	cols := fmt.Sprintf("(ts // %d) * %d AS b, %s AS v", st, st, spec.col)
	rollupCols := ""
	if spec.rollup {
		rollupCols = cols
	}
	src, args := s.source(f, cols, rollupCols, st%hourMicros == 0)
	rows, err := s.db.QueryContext(ctx, "SELECT b, CAST(v AS VARCHAR), sum(w), sum(recs) FROM ("+src+") GROUP BY b, v ORDER BY b, v", args...)
	if err != nil {
		return nil, fmt.Errorf("timeseries: %w", err)
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var b int64
		var v sql.NullString
		var p Point
		if err := rows.Scan(&b, &v, &p.Count, &p.Sample); err != nil {
			return nil, fmt.Errorf("timeseries: %w", err)
		}
		p.Time, p.Value = time.UnixMicro(b).UTC(), v.String
		out = append(out, p)
	}
	return out, rows.Err()
}

// Histogram implements Store: counts per score 0–99.
func (s *DuckDB) Histogram(ctx context.Context, f Filter) ([]Count, error) {
	return s.count(ctx, f, "score", "score", "CAST(s AS INTEGER)", 100, "")
}

// Top implements Store.
func (s *DuckDB) Top(ctx context.Context, f Filter, by Dim, n int) ([]Count, error) {
	spec, ok := dimSpecs[by]
	if !ok {
		return nil, fmt.Errorf("by: unknown attribute %q", by)
	}
	if n <= 0 || n > 1000 {
		return nil, fmt.Errorf("limit: want 1-1000, got %d", n)
	}
	expr := spec.col
	if spec.kind == dimKindList || spec.kind == dimKindIntList {
		expr = "unnest(" + spec.col + ")"
	}
	rollupExpr := ""
	if spec.rollup {
		rollupExpr = expr
	}
	// An ASN or status of 0 is "not known" (no database entry, no
	// access-log entry), not a value to list: like an empty string, left
	// out.
	unknown := ""
	if by == DimASN || by == DimStatus {
		unknown = "0"
	}
	return s.count(ctx, f, expr, rollupExpr, "c DESC, s", n, unknown)
}

func (s *DuckDB) count(ctx context.Context, f Filter, expr, rollupExpr, order string, n int, unknown string) ([]Count, error) {
	if rollupExpr != "" {
		rollupExpr += " AS v"
	}
	src, args := s.source(f, expr+" AS v", rollupExpr, true)
	// Group on the column itself and render only the groups as text: a cast
	// per row costs more than the whole aggregation.
	q := "SELECT s, c, r FROM (SELECT CAST(v AS VARCHAR) AS s, sum(w) AS c, sum(recs) AS r FROM (" + src + ") GROUP BY v)" +
		" WHERE s IS NOT NULL AND s <> '' AND s <> ? ORDER BY " + order + " LIMIT " + strconv.Itoa(n)
	rows, err := s.db.QueryContext(ctx, q, append(args, unknown)...)
	if err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Value, &c.Count, &c.Sample); err != nil {
			return nil, fmt.Errorf("count: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// pageToken continues after (ts, ref), the sort key of the last record.
func pageToken(ts int64, ref string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(ts, 10) + ":" + ref))
}

func parsePageToken(tok string) (int64, string, error) {
	if len(tok) > 128 {
		return 0, "", errors.New("page: token too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, "", errors.New("page: malformed token")
	}
	a, ref, ok := strings.Cut(string(raw), ":")
	ts, err := strconv.ParseInt(a, 10, 64)
	if !ok || err != nil {
		return 0, "", errors.New("page: malformed token")
	}
	return ts, ref, nil
}

// Events implements Store. The newest records are found by widening a
// window back from f.To: data arrives in time order, so DuckDB skips every
// row group outside the window by its min/max and the first page reads only
// the last hour or so, however long the range.
func (s *DuckDB) Events(ctx context.Context, f Filter, limit int, token string) ([]Record, string, error) {
	if limit <= 0 || limit > 1000 {
		return nil, "", fmt.Errorf("limit: want 1-1000, got %d", limit)
	}
	var afterTS int64
	var afterRef string
	if token != "" {
		var err error
		if afterTS, afterRef, err = parsePageToken(token); err != nil {
			return nil, "", err
		}
		if t := time.UnixMicro(afterTS + 1); t.Before(f.To) {
			f.To = t
		}
	}
	var out []Record
	for win := time.Hour; ; win *= 8 {
		g := f
		if g.To.Add(-win).After(g.From) {
			g.From = g.To.Add(-win)
		}
		recs, err := s.page(ctx, g, limit, token != "", afterTS, afterRef)
		if err != nil {
			return nil, "", err
		}
		if len(recs) >= limit || !g.From.After(f.From) {
			out = recs
			break
		}
	}
	next := ""
	if len(out) == limit {
		last := out[len(out)-1]
		next = pageToken(micros(last.Time), last.Ref)
	}
	return out, next, nil
}

func (s *DuckDB) page(ctx context.Context, f Filter, limit int, after bool, afterTS int64, afterRef string) ([]Record, error) {
	w, args := where(f, false)
	if after {
		w += " AND (ts < ? OR (ts = ? AND ref < ?))"
		args = append(args, afterTS, afterTS, afterRef)
	}
	// Two steps: find the page's keys reading only the sort and filter
	// columns, then read the thirty columns of those rows alone (their
	// time span prunes every other row group).
	keys, err := s.db.QueryContext(ctx, "SELECT ts, ref FROM events WHERE "+w+" ORDER BY ts DESC, ref DESC LIMIT "+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	var lo, hi int64
	var refs []any
	for keys.Next() {
		var ts int64
		var ref string
		if err := keys.Scan(&ts, &ref); err != nil {
			keys.Close()
			return nil, fmt.Errorf("events: %w", err)
		}
		if len(refs) == 0 || ts < lo {
			lo = ts
		}
		if len(refs) == 0 || ts > hi {
			hi = ts
		}
		refs = append(refs, ref)
	}
	keys.Close()
	if err := keys.Err(); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if len(refs) == 0 {
		return nil, nil
	}
	w2, args2 := where(f, false)
	w2 += " AND ts >= ? AND ts <= ? AND ref IN (?" + strings.Repeat(", ?", len(refs)-1) + ")"
	args2 = append(append(args2, lo, hi), refs...)
	if after {
		w2 += " AND (ts < ? OR (ts = ? AND ref < ?))"
		args2 = append(args2, afterTS, afterTS, afterRef)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+eventCols+" FROM events WHERE "+w2+" ORDER BY ts DESC, ref DESC LIMIT "+strconv.Itoa(limit), args2...)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var ts int64
		var tags, dids duckdb.Composite[[]any]
		var asn, status, sample, score int32
		var js sql.NullBool
		if err := rows.Scan(&ts, &r.Ref, &sample, &score, &r.BotScoreSrc, &r.BotCategory, &tags, &dids, &r.JA4, &js,
			&r.VerifiedBot, &r.VerifiedBotCategory, &r.AICategory, &r.Action, &r.EnforcedAction, &r.RuleID, &r.Mode,
			&r.SessionID, &r.ClientIP, &r.ClientNet, &asn, &r.ClientCountry, &r.Method, &r.Host, &r.Path, &r.UserAgent,
			&status, &r.ResponseBytes, &r.DurationMs, &r.Logged); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		r.Time = time.UnixMicro(ts).UTC()
		r.SampleInterval, r.BotScore, r.ClientASN, r.Status = int(sample), int(score), int(asn), int(status)
		r.JSDetectionPassed = jsResult(js)
		for _, t := range tags.Get() {
			if s, ok := t.(string); ok {
				r.BotTags = append(r.BotTags, s)
			}
		}
		for _, d := range dids.Get() {
			if n, ok := d.(int32); ok {
				r.BotDetectionIDs = append(r.BotDetectionIDs, int(n))
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Verdicts implements Store.
func (s *DuckDB) Verdicts(ctx context.Context, from, to time.Time, limit int) ([]VerdictRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT ts, key, score, src, tags, expiry FROM verdicts WHERE ts >= ? AND ts < ? ORDER BY ts DESC LIMIT ?`,
		micros(from), micros(to), limit)
	if err != nil {
		return nil, fmt.Errorf("verdicts: %w", err)
	}
	defer rows.Close()
	var out []VerdictRecord
	for rows.Next() {
		var v VerdictRecord
		var ts, exp int64
		var tags duckdb.Composite[[]any]
		if err := rows.Scan(&ts, &v.Key, &v.Score, &v.Source, &tags, &exp); err != nil {
			return nil, fmt.Errorf("verdicts: %w", err)
		}
		v.Time, v.Expiry = time.UnixMicro(ts).UTC(), time.UnixMicro(exp).UTC()
		for _, t := range tags.Get() {
			if s, ok := t.(string); ok {
				v.Tags = append(v.Tags, s)
			}
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// FeedbackList implements Store.
func (s *DuckDB) FeedbackList(ctx context.Context, q FeedbackQuery) ([]Feedback, error) {
	cond, args := "", []any{}
	if !q.LiveAt.IsZero() {
		cond, args = "WHERE applied_until > ?", append(args, micros(q.LiveAt))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, ts, kind, expr, ref, key, abuse, description, requests, first_seen, last_seen,
		coalesce(detail, '') FROM feedback `+cond+` ORDER BY ts DESC LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	defer rows.Close()
	var out []Feedback
	for rows.Next() {
		var f Feedback
		var ts, first, last int64
		var detail string
		if err := rows.Scan(&f.ID, &ts, &f.Kind, &f.Expression, &f.Ref, &f.Key, &f.Abuse, &f.Description, &f.Requests, &first, &last, &detail); err != nil {
			return nil, fmt.Errorf("feedback: %w", err)
		}
		f.Time = time.UnixMicro(ts).UTC()
		if first != 0 {
			f.FirstSeen, f.LastSeen = time.UnixMicro(first).UTC(), time.UnixMicro(last).UTC()
		}
		if detail != "" {
			if err := json.Unmarshal([]byte(detail), &f.FeedbackDetail); err != nil {
				return nil, fmt.Errorf("feedback %s: detail: %w", f.ID, err)
			}
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// foldDelay is how long after an hour ends it is folded: past the join
// window and the writer's flush, so that late records (which Append adds
// to the rollup itself) are rare.
const foldDelay = 5 * time.Minute

// Maintain implements Store: it folds the closed hours into the rollup,
// deletes detail past the retention and, while the file is over MaxBytes,
// the oldest tenth of the detail left (its hours stay in the rollup).
// Rollups are kept for the longest range a chart asks (MaxRange) or the
// retention if that is longer.
func (s *DuckDB) Maintain(ctx context.Context, now time.Time) error {
	if err := s.fold(ctx, micros(now.Add(-foldDelay).Truncate(time.Hour))); err != nil {
		return err
	}
	if s.cfg.Retention > 0 {
		if err := s.dropDetail(ctx, micros(now.Add(-s.cfg.Retention).Truncate(time.Hour))); err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		keep := max(s.cfg.Retention, MaxRange)
		if _, err := s.db.ExecContext(ctx, `DELETE FROM rollup WHERE ts < ?`, micros(now.Add(-keep).Truncate(time.Hour))); err != nil {
			return fmt.Errorf("retention: rollup: %w", err)
		}
		for _, table := range []string{"verdicts", "challenges", "training"} {
			if _, err := s.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE ts < ?`, micros(now.Add(-s.cfg.Retention))); err != nil {
				return fmt.Errorf("retention: %s: %w", table, err)
			}
		}
	}
	for range 8 {
		st, err := s.Stats(ctx)
		if err != nil {
			return err
		}
		if s.cfg.MaxBytes <= 0 || st.Bytes <= s.cfg.MaxBytes || st.Records == 0 {
			return nil
		}
		// Drop a tenth of the detail span at a time, at least an hour;
		// fold it first if the fold has not reached it (the rollup then
		// takes the rest of a current hour through Append).
		cut := micros(st.Oldest.Add(max(st.Newest.Sub(st.Oldest)/10, time.Hour)).Truncate(time.Hour))
		if err := s.fold(ctx, cut); err != nil {
			return err
		}
		if err := s.dropDetail(ctx, cut); err != nil {
			return fmt.Errorf("size cap: %w", err)
		}
		if _, err := s.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
			return fmt.Errorf("size cap: checkpoint: %w", err)
		}
	}
	return nil
}

// fold adds the detail of [rolledTo, cut) to the rollup, a day at a time:
// each day is one transaction that also moves the watermark, under the
// writer's lock, so that a record is counted by the fold or by Append's
// late path, never both or neither.
func (s *DuckDB) fold(ctx context.Context, cut int64) error {
	for {
		done, err := s.foldDay(ctx, cut)
		if err != nil || done {
			return err
		}
	}
}

func (s *DuckDB) foldDay(ctx context.Context, cut int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true, errors.New("analytics store closed")
	}
	w := s.rolledTo.Load()
	if w >= cut {
		return true, nil
	}
	// Skip the empty stretch to the next record (a new store starts at 0).
	var next sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT min(ts) FROM events WHERE ts >= ? AND ts < ?`, w, cut).Scan(&next); err != nil {
		return false, fmt.Errorf("rollup: %w", err)
	}
	hi := cut
	if next.Valid {
		hi = min(floorHour(next.Int64)+24*hourMicros, cut)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("rollup: %w", err)
	}
	defer tx.Rollback()
	if next.Valid {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rollup SELECT (ts // 3600000000) * 3600000000, cat, src, action, enforced, mode, score,
			sum(sample), count(*) FROM events WHERE ts >= ? AND ts < ? GROUP BY ALL`, w, hi); err != nil {
			return false, fmt.Errorf("rollup: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rollup_state SET rolled_to = ?`, hi); err != nil {
		return false, fmt.Errorf("rollup: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("rollup: %w", err)
	}
	s.rolledTo.Store(hi)
	return hi >= cut, nil
}

// dropDetail deletes the detail before cut, which must be folded already.
func (s *DuckDB) dropDetail(ctx context.Context, cut int64) error {
	cut = min(cut, s.rolledTo.Load())
	if cut <= 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE ts < ?`, cut); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	cut = max(cut, s.detailFrom.Load())
	if _, err := tx.ExecContext(ctx, `UPDATE rollup_state SET detail_from = ?`, cut); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.detailFrom.Store(cut)
	return nil
}

// Stats implements Store.
func (s *DuckDB) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	var oldest, newest, rollFrom sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*), min(ts), max(ts), (SELECT min(ts) FROM rollup) FROM events`).
		Scan(&st.Records, &oldest, &newest, &rollFrom); err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	if oldest.Valid {
		st.Oldest, st.Newest = time.UnixMicro(oldest.Int64).UTC(), time.UnixMicro(newest.Int64).UTC()
	}
	if rollFrom.Valid && (!oldest.Valid || rollFrom.Int64 < oldest.Int64) {
		st.RollupFrom = time.UnixMicro(rollFrom.Int64).UTC()
	}
	var blockSize, used int64
	if err := s.db.QueryRowContext(ctx, `SELECT block_size, used_blocks FROM pragma_database_size()`).Scan(&blockSize, &used); err != nil {
		return st, fmt.Errorf("stats: size: %w", err)
	}
	st.Bytes = blockSize * used
	return st, nil
}

// Close implements Store (a checkpoint writes everything to the file).
func (s *DuckDB) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.conn.Close()
	return s.db.Close()
}
