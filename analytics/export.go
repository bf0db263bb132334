package analytics

import (
	"reflect"
	"strings"
	"time"

	"github.com/botwarden/botwarden/analytics/logpush"
	"github.com/botwarden/botwarden/detect"
)

// ExportConfig is one Logpush-style job of analytics.exports (see
// analytics/logpush).
type ExportConfig = logpush.Config

// RecordSchema describes request records to the export jobs: their field
// names in declaration order (CSV columns), the time and sample fields.
// Another kind of item (feedback) gets its own Schema and implements
// logpush.Item.
var RecordSchema = logpush.Schema{Kind: "request", Fields: jsonNames(reflect.TypeFor[Record]()),
	TimeField: "EdgeStartTimestamp", SampleField: "SampleInterval"}

// jsonNames lists a struct's JSON field names in declaration order.
func jsonNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// ExportTime implements logpush.Item.
func (r Record) ExportTime() time.Time { return r.Time }

// ExportKey implements logpush.Item: the RayID.
func (r Record) ExportKey() string { return r.Ref }

// PolicyInput implements logpush.PolicyInput: export filters read the
// record as a draft rule does.
func (r Record) PolicyInput() (*detect.Request, *detect.Verdict) { return r.asRequest() }
