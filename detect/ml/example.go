package ml

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/botwarden/botwarden/detect"
)

// Labels of training examples.
const (
	LabelBot   = "bot"
	LabelHuman = "human"
)

// Example is one labelled request, the JSON-lines training format of
// `botwarden train`: the request fields the features read, the network
// facts an earlier engine would have put in the verdict, and the label.
type Example struct {
	Method      string            `json:"method"`
	Scheme      string            `json:"scheme"`
	Host        string            `json:"host,omitempty"`
	Path        string            `json:"path"`
	Protocol    string            `json:"protocol"`
	Headers     map[string]string `json:"headers"`
	HeaderOrder []string          `json:"header_order,omitempty"`
	Datacenter  bool              `json:"datacenter,omitempty"`
	// PrivateRelay marks iCloud Private Relay egress (humans behind a proxy).
	PrivateRelay bool   `json:"private_relay,omitempty"`
	Label        string `json:"label"`

	// Provenance, for reports; not used by training.
	Source   string `json:"source,omitempty"`   // corpus the UA came from
	Category string `json:"category,omitempty"` // fixture category or browser family
	Profile  string `json:"profile,omitempty"`  // header profile that generated it
}

// Request converts the example to the request the engines see.
func (e *Example) Request() *detect.Request {
	h := make(detect.Headers, len(e.Headers))
	for k, v := range e.Headers {
		h[k] = v
	}
	return &detect.Request{
		Method: e.Method, Scheme: e.Scheme, Host: e.Host, Path: e.Path, Protocol: e.Protocol,
		Headers: h, HeaderOrder: e.HeaderOrder,
	}
}

// Verdict returns the verdict an earlier network engine would have left.
func (e *Example) Verdict() *detect.Verdict {
	return &detect.Verdict{IP: detect.IPInfo{Datacenter: e.Datacenter, PrivateRelay: e.PrivateRelay}}
}

// Bot reports whether the example is labelled bot.
func (e *Example) Bot() bool { return e.Label == LabelBot }

// ReadExamples reads JSON lines; blank lines are skipped, a bad line or an
// unknown label is an error naming the line.
func ReadExamples(r io.Reader) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var e Example
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if e.Label != LabelBot && e.Label != LabelHuman {
			return nil, fmt.Errorf("line %d: label %q: want %q or %q", line, e.Label, LabelBot, LabelHuman)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}

// WriteExamples writes examples as JSON lines.
func WriteExamples(w io.Writer, examples []Example) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range examples {
		if err := enc.Encode(&examples[i]); err != nil {
			return fmt.Errorf("example %d: %w", i, err)
		}
	}
	return bw.Flush()
}
