// Package readmetest checks that a package README states what the code
// says. Package READMEs share one shape (docs/architecture.md lists it):
// a "## Configuration" table with a row per field and its default, a
// "## Metrics" table with a row per metric and its labels, and a
// "## Detection IDs and tags" section. Check compares those sections with
// the package's default configuration, the collectors it registers and the
// detection IDs it emits, so a README cannot drift from the code unnoticed.
package readmetest

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// Section headings of the package README shape.
const (
	HeadingConfig  = "Configuration"
	HeadingMetrics = "Metrics"
	HeadingIDs     = "Detection IDs and tags"
)

// Facts is what the code says about a package.
type Facts struct {
	// Config is the package's default configuration (its DefaultConfig()),
	// nil when it has none. Every leaf field, by its dotted YAML key
	// relative to the section, must have a row "| `key` | `default` | ..."
	// in a table headed "| field | default | ..." whose default, decoded as
	// YAML into the field's type, equals the field's default value; and
	// every row of such a table must name a field.
	Config any
	// ConfigTag is the struct tag that names the fields: "yaml" (the
	// default, botwarden's configuration file) or "json" (the Wasm
	// filter's plugin configuration). Defaults are decoded the same way.
	ConfigTag string
	// Register builds the package's component against reg, nil when it
	// registers no metrics. Every collector registered must have a row
	// "| `name` | ..." in a table headed "| metric | ...", naming each of
	// its variable labels in backticks, and every botwarden_* metric in
	// such a table must be registered.
	Register func(reg prometheus.Registerer) error
	// DetectionIDs are the IDs the package emits; each must appear in the
	// detection-IDs section in backticks (a row of a table headed "| id |"
	// does).
	DetectionIDs []int
	// Tags are tags the package adds; each must appear in backticks in the
	// detection-IDs section.
	Tags []string
}

// Check compares the README at path with facts.
func Check(t *testing.T, path string, facts Facts) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for _, err := range problems(readme, facts) {
		t.Errorf("%s: %v", path, err)
	}
}

// problems lists every way readme disagrees with facts.
func problems(readme string, facts Facts) []error {
	var errs []error
	if facts.Config != nil {
		tag := facts.ConfigTag
		if tag == "" {
			tag = "yaml"
		}
		errs = append(errs, checkConfig(Section(readme, HeadingConfig), facts.Config, tag)...)
	}
	if facts.Register != nil {
		errs = append(errs, checkMetrics(Section(readme, HeadingMetrics), facts.Register)...)
	}
	if len(facts.DetectionIDs) > 0 || len(facts.Tags) > 0 {
		errs = append(errs, checkIDs(Section(readme, HeadingIDs), facts.DetectionIDs, facts.Tags)...)
	}
	return errs
}

// Section returns the body of the "## heading" section of a Markdown
// document (up to the next "## " heading), or "" when there is none.
func Section(doc, heading string) string {
	var out strings.Builder
	in := false
	fence := false
	for _, line := range strings.SplitAfter(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(line, "## ") {
			if in {
				break
			}
			in = strings.TrimSpace(strings.TrimPrefix(line, "## ")) == heading
			continue
		}
		if in {
			out.WriteString(line)
		}
	}
	return out.String()
}

// rows returns the rows of the tables in section whose header's first
// cell is header ("field", "metric", "id"), keyed by their first cell
// without backticks. Other tables in the section (examples, references)
// are not rows of the checked kind.
func rows(section, header string) map[string][]string {
	out := map[string][]string{}
	inTable, keep := false, false
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := splitRow(line)
		if !inTable {
			inTable = true
			keep = strings.EqualFold(cells[0], header)
			continue
		}
		if !keep || !strings.HasPrefix(cells[0], "`") {
			continue
		}
		out[strings.Trim(cells[0], "`")] = cells
	}
	return out
}

// splitRow splits a Markdown table row into trimmed cells; `\|` is a pipe
// inside a cell.
func splitRow(line string) []string {
	line = strings.ReplaceAll(line, `\|`, "\x00")
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(strings.ReplaceAll(p, "\x00", "|"))
	}
	return parts
}

func checkConfig(section string, defaults any, tag string) []error {
	if section == "" {
		return []error{fmt.Errorf("no %q section", "## "+HeadingConfig)}
	}
	var errs []error
	errorf := func(format string, a ...any) { errs = append(errs, fmt.Errorf(HeadingConfig+": "+format, a...)) }
	table := rows(section, "field")
	fields := map[string]bool{}
	decode := yaml.Unmarshal
	if tag == "json" {
		decode = json.Unmarshal
	}
	walk("", tag, reflect.ValueOf(defaults), func(key string, v reflect.Value) {
		fields[key] = true
		row, ok := table[key]
		if !ok {
			errorf("no row for `%s` (default %s)", key, show(v))
			return
		}
		if len(row) < 2 || !strings.HasPrefix(row[1], "`") || !strings.HasSuffix(row[1], "`") {
			errorf("`%s`: the default cell must be a YAML value in backticks, is %q (the code's default: %s)", key, cell(row, 1), show(v))
			return
		}
		got := reflect.New(v.Type())
		if err := decode([]byte(strings.Trim(row[1], "`")), got.Interface()); err != nil {
			errorf("`%s`: default %s does not decode: %v", key, row[1], err)
			return
		}
		if !equal(got.Elem(), v) {
			errorf("`%s`: README says %s, the code's default is %s", key, row[1], show(v))
		}
	})
	for _, key := range slices.Sorted(maps.Keys(table)) {
		if !fields[key] {
			errorf("row `%s` names no configuration field", key)
		}
	}
	return errs
}

func cell(row []string, i int) string {
	if i < len(row) {
		return row[i]
	}
	return ""
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	unmarshalerT  = reflect.TypeFor[yaml.Unmarshaler]()
	jsonUnmarshal = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshal = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walk calls leaf for every leaf field of v by its dotted key (the names
// in struct tag tag). Structs are walked into unless they decode themselves
// (yaml.Unmarshaler, json.Unmarshaler, encoding.TextUnmarshaler); slices,
// maps and pointers are leaves.
func walk(prefix, tag string, v reflect.Value, leaf func(string, reflect.Value)) {
	for v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	ty := v.Type()
	for i := range ty.NumField() {
		f := ty.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get(tag), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fv := v.Field(i)
		key := prefix + name
		if strings.Contains(opts, "inline") {
			key = strings.TrimSuffix(prefix, ".")
		}
		if fv.Kind() == reflect.Struct && !decodesItself(fv.Type()) {
			p := key + "."
			if key == "" {
				p = ""
			}
			walk(p, tag, fv, leaf)
			continue
		}
		leaf(key, fv)
	}
}

func decodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(unmarshalerT) || p.Implements(jsonUnmarshal) || p.Implements(textUnmarshal) || t == reflect.TypeFor[time.Time]()
}

// equal compares a decoded README default with the code's, treating nil and
// empty slices and maps alike (YAML's [] and {} decode to empty, defaults
// are often nil).
func equal(a, b reflect.Value) bool {
	if (a.Kind() == reflect.Slice || a.Kind() == reflect.Map) && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// show renders a default as YAML, the way a README row should write it.
func show(v reflect.Value) string {
	if v.Type() == durationType {
		return "`" + shortDuration(time.Duration(v.Int())) + "`"
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v.Interface()); err != nil {
		return fmt.Sprintf("%v", v.Interface())
	}
	s := strings.TrimSpace(buf.String())
	if strings.Contains(s, "\n") {
		// Flow style reads better in a table cell.
		var node yaml.Node
		if yaml.Unmarshal(buf.Bytes(), &node) == nil {
			setFlow(&node)
			if out, err := yaml.Marshal(&node); err == nil {
				s = strings.TrimSpace(string(out))
			}
		}
	}
	return "`" + s + "`"
}

func setFlow(n *yaml.Node) {
	n.Style |= yaml.FlowStyle
	for _, c := range n.Content {
		setFlow(c)
	}
}

// shortDuration is time.Duration.String without zero units ("1m", not
// "1m0s").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// recorder is a Registerer that keeps every descriptor registered with it.
type recorder struct{ descs []*prometheus.Desc }

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return true }

// descRE reads a descriptor's name and variable labels from its String():
// client_golang exports no accessor for them.
var descRE = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"),.*variableLabels: \{([^}]*)\}\}$`)

type metric struct {
	name   string
	labels []string
}

func parseDesc(d *prometheus.Desc) (metric, error) {
	m := descRE.FindStringSubmatch(d.String())
	if m == nil {
		return metric{}, fmt.Errorf("cannot read descriptor %s", d)
	}
	name, err := strconv.Unquote(m[1])
	if err != nil {
		return metric{}, fmt.Errorf("descriptor %s: %w", d, err)
	}
	var labels []string
	for l := range strings.SplitSeq(m[2], ",") {
		if l = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(l), "c("), ")"); l != "" {
			labels = append(labels, l)
		}
	}
	return metric{name, labels}, nil
}

func checkMetrics(section string, register func(prometheus.Registerer) error) []error {
	if section == "" {
		return []error{fmt.Errorf("no %q section", "## "+HeadingMetrics)}
	}
	rec := &recorder{}
	if err := register(rec); err != nil {
		return []error{fmt.Errorf("%s: building the component: %w", HeadingMetrics, err)}
	}
	if len(rec.descs) == 0 {
		return []error{fmt.Errorf("%s: the component registered no metrics", HeadingMetrics)}
	}
	var errs []error
	errorf := func(format string, a ...any) { errs = append(errs, fmt.Errorf(HeadingMetrics+": "+format, a...)) }
	table := rows(section, "metric")
	registered := map[string]bool{}
	for _, d := range rec.descs {
		m, err := parseDesc(d)
		if err != nil {
			return append(errs, err)
		}
		registered[m.name] = true
		row, ok := table[m.name]
		if !ok {
			errorf("no row for `%s` (labels %v)", m.name, m.labels)
			continue
		}
		text := strings.Join(row[1:], "|")
		for _, l := range m.labels {
			if !strings.Contains(text, "`"+l+"`") {
				errorf("`%s`: label `%s` not named in its row", m.name, l)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(table)) {
		if strings.HasPrefix(name, "botwarden_") && !registered[name] {
			errorf("row `%s` names a metric the component does not register", name)
		}
	}
	return errs
}

func checkIDs(section string, ids []int, tags []string) []error {
	if section == "" {
		return []error{fmt.Errorf("no %q section", "## "+HeadingIDs)}
	}
	var errs []error
	table := rows(section, "id")
	for _, id := range ids {
		s := strconv.Itoa(id)
		if _, ok := table[s]; !ok && !strings.Contains(section, "`"+s+"`") {
			errs = append(errs, fmt.Errorf("%s: detection ID %d not listed", HeadingIDs, id))
		}
	}
	for _, tag := range slices.Compact(slices.Sorted(slices.Values(tags))) {
		if !strings.Contains(section, "`"+tag+"`") {
			errs = append(errs, fmt.Errorf("%s: tag `%s` not listed", HeadingIDs, tag))
		}
	}
	return errs
}
