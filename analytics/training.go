package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/detect/network"
	"github.com/botwarden/botwarden/detect/reputation"
	"github.com/botwarden/botwarden/detect/session"
)

// Labelled training data from feedback. The store keeps only a few request
// fields, too few for `botwarden train`, whose model reads the headers; so
// labels are applied going forward: while an operator's report about a
// client is live, every request of that client is also kept whole, as a
// training example labelled by the report (an exemption: human; a false
// negative: bot). GET /api/v1/training (and `botwarden analytics
// training`) returns them in the JSON-lines format `botwarden train` reads.

// maxTrainingPerKey bounds what one reported client can add: a scraper
// labelled bot must not fill the store with its requests.
const maxTrainingPerKey = 1000

// redacted replaces credentials in kept headers: their presence is a
// feature, their value is nobody's business.
var redactedHeaders = []string{"cookie", "authorization", "proxy-authorization"}

// TrainingRecord is one labelled request.
type TrainingRecord struct {
	Time    time.Time
	Key     string // the report's reputation key, feedback:<client key>
	Example ml.Example
}

// trainingLabel is the label the live reports about this request's client
// give it (their tags are merged into Reputation): human for an
// exemption, bot for a false negative, "" for none or when they disagree.
func trainingLabel(v *detect.Verdict) string {
	rep := &v.Reputation
	if !rep.Found {
		return ""
	}
	fn := slices.Contains(rep.Tags, reputation.TagFalseNegative)
	switch {
	case rep.Exempt && !fn:
		return ml.LabelHuman
	case fn && !rep.Exempt:
		return ml.LabelBot
	}
	return ""
}

// trainingRecord copies what the model reads from the request (r and v
// belong to the request and are reused after Finish).
func trainingRecord(r *detect.Request, v *detect.Verdict, label string) *TrainingRecord {
	h := make(map[string]string, len(r.Headers))
	for k, val := range r.Headers {
		if strings.HasPrefix(k, detect.HeaderPrefixWarden) || strings.HasPrefix(k, detect.HeaderPrefixBot) {
			continue // set by the proxy or botwarden, not the client
		}
		if slices.Contains(redactedHeaders, k) {
			val = "redacted"
		}
		h[k] = val
	}
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	return &TrainingRecord{Time: t, Key: v.Reputation.Key, Example: ml.Example{
		Method: r.Method, Scheme: r.Scheme, Host: r.Host, Path: r.Path, Protocol: r.Protocol,
		Headers: h, HeaderOrder: slices.Clone(r.HeaderOrder),
		Datacenter: v.IP.Datacenter, PrivateRelay: v.IP.PrivateRelay,
		Cloud:          slices.ContainsFunc(v.Tags, func(t string) bool { return strings.HasPrefix(t, network.TagCloudPrefix) }),
		VPN:            v.HasTag(network.TagVPN),
		ForeignSession: v.HasTag(session.TagForeignSession),
		Label:          label, Source: "feedback", Category: v.Reputation.Key,
	}}
}

// trainingSchema is the table of labelled requests (a file written before
// it gains it on open).
const trainingSchema = `
CREATE TABLE IF NOT EXISTS training (ts BIGINT NOT NULL, key VARCHAR, label VARCHAR, example VARCHAR);
`

// AppendTraining implements Store.
func (s *DuckDB) AppendTraining(ctx context.Context, ts []TrainingRecord) error {
	return s.insertRows(ctx, "training", 4, len(ts), func(i int) ([]any, error) {
		ex, err := json.Marshal(ts[i].Example)
		return []any{micros(ts[i].Time), ts[i].Key, ts[i].Example.Label, string(ex)}, err
	})
}

// TrainingExamples implements Store: the labelled requests in [from, to),
// oldest first.
func (s *DuckDB) TrainingExamples(ctx context.Context, from, to time.Time, limit int) ([]TrainingRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT ts, key, example FROM training WHERE ts >= ? AND ts < ? ORDER BY ts LIMIT ?`,
		micros(from), micros(to), limit)
	if err != nil {
		return nil, fmt.Errorf("training: %w", err)
	}
	defer rows.Close()
	var out []TrainingRecord
	for rows.Next() {
		var t TrainingRecord
		var ts int64
		var ex string
		if err := rows.Scan(&ts, &t.Key, &ex); err != nil {
			return nil, fmt.Errorf("training: %w", err)
		}
		if err := json.Unmarshal([]byte(ex), &t.Example); err != nil {
			return nil, fmt.Errorf("training: %w", err)
		}
		t.Time = time.UnixMicro(ts).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// training answers GET /api/v1/training: the labelled requests of the
// filter's time range as `botwarden train` JSON lines.
func (s *Service) training(w http.ResponseWriter, r *http.Request) {
	own, q := params(r, "limit")
	n, err := intParam(own, "limit", 100_000, 1, 1_000_000)
	if err != nil {
		badRequest(w, err)
		return
	}
	st, f, ok := s.prepare(w, q)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	recs, err := st.TrainingExamples(ctx, f.From, f.To, n)
	if err != nil {
		fail(w, err)
		return
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, t := range recs {
		enc.Encode(t.Example)
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}
