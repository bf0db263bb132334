package ml

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/network"
	"github.com/botwarden/botwarden/detect/session"
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
	PrivateRelay bool `json:"private_relay,omitempty"`
	// Cloud and VPN are the network engine's cloud-provider and VPN-exit
	// findings; ForeignSession the session engine's "cookie of another
	// client" (session.TagForeignSession).
	Cloud          bool `json:"cloud,omitempty"`
	VPN            bool `json:"vpn,omitempty"`
	ForeignSession bool `json:"foreign_session,omitempty"`
	// The client's pace when the request came (Context): page views in the
	// last 10–20 s and minute, and its prefix's page views in the minute.
	Burst        uint32 `json:"burst,omitempty"`
	Minute       uint32 `json:"minute,omitempty"`
	PrefixMinute uint32 `json:"prefix_minute,omitempty"`
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

// Verdict returns the verdict the network and session engines would have
// left.
func (e *Example) Verdict() *detect.Verdict {
	v := &detect.Verdict{IP: detect.IPInfo{Datacenter: e.Datacenter, PrivateRelay: e.PrivateRelay}}
	if e.Datacenter {
		v.AddTags(network.TagDatacenter)
	}
	if e.Cloud {
		v.AddTags(network.TagCloudPrefix + "example")
	}
	if e.VPN {
		v.AddTags(network.TagVPN)
	}
	if e.ForeignSession {
		v.AddTags(session.TagForeignSession)
	}
	return v
}

// Context returns the pace the engine would have measured.
func (e *Example) Context() Context {
	return Context{Burst: e.Burst, Minute: e.Minute, PrefixMinute: e.PrefixMinute}
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
