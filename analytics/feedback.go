package analytics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/botwarden/botwarden/analytics/logpush"
	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/reputation"
)

// Who reported (Feedback.Origin).
const (
	OriginOperator = "operator"
	OriginVisitor  = "visitor"
)

// Feedback kinds.
const (
	FalsePositive = "false_positive"
	FalseNegative = "false_negative"
)

// Bounds of a report's verdict lifetime (FeedbackRequest.TTL).
const (
	defaultFeedbackTTL = 24 * time.Hour
	minFeedbackTTL     = time.Minute
	maxFeedbackTTL     = 30 * 24 * time.Hour
	// maxLiveFeedback bounds the verdicts the refresher rewrites: an
	// operator files reports by hand, so this is far beyond use.
	maxLiveFeedback = 10_000
)

// Reputation is where operators' reports act: the reputation store the
// next Check reads (a reputation.Store: the embedded one, or Redis shared
// by every replica) and the lookup's key rules.
type Reputation struct {
	Store interface {
		Put(ctx context.Context, v reputation.Verdict) error
	}
	// ParseKey puts a client key an operator typed in the exact form the
	// engine looks up (reputation.EngineConfig.ParseKey).
	ParseKey func(string) (string, error)
	// Refresh is how often the live report verdicts are written again: a
	// store keeps a verdict at most its max_ttl, and the embedded one
	// forgets everything when the process restarts, while a report's
	// verdict lasts its own ttl (up to 30 days). Zero means 5 minutes.
	Refresh time.Duration
}

// UseReputation connects reports to the reputation store. Without it a
// report is stored and exported but applies nothing.
func (s *Service) UseReputation(r Reputation) { s.rep = r }

// FeedbackRequest is the body of POST /api/v1/feedback; the query string
// is the filter the report is about (its expression is recorded).
type FeedbackRequest struct {
	Kind        string `json:"kind"`
	Ref         string `json:"ray_id"`
	Key         string `json:"key"`
	Abuse       string `json:"abuse"`
	Description string `json:"description"`
	// TTL is how long the report's verdict lasts (a Go duration, 1m–720h;
	// default 24h): the exemption of a false positive, the verdict of a
	// false negative.
	TTL string `json:"ttl"`
	// Score is a false negative's verdict score, 1–29 (default 1: what
	// the default policy blocks; 2–29 is challenged).
	Score int `json:"score"`
}

var abuseKinds = []string{"scraping", "credential_stuffing", "inventory_hoarding", "card_testing", "spam", "ddos", "other"}

// Validate names the first bad field.
func (fr FeedbackRequest) Validate() error {
	switch {
	case fr.Kind != FalsePositive && fr.Kind != FalseNegative:
		return fmt.Errorf("kind: want false_positive or false_negative, got %q", fr.Kind)
	case len(fr.Description) > 4096:
		return fmt.Errorf("description: longer than 4096 bytes")
	case len(fr.Ref) > 64:
		return fmt.Errorf("ray_id: longer than 64 bytes")
	case len(fr.Key) > 1024:
		return fmt.Errorf("key: longer than 1024 bytes")
	case fr.Kind == FalseNegative && fr.Abuse != "" && !slices.Contains(abuseKinds, fr.Abuse):
		return fmt.Errorf("abuse: want one of %s, got %q", strings.Join(abuseKinds, ", "), fr.Abuse)
	case fr.Kind == FalsePositive && fr.Score != 0:
		return fmt.Errorf("score: only a false_negative sets a score")
	case fr.Score != 0 && (fr.Score < detect.ScoreAutomated || fr.Score >= detect.ScoreLikelyHuman):
		return fmt.Errorf("score: want 1-29, got %d", fr.Score)
	}
	if _, err := fr.ttl(); err != nil {
		return err
	}
	return nil
}

func (fr FeedbackRequest) ttl() (time.Duration, error) {
	if fr.TTL == "" {
		return defaultFeedbackTTL, nil
	}
	d, err := time.ParseDuration(fr.TTL)
	if err != nil || d < minFeedbackTTL || d > maxFeedbackTTL {
		return 0, fmt.Errorf("ttl: want a duration from %s to %s, got %q", minFeedbackTTL, maxFeedbackTTL, fr.TTL)
	}
	return d, nil
}

// errBadKey marks a report whose client key the lookup cannot use (400).
var errBadKey = errors.New("key")

func (s *Service) feedbackList(w http.ResponseWriter, r *http.Request) {
	st, err := s.available()
	if err != nil {
		fail(w, err)
		return
	}
	q := FeedbackQuery{Limit: 500}
	switch v := r.URL.Query().Get("live"); v {
	case "", "false":
	case "true":
		q.LiveAt = s.now()
	default:
		badRequest(w, fmt.Errorf("live: want true or false, got %q", v))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	list, err := st.FeedbackList(ctx, q)
	if err != nil {
		fail(w, err)
		return
	}
	if list == nil {
		list = []Feedback{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"feedback": list})
}

func (s *Service) feedback(w http.ResponseWriter, r *http.Request) {
	var fr FeedbackRequest
	if err := decodeBody(r, &fr); err != nil {
		badRequest(w, err)
		return
	}
	if err := fr.Validate(); err != nil {
		badRequest(w, err)
		return
	}
	q := r.URL.Query()
	if fr.Ref != "" {
		q.Set(string(DimRef), fr.Ref)
	}
	st, f, ok := s.prepare(w, q)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	fb, err := s.Report(ctx, st, f, fr, OriginOperator)
	if errors.Is(err, errBadKey) {
		badRequest(w, err)
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, fb)
}

// Report records a feedback item with what the filter selects — its
// expression, request count, first and last request seen, requests by
// score band and score source, top client addresses and user agents —
// and, for an operator's report about a client key, applies it: a false
// positive exempts the key from the analysis's verdicts and from
// challenges, a false negative publishes a verdict on it, both for the
// report's ttl. A report about a request (ray_id) without a key is about
// that request's client address. A visitor's report applies nothing: an
// operator reads it and decides.
func (s *Service) Report(ctx context.Context, st Store, f Filter, fr FeedbackRequest, origin string) (Feedback, error) {
	key := fr.Key
	apply := origin == OriginOperator && s.rep.Store != nil
	if apply && key != "" {
		k, err := s.rep.ParseKey(key)
		if err != nil {
			return Feedback{}, fmt.Errorf("%w: %v", errBadKey, err)
		}
		key = k
	}
	var id [8]byte
	rand.Read(id[:])
	expr, _ := f.Expression()
	fb := Feedback{ID: hex.EncodeToString(id[:]), Time: s.now().UTC(), Kind: fr.Kind, Expression: expr, Ref: fr.Ref, Key: key,
		Abuse: fr.Abuse, Description: fr.Description}
	fb.Origin = origin
	h, err := st.Histogram(ctx, f)
	if err != nil {
		return fb, err
	}
	for _, c := range h {
		fb.Requests += c.Count
	}
	fb.ByScore = scoreBands(h)
	for _, b := range []struct {
		dst *[]Count
		by  Dim
		n   int
	}{{&fb.BySource, DimSource, 10}, {&fb.TopIPs, DimIP, 5}, {&fb.TopUserAgents, DimUserAgent, 5}} {
		if *b.dst, err = st.Top(ctx, f, b.by, b.n); err != nil {
			return fb, err
		}
	}
	// First seen to the minute (the first step of a one-minute series),
	// last seen exactly (the explorer's newest record).
	if pts, err := st.Timeseries(ctx, f, time.Minute, DimCategory); err == nil && len(pts) > 0 {
		fb.FirstSeen = pts[0].Time
	}
	if recs, _, err := st.Events(ctx, f, 1, ""); err == nil && len(recs) == 1 {
		fb.LastSeen = recs[0].Time
		if fb.Key == "" && fb.Ref != "" && recs[0].ClientIP != "" {
			fb.Key = "ip:" + recs[0].ClientIP
		}
	}
	if apply && fb.Key != "" {
		ttl, _ := fr.ttl() // Validate checked it
		fb.Applied = applied(fr, fb.Key, fb.Time.Add(ttl))
	}
	if err := st.AppendFeedback(ctx, fb); err != nil {
		return fb, err
	}
	if fb.Applied != nil {
		// Stored first: a failed write is retried by the refresher, and
		// the report itself is never lost.
		v := fb.Applied.verdict()
		if err := s.rep.Store.Put(ctx, v); err != nil {
			s.log.Warn().Err(err).Str("key", v.Key).Msg("feedback verdict not written yet; retried by the refresher")
		}
		s.In.RecordVerdict(v)
	}
	for _, j := range s.feedbackJobs {
		j.Offer(fb)
	}
	return fb, nil
}

// applied is the reputation verdict of an operator's report about key.
func applied(fr FeedbackRequest, key string, expiry time.Time) *Applied {
	a := &Applied{Key: reputation.KeyFeedback(key), Expiry: expiry}
	if fr.Kind == FalsePositive {
		a.Score, a.Tags = detect.ScoreMax, []string{reputation.TagExempt}
		return a
	}
	a.Score, a.Tags = detect.ScoreAutomated, []string{reputation.TagFalseNegative}
	if fr.Score != 0 {
		a.Score = fr.Score
	}
	if fr.Abuse != "" {
		a.Tags = append(a.Tags, fr.Abuse)
	}
	return a
}

func (a Applied) verdict() reputation.Verdict {
	return reputation.Verdict{Key: a.Key, Score: a.Score, Source: detect.SourceReputation, Tags: a.Tags, Expiry: a.Expiry}
}

// scoreBands folds a score histogram into the bands a report shows:
// automated (1), likely automated (2–29), likely human (30–99), not
// computed (0). Empty bands are left out.
func scoreBands(h []Count) []Count {
	bands := []Count{{Value: "1"}, {Value: "2-29"}, {Value: "30-99"}, {Value: "not_computed"}}
	for _, c := range h {
		n, err := strconv.Atoi(c.Value)
		i := 3
		switch {
		case err != nil || n <= 0:
		case n == 1:
			i = 0
		case n < detect.ScoreLikelyHuman:
			i = 1
		default:
			i = 2
		}
		bands[i].Count += c.Count
		bands[i].Sample += c.Sample
	}
	return slices.DeleteFunc(bands, func(c Count) bool { return c.Count == 0 })
}

// refreshFeedback writes the live report verdicts again at start and
// every Reputation.Refresh, oldest first so that the newest report about
// a key wins, until ctx ends.
func (s *Service) refreshFeedback(ctx context.Context) {
	if s.rep.Store == nil || s.Store == nil {
		return
	}
	every := s.rep.Refresh
	if every <= 0 {
		every = 5 * time.Minute
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := s.republish(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("feedback verdicts not refreshed")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Service) republish(ctx context.Context) error {
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	live, err := s.Store.FeedbackList(qctx, FeedbackQuery{Limit: maxLiveFeedback, LiveAt: s.now()})
	if err != nil {
		return err
	}
	var errs []error
	for _, fb := range slices.Backward(live) {
		if fb.Applied == nil {
			continue
		}
		if err := s.rep.Store.Put(ctx, fb.Applied.verdict()); err != nil {
			errs = append(errs, fmt.Errorf("feedback %s: %w", fb.ID, err))
		}
	}
	return errors.Join(errs...)
}

// FeedbackSchema describes feedback items to export jobs of dataset
// feedback: every report, as the API lists it.
var FeedbackSchema = logpush.Schema{Kind: "feedback", Fields: jsonNames(reflect.TypeFor[Feedback]()), TimeField: "time"}

// ExportTime implements logpush.Item.
func (f Feedback) ExportTime() time.Time { return f.Time }

// ExportKey implements logpush.Item: the report's id.
func (f Feedback) ExportKey() string { return f.ID }
