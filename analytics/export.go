package analytics

import (
	"fmt"
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
// Another kind of item (feedback: FeedbackSchema) gets its own Schema and
// implements logpush.Item.
var RecordSchema = logpush.Schema{Kind: "request", Fields: jsonNames(reflect.TypeFor[Record]()),
	TimeField: "EdgeStartTimestamp", SampleField: "SampleInterval", Filterable: true}

// datasets are what an export job can carry (ExportConfig.Dataset).
var datasets = map[string]*logpush.Schema{"requests": &RecordSchema, "feedback": &FeedbackSchema}

// datasetSchema is the schema of an export job's dataset ("" = requests).
func datasetSchema(name string) (logpush.Schema, error) {
	if name == "" {
		name = "requests"
	}
	s, ok := datasets[name]
	if !ok {
		return logpush.Schema{}, fmt.Errorf("dataset: want requests or feedback, got %q", name)
	}
	return *s, nil
}

// jsonNames lists a struct's JSON field names in declaration order, those
// of an embedded struct without a name of its own in its place (encoding/
// json flattens it the same way).
func jsonNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonNames(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
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
