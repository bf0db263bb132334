package logpush

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/botwarden/botwarden/detect"
)

// Item is one thing a job exports. Its JSON is an object whose keys are the
// Schema's field names.
type Item interface {
	// ExportTime is when it happened (Loki's timestamp, Splunk's time).
	ExportTime() time.Time
	// ExportKey identifies it across replicas and retries: sampling is
	// decided on it, and it is the Elasticsearch _id and the NATS message
	// id, so a replayed batch is not stored twice there.
	ExportKey() string
}

// PolicyInput is implemented by items a job's filter can read (requests):
// the request and verdict as the policy saw them. Items without it pass
// every filter.
type PolicyInput interface {
	PolicyInput() (*detect.Request, *detect.Verdict)
}

// unit is one encoded item: the piece of a batch body it contributes.
type unit struct {
	ts     int64  // unix nanoseconds
	id     string // ExportKey
	labels string // Loki stream labels, a JSON object
	data   []byte
}

// encoder turns items into units for one job.
type encoder struct {
	cfg    Config
	schema Schema
	cols   []string // CSV columns: the selected fields in schema order
	host   string   // Loki's host label
}

func newEncoder(cfg Config, s Schema) *encoder {
	e := &encoder{cfg: cfg, schema: s, cols: s.Fields}
	if len(cfg.Fields) > 0 {
		e.cols = nil
		for _, f := range s.Fields {
			if contains(cfg.Fields, f) {
				e.cols = append(e.cols, f)
			}
		}
	}
	e.host, _ = os.Hostname()
	return e
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// keep reports whether sampling at 1/n keeps the item with this key. The
// hash is salted so that it is independent of the store's own sampling
// (which decides on the same key).
func keep(key string, n uint64) bool {
	if n <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte("logpush\x00"))
	h.Write([]byte(key))
	return h.Sum64()%n == 0
}

// fields is the item as exported: selected fields, the time in the job's
// format, the sample interval scaled by the job's.
// all is every field before the selection (Loki's labels read it).
func (e *encoder) fields(it Item, sampleN uint64) (sel, all map[string]json.RawMessage, err error) {
	b, err := json.Marshal(it)
	if err != nil {
		return nil, nil, fmt.Errorf("encode: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("encode: %w", err)
	}
	if f := e.schema.TimeField; f != "" {
		switch e.cfg.TimeFormat {
		case "unix":
			m[f] = json.RawMessage(strconv.FormatInt(it.ExportTime().Unix(), 10))
		case "unixnano":
			m[f] = json.RawMessage(strconv.FormatInt(it.ExportTime().UnixNano(), 10))
		}
	}
	if f := e.schema.SampleField; f != "" && sampleN > 1 {
		n, _ := strconv.ParseInt(string(m[f]), 10, 64)
		m[f] = json.RawMessage(strconv.FormatInt(max(n, 1)*int64(sampleN), 10))
	}
	if len(e.cfg.Fields) == 0 {
		return m, m, nil
	}
	sel = make(map[string]json.RawMessage, len(e.cfg.Fields))
	for _, f := range e.cfg.Fields {
		if v, ok := m[f]; ok {
			sel[f] = v
		}
	}
	return sel, m, nil
}

// encode returns the unit of one item in the job's format.
func (e *encoder) encode(it Item, sampleN uint64) (unit, error) {
	t := it.ExportTime()
	u := unit{ts: t.UnixNano(), id: it.ExportKey()}
	if e.verbatim(sampleN) {
		// The item's own JSON is the line: no field is selected, renamed
		// or rescaled (a third of the cost of the general path).
		b, err := json.Marshal(it)
		if err != nil {
			return u, fmt.Errorf("encode: %w", err)
		}
		switch e.cfg.Type {
		case "loki":
			var l struct{ BotCategory, BotAction string }
			json.Unmarshal(b, &l)
			u.labels = e.lokiLabelSet(l.BotCategory, l.BotAction)
		case "nats":
		default:
			b = append(b, '\n')
		}
		u.data = b
		return u, nil
	}
	m, all, err := e.fields(it, sampleN)
	if err != nil {
		return u, err
	}
	switch {
	case e.cfg.Format == "csv":
		u.data, err = e.csvRow(m)
	case e.cfg.Format == "splunk_hec":
		// HEC's event endpoint: epoch seconds (ms precision), the record as
		// the event.
		u.data, err = json.Marshal(struct {
			Time       json.Number                `json:"time"`
			Host       string                     `json:"host,omitempty"`
			Source     string                     `json:"source"`
			Sourcetype string                     `json:"sourcetype"`
			Event      map[string]json.RawMessage `json:"event"`
		}{json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)), e.host, "botwarden", "botwarden:" + e.schema.Kind, m})
		u.data = append(u.data, '\n')
	case e.cfg.Type == "loki":
		u.data, err = json.Marshal(m)
		u.labels = e.lokiLabels(all)
	case e.cfg.Type == "nats":
		u.data, err = json.Marshal(m)
	default: // ndjson, elasticsearch's document line
		u.data, err = json.Marshal(m) // sorted keys, one line: json escapes newlines
		u.data = append(u.data, '\n')
	}
	if err != nil {
		return u, fmt.Errorf("encode: %w", err)
	}
	return u, nil
}

// verbatim reports whether the item's JSON is exported as it is.
func (e *encoder) verbatim(sampleN uint64) bool {
	return len(e.cfg.Fields) == 0 && e.cfg.TimeFormat == "rfc3339" && sampleN <= 1 &&
		(e.cfg.Format == "ndjson" || e.cfg.Format == "elasticsearch")
}

// csvRow writes the columns of m as one CSV record (RFC 4180 quoting): strings as they
// are, everything else (numbers, booleans, lists) as its JSON text, absent
// or null as empty.
func (e *encoder) csvRow(m map[string]json.RawMessage) ([]byte, error) {
	row := make([]string, len(e.cols))
	for i, c := range e.cols {
		v := m[c]
		if len(v) == 0 || string(v) == "null" {
			continue
		}
		if v[0] == '"' {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, err
			}
			row[i] = s
		} else {
			row[i] = string(v)
		}
	}
	return csvLine(row)
}

func csvLine(row []string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	// LF line ends, not RFC 4180's CRLF: in CRLF mode encoding/csv drops
	// a carriage return inside a value; every CSV reader takes LF, and the
	// quoting is RFC 4180's.
	if err := w.Write(row); err != nil {
		return nil, err
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// csvHeader is the first row of every CSV file and batch.
func (e *encoder) csvHeader() []byte {
	b, _ := csvLine(e.cols)
	return b
}

// lokiLabels are the only stream labels (category and action read from
// the item's BotCategory and BotAction): few values each (never an IP, a
// user agent or a path: every distinct label set is a Loki stream).
var lokiLabels = []string{"job", "host", "category", "action"}

func (e *encoder) lokiLabels(m map[string]json.RawMessage) string {
	var v [2]string
	for i, f := range []string{"BotCategory", "BotAction"} {
		json.Unmarshal(m[f], &v[i])
	}
	return e.lokiLabelSet(v[0], v[1])
}

func (e *encoder) lokiLabelSet(category, action string) string {
	l := map[string]string{"job": e.cfg.Name}
	if e.host != "" {
		l["host"] = e.host
	}
	if category != "" {
		l["category"] = category
	}
	if action != "" {
		l["action"] = action
	}
	for k, v := range e.cfg.Labels {
		l[k] = v
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(l[k])
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.String()
}
