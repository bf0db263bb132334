package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/botwarden/botwarden/detect/catalogue"
)

// Handler serves the JSON API under /api/v1/ (mount it at "/api/v1/").
// Every endpoint that reads records takes the filter language in its query
// string (see Filter) besides its own parameters.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", s.status)
	mux.HandleFunc("GET /api/v1/attributes", s.attributes)
	mux.HandleFunc("GET /api/v1/timeseries", s.timeseries)
	mux.HandleFunc("GET /api/v1/histogram", s.histogram)
	mux.HandleFunc("GET /api/v1/top", s.top)
	mux.HandleFunc("GET /api/v1/events", s.events)
	mux.HandleFunc("GET /api/v1/verdicts", s.verdicts)
	mux.HandleFunc("GET /api/v1/expression", s.expression)
	mux.HandleFunc("POST /api/v1/draft", s.draft)
	mux.HandleFunc("GET /api/v1/challenges", s.challenges)
	mux.HandleFunc("GET /api/v1/training", s.training)
	mux.HandleFunc("GET /api/v1/feedback", s.feedbackList)
	mux.HandleFunc("POST /api/v1/feedback", s.feedback)
	return mux
}

// queryTimeout bounds one API query: a dashboard must not pin the store.
const queryTimeout = 30 * time.Second

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func badRequest(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
}

// fail answers a store or query error: 503 when there is no store, 500
// otherwise; never partial numbers.
func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if strings.HasPrefix(err.Error(), "analytics store unavailable") {
		code = http.StatusServiceUnavailable
	}
	if errors.Is(err, context.DeadlineExceeded) {
		code = http.StatusGatewayTimeout
	}
	writeJSON(w, code, apiError{err.Error()})
}

// params splits the endpoint's own parameters from the filter's.
func params(r *http.Request, own ...string) (url.Values, url.Values) {
	q := r.URL.Query()
	mine := url.Values{}
	for _, k := range own {
		if v, ok := q[k]; ok {
			mine[k] = v
			delete(q, k)
		}
	}
	return mine, q
}

func intParam(v url.Values, name string, def, lo, hi int) (int, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: want %d-%d, got %q", name, lo, hi, s)
	}
	return n, nil
}

// prepare parses the filter and finds the store.
func (s *Service) prepare(w http.ResponseWriter, q url.Values) (Store, Filter, bool) {
	f, err := ParseFilter(q, s.now())
	if err != nil {
		badRequest(w, err)
		return nil, f, false
	}
	st, err := s.available()
	if err != nil {
		fail(w, err)
		return nil, f, false
	}
	return st, f, true
}

// Status is the store's health and sampling, shown on every dashboard page.
type Status struct {
	Available      bool      `json:"available"`
	Error          string    `json:"error,omitempty"`
	ErrorAt        time.Time `json:"error_at,omitzero"`
	SampleInterval int       `json:"sample_interval"`
	Stats          Stats     `json:"stats"`
}

func (s *Service) status(w http.ResponseWriter, r *http.Request) {
	st := Status{Available: s.Store != nil, SampleInterval: s.In.SampleInterval()}
	if err, at := s.In.Err(); err != nil {
		st.Error, st.ErrorAt = err.Error(), at
	}
	if s.Store != nil {
		ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
		defer cancel()
		stats, err := s.Store.Stats(ctx)
		if err != nil {
			st.Error = err.Error()
		}
		st.Stats = stats
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Service) attributes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"attributes": Dims()})
}

// autoStep picks a step giving about 60–120 points over the range.
func autoStep(d time.Duration) time.Duration {
	for _, st := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 24 * time.Hour} {
		if d/st <= 120 {
			return st
		}
	}
	return 24 * time.Hour
}

// Series is a timeseries answer.
type Series struct {
	Step   string  `json:"step"`
	By     Dim     `json:"by"`
	Points []Point `json:"points"`
	// Interval95 is the half-width of a 95% confidence interval on the total
	// when records were sampled (0 when every request is stored).
	Interval95 float64 `json:"interval95"`
	Total      int64   `json:"total"`
}

// confidence95 estimates the 95% half-width of a count scaled from a
// sample: each kept record stands for k requests, so the variance of the
// estimate is about sum(k*(k-1)) over kept records, here approximated per
// row from its mean interval.
func confidence95(rows []Count) float64 {
	var v float64
	for _, c := range rows {
		if c.Sample > 0 && c.Count > c.Sample {
			k := float64(c.Count) / float64(c.Sample)
			v += float64(c.Count) * (k - 1)
		}
	}
	return 1.96 * math.Sqrt(v)
}

// prepareSeries is prepare for a series: also its step (stepFor).
func (s *Service) prepareSeries(w http.ResponseWriter, q url.Values, step string) (Store, Filter, time.Duration, bool) {
	st, f, ok := s.prepare(w, q)
	if !ok {
		return nil, f, 0, false
	}
	d, err := stepFor(step, f)
	if err != nil {
		badRequest(w, err)
		return nil, f, 0, false
	}
	return st, f, d, true
}

// stepFor is a series' step: v ("" or auto: chosen for the range) or a
// duration of at least a minute and at most 2000 steps over f's range.
func stepFor(v string, f Filter) (time.Duration, error) {
	if v == "" || v == "auto" {
		return autoStep(f.To.Sub(f.From)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute || f.To.Sub(f.From)/d > 2000 {
		return 0, fmt.Errorf("step: want auto or a duration of at least 1m and at most 2000 steps over the range, got %q", v)
	}
	return d, nil
}

func (s *Service) timeseries(w http.ResponseWriter, r *http.Request) {
	own, q := params(r, "by", "step")
	by := DimCategory
	if b := own.Get("by"); b != "" {
		d, err := ParseDim(b)
		if err != nil {
			badRequest(w, fmt.Errorf("by: %w", err))
			return
		}
		by = d
	}
	st, f, step, ok := s.prepareSeries(w, q, own.Get("step"))
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	pts, err := st.Timeseries(ctx, f, step, by)
	if err != nil {
		fail(w, err)
		return
	}
	out := Series{Step: step.String(), By: by, Points: pts}
	rows := make([]Count, len(pts))
	for i, p := range pts {
		rows[i] = Count{Count: p.Count, Sample: p.Sample}
		out.Total += p.Count
	}
	out.Interval95 = confidence95(rows)
	if out.Points == nil {
		out.Points = []Point{}
	}
	writeJSON(w, http.StatusOK, out)
}

// Counts is a top-N or histogram answer.
type Counts struct {
	By         Dim     `json:"by"`
	Rows       []Count `json:"rows"`
	Interval95 float64 `json:"interval95"`
}

func (s *Service) histogram(w http.ResponseWriter, r *http.Request) {
	st, f, ok := s.prepare(w, r.URL.Query())
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	rows, err := st.Histogram(ctx, f)
	if err != nil {
		fail(w, err)
		return
	}
	if rows == nil {
		rows = []Count{}
	}
	writeJSON(w, http.StatusOK, Counts{By: DimScore, Rows: rows, Interval95: confidence95(rows)})
}

func (s *Service) top(w http.ResponseWriter, r *http.Request) {
	own, q := params(r, "by", "limit")
	d, err := ParseDim(own.Get("by"))
	if err != nil {
		badRequest(w, fmt.Errorf("by: %w", err))
		return
	}
	n, err := intParam(own, "limit", 10, 1, 1000)
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
	rows, err := st.Top(ctx, f, d, n)
	if err != nil {
		fail(w, err)
		return
	}
	if d == DimDetectionID {
		for i := range rows {
			if id, err := strconv.Atoi(rows[i].Value); err == nil {
				if e, ok := catalogue.Lookup(id); ok {
					rows[i].Text = e.Description
				}
			}
		}
	}
	if rows == nil {
		rows = []Count{}
	}
	writeJSON(w, http.StatusOK, Counts{By: d, Rows: rows, Interval95: confidence95(rows)})
}

// Page is an events answer.
type Page struct {
	Records []Record `json:"records"`
	Next    string   `json:"next,omitempty"`
	// Detections is the catalogue text of every detection ID on the page
	// (by ID), so a record says why it was decided without a second call.
	Detections map[string]string `json:"detections"`
}

func (s *Service) events(w http.ResponseWriter, r *http.Request) {
	own, q := params(r, "limit", "page")
	n, err := intParam(own, "limit", 50, 1, 1000)
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
	recs, next, err := st.Events(ctx, f, n, own.Get("page"))
	if err != nil {
		if strings.HasPrefix(err.Error(), "page:") {
			badRequest(w, err)
			return
		}
		fail(w, err)
		return
	}
	if recs == nil {
		recs = []Record{}
	}
	page := Page{Records: recs, Next: next, Detections: map[string]string{}}
	for _, rec := range recs {
		for _, id := range rec.BotDetectionIDs {
			if e, ok := catalogue.Lookup(id); ok {
				page.Detections[strconv.Itoa(id)] = e.Description
			}
		}
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Service) verdicts(w http.ResponseWriter, r *http.Request) {
	own, q := params(r, "limit")
	n, err := intParam(own, "limit", 100, 1, 1000)
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
	vs, err := st.Verdicts(ctx, f.From, f.To, n)
	if err != nil {
		fail(w, err)
		return
	}
	if vs == nil {
		vs = []VerdictRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"verdicts": vs})
}

func (s *Service) expression(w http.ResponseWriter, r *http.Request) {
	f, err := ParseFilter(r.URL.Query(), s.now())
	if err != nil {
		badRequest(w, err)
		return
	}
	expr, skipped := f.Expression()
	if skipped == nil {
		skipped = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"expression": expr, "not_expressible": skipped})
}

// maxBody bounds API request bodies.
const maxBody = 64 << 10

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

func (s *Service) draft(w http.ResponseWriter, r *http.Request) {
	var d Draft
	if err := decodeBody(r, &d); err != nil {
		badRequest(w, err)
		return
	}
	st, f, ok := s.prepare(w, r.URL.Query())
	if !ok {
		return
	}
	if _, err := compileDraft(d); err != nil {
		badRequest(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	res, err := RunDraft(ctx, st, f, d)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
