package logpush

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
)

// sink delivers one batch. An error is either a *partialError (some units
// delivered), a rejectedError (the sink refused the batch for good:
// retrying cannot help) or anything else (nothing delivered; retry all).
type sink interface {
	send(ctx context.Context, units []unit) error
	close()
}

// partialError says which units to send again and how many were refused
// for good.
type partialError struct {
	retry    []int
	rejected int
	first    string // the first refusal's reason, for the log
}

func (e *partialError) Error() string {
	return fmt.Sprintf("%d to retry, %d rejected (%s)", len(e.retry), e.rejected, e.first)
}

// rejectedError is a refusal retrying cannot change (a 4xx other than 408
// and 429: bad token, bad body).
type rejectedError struct{ error }

func newSink(cfg Config, enc *encoder) (sink, error) {
	switch cfg.Type {
	case "file":
		return &fileSink{cfg: cfg, enc: enc}, nil
	case "http", "loki":
		return newHTTPSink(cfg, enc), nil
	case "nats":
		return newNATSSink(cfg), nil
	}
	return nil, fmt.Errorf("type: unknown sink %q", cfg.Type)
}

// fileSink appends to a file, rotating path → path.1 at MaxFileBytes; a
// CSV file starts with its header row.
type fileSink struct {
	cfg  Config
	enc  *encoder
	mu   sync.Mutex
	file *os.File
	size int64
}

func (s *fileSink) send(_ context.Context, units []unit) error {
	var body []byte
	for _, u := range units {
		body = append(body, u.data...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Path == "-" {
		_, err := os.Stdout.Write(body)
		return err
	}
	if s.file != nil && s.cfg.MaxFileBytes > 0 && s.size+int64(len(body)) > s.cfg.MaxFileBytes {
		s.file.Close()
		s.file = nil
		if err := os.Rename(s.cfg.Path, s.cfg.Path+".1"); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	if s.file == nil {
		f, err := os.OpenFile(s.cfg.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		s.file, s.size = f, st.Size()
		if s.size == 0 && s.cfg.Format == "csv" {
			body = append(s.enc.csvHeader(), body...)
		}
	}
	n, err := s.file.Write(body)
	s.size += int64(n)
	return err
}

func (s *fileSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

// httpSink POSTs a batch: NDJSON, CSV, Splunk HEC events, an Elasticsearch
// _bulk body or a Loki push.
type httpSink struct {
	cfg    Config
	enc    *encoder
	url    string
	client *http.Client
}

func newHTTPSink(cfg Config, enc *encoder) *httpSink {
	u := cfg.URL
	if p, err := url.Parse(u); err == nil && (p.Path == "" || p.Path == "/") {
		switch {
		case cfg.Type == "loki":
			p.Path = "/loki/api/v1/push"
		case cfg.Format == "splunk_hec":
			p.Path = "/services/collector/event"
		case cfg.Format == "elasticsearch":
			p.Path = "/_bulk"
		}
		u = p.String()
	}
	return &httpSink{cfg: cfg, enc: enc, url: u, client: &http.Client{Timeout: cfg.Timeout}}
}

func (s *httpSink) close() { s.client.CloseIdleConnections() }

// body builds the request body and its content type.
func (s *httpSink) body(units []unit) ([]byte, string) {
	var b []byte
	switch {
	case s.cfg.Type == "loki":
		return lokiBody(units), "application/json"
	case s.cfg.Format == "csv":
		b = s.enc.csvHeader()
		for _, u := range units {
			b = append(b, u.data...)
		}
		return b, "text/csv; charset=utf-8; header=present"
	case s.cfg.Format == "elasticsearch":
		for _, u := range units {
			// create with the RayID as _id: a replayed batch answers 409
			// for what is already stored instead of storing it twice.
			b = append(b, `{"create":{"_index":`...)
			b = strconv.AppendQuote(b, s.cfg.Index)
			b = append(b, `,"_id":`...)
			b, _ = appendJSONString(b, u.id)
			b = append(b, "}}\n"...)
			b = append(b, u.data...) // ends with '\n': _bulk wants the last line terminated
		}
		return b, "application/x-ndjson"
	case s.cfg.Format == "splunk_hec":
		for _, u := range units {
			b = append(b, u.data...)
		}
		return b, "application/json"
	}
	for _, u := range units {
		b = append(b, u.data...)
	}
	return b, "application/x-ndjson"
}

func appendJSONString(b []byte, s string) ([]byte, error) {
	q, err := json.Marshal(s)
	return append(b, q...), err
}

// lokiBody groups units into streams by label set, each stream's values
// in time order: {"streams":[{"stream":{...},"values":[["<ns>","<line>"]]}]}.
func lokiBody(units []unit) []byte {
	order := []string{}
	streams := map[string][]unit{}
	for _, u := range units {
		if _, ok := streams[u.labels]; !ok {
			order = append(order, u.labels)
		}
		streams[u.labels] = append(streams[u.labels], u)
	}
	b := []byte(`{"streams":[`)
	for i, l := range order {
		us := streams[l]
		slices.SortStableFunc(us, func(a, b unit) int { return cmpInt(a.ts, b.ts) })
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"stream":`...)
		b = append(b, l...)
		b = append(b, `,"values":[`...)
		for j, u := range us {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `["`...)
			b = strconv.AppendInt(b, u.ts, 10)
			b = append(b, `",`...)
			b, _ = appendJSONString(b, string(u.data))
			b = append(b, ']')
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *httpSink) send(ctx context.Context, units []unit) error {
	raw, ctype := s.body(units)
	var rd bytes.Buffer
	if s.cfg.Gzip {
		zw := gzip.NewWriter(&rd)
		zw.Write(raw)
		zw.Close()
	} else {
		rd.Write(raw)
	}
	actx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.url, &rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	if s.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if s.cfg.Format == "splunk_hec" {
		req.Header.Set("Authorization", "Splunk "+s.cfg.Token)
	}
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Read what the answer says (bounded: a sink must not make us hold
	// megabytes), then drain a little so the connection can be reused.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode/100 != 2 {
		err := fmt.Errorf("sink answered %d: %.200s", resp.StatusCode, bytes.TrimSpace(body))
		if resp.StatusCode/100 == 4 && resp.StatusCode != 408 && resp.StatusCode != 429 {
			return rejectedError{err}
		}
		return err
	}
	if s.cfg.Format == "elasticsearch" {
		return bulkResult(body, len(units))
	}
	return nil
}

// bulkResult reads an Elasticsearch _bulk answer: "errors" says whether
// any item failed, and each item its status. 409 (a replay of what is
// stored) counts as delivered; 429 and 5xx are retried; other refusals are
// rejected for good.
func bulkResult(body []byte, n int) error {
	var r struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("elasticsearch: unreadable _bulk answer: %w", err)
	}
	if !r.Errors {
		return nil
	}
	if len(r.Items) != n {
		return fmt.Errorf("elasticsearch: _bulk answered %d items for %d", len(r.Items), n)
	}
	pe := &partialError{}
	for i, item := range r.Items {
		for _, res := range item { // one key: the action
			switch st := res.Status; {
			case st/100 == 2 || st == 409:
			case st == 429 || st/100 == 5:
				pe.retry = append(pe.retry, i)
			default:
				pe.rejected++
				if pe.first == "" {
					pe.first = fmt.Sprintf("status %d: %.200s", st, res.Error)
				}
			}
		}
	}
	if len(pe.retry) == 0 && pe.rejected == 0 {
		return nil
	}
	return pe
}

// isRejected reports a refusal retrying cannot change.
func isRejected(err error) bool {
	var r rejectedError
	return errors.As(err, &r)
}
