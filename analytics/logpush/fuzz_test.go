package logpush

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzItem has the shapes a request record has: strings, a list, numbers.
type fuzzItem struct {
	T      time.Time `json:"EdgeStartTimestamp"`
	Ref    string    `json:"RayID"`
	N      int       `json:"SampleInterval"`
	UA     string    `json:"ClientRequestUserAgent"`
	Path   string    `json:"ClientRequestPath"`
	Tags   []string  `json:"BotTags"`
	Cat    string    `json:"BotCategory"`
	Action string    `json:"BotAction"`
	Score  int       `json:"BotScore"`
}

func (f fuzzItem) ExportTime() time.Time { return f.T }
func (f fuzzItem) ExportKey() string     { return f.Ref }

var fuzzSchema = Schema{Kind: "request", Fields: []string{"EdgeStartTimestamp", "RayID", "SampleInterval", "ClientRequestUserAgent",
	"ClientRequestPath", "BotTags", "BotCategory", "BotAction", "BotScore"}, TimeField: "EdgeStartTimestamp", SampleField: "SampleInterval"}

// viaJSON is what a string becomes through JSON (invalid UTF-8 turns into
// U+FFFD), the value every format must carry.
func viaJSON(s string) string {
	b, _ := json.Marshal(s)
	var out string
	json.Unmarshal(b, &out)
	return out
}

var lokiLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// FuzzEncode: any strings and times encode, in every format, to a unit
// that parses back as that format and carries the same values; the disk
// buffer's file form round-trips it.
func FuzzEncode(f *testing.F) {
	f.Add("curl/8", "/a\nb", "tag", "likely_automated", "block", int64(1700000000123456789), 3)
	f.Add("\xff\x00<script>", "\"a,b\"\r\n", "x,\"y\"", "", "", int64(-1), 0)
	f.Add("", "", "", "a\u2028b", "\\", int64(0), 1<<30)
	f.Fuzz(func(t *testing.T, ua, path, tag, cat, action string, ns int64, n int) {
		it := fuzzItem{T: time.Unix(0, ns).UTC(), Ref: "r" + strconv.Itoa(n), N: n, UA: ua, Path: path, Tags: []string{tag, ""}, Cat: cat, Action: action, Score: n % 100}
		for _, cfg := range []Config{
			{Name: "j", Type: "file", Format: "ndjson"}, {Name: "j", Type: "file", Format: "ndjson", TimeFormat: "unix"},
			{Name: "j", Type: "file", Format: "ndjson", TimeFormat: "unixnano"}, {Name: "j", Type: "file", Format: "csv"},
			{Name: "j", Type: "http", Format: "splunk_hec"}, {Name: "j", Type: "http", Format: "elasticsearch"},
			{Name: "j", Type: "loki"}, {Name: "j", Type: "nats"},
		} {
			for _, sampleN := range []uint64{1, 2} { // 1 takes the verbatim path where it applies
				cfg = cfg.WithDefaults()
				enc := newEncoder(cfg, fuzzSchema)
				u, err := enc.encode(it, sampleN)
				if err != nil {
					if cfg.TimeFormat == "rfc3339" && (it.T.Year() < 0 || it.T.Year() > 9999) {
						continue // encoding/json refuses years outside 0-9999
					}
					t.Fatalf("%s: %v", cfg.Format, err)
				}
				var m map[string]any
				switch {
				case cfg.Format == "csv":
					rows, err := csv.NewReader(bytes.NewReader(append(enc.csvHeader(), u.data...))).ReadAll()
					if err != nil || len(rows) != 2 || len(rows[1]) != len(fuzzSchema.Fields) {
						t.Fatalf("csv %q: %v %q", u.data, err, rows)
					}
					// encoding/csv reads \r\n inside a quoted field as \n.
					want := strings.ReplaceAll(viaJSON(ua), "\r\n", "\n")
					if rows[1][3] != want || rows[1][4] != strings.ReplaceAll(viaJSON(path), "\r\n", "\n") {
						t.Fatalf("csv values %q", rows[1])
					}
					continue
				case cfg.Type == "loki":
					var push struct {
						Streams []struct {
							Stream map[string]string
							Values [][2]string
						}
					}
					if err := json.Unmarshal(lokiBody([]unit{u}), &push); err != nil || len(push.Streams) != 1 || len(push.Streams[0].Values) != 1 {
						t.Fatalf("loki %s: %v", lokiBody([]unit{u}), err)
					}
					for k := range push.Streams[0].Stream {
						if !lokiLabelName.MatchString(k) {
							t.Fatalf("label %q", k)
						}
					}
					if push.Streams[0].Values[0][0] != strconv.FormatInt(ns, 10) {
						t.Fatalf("loki ts %q for %d", push.Streams[0].Values[0][0], ns)
					}
					if err := json.Unmarshal([]byte(push.Streams[0].Values[0][1]), &m); err != nil {
						t.Fatal(err)
					}
				case cfg.Format == "splunk_hec":
					var ev struct{ Event map[string]any }
					if bytes.Count(u.data, []byte("\n")) != 1 || json.Unmarshal(u.data, &ev) != nil {
						t.Fatalf("hec %q", u.data)
					}
					m = ev.Event
				default:
					if cfg.Type != "nats" && (bytes.Count(u.data, []byte("\n")) != 1 || u.data[len(u.data)-1] != '\n') {
						t.Fatalf("not one line: %q", u.data)
					}
					if err := json.Unmarshal(u.data, &m); err != nil {
						t.Fatalf("%q: %v", u.data, err)
					}
				}
				if m["ClientRequestUserAgent"] != viaJSON(ua) || m["ClientRequestPath"] != viaJSON(path) || m["BotTags"].([]any)[0] != viaJSON(tag) {
					t.Fatalf("%s: values changed: %v", cfg.Format, m)
				}
				if want := float64(n); sampleN > 1 && m["SampleInterval"] != float64(max(n, 1)*int(sampleN)) || sampleN == 1 && m["SampleInterval"] != want {
					t.Fatalf("sample interval %v for %d at 1/%d", m["SampleInterval"], n, sampleN)
				}
				back, err := unmarshalUnits(marshalUnits([]unit{u}))
				if err != nil || len(back) != 1 || !bytes.Equal(back[0].data, u.data) || back[0].labels != u.labels || back[0].ts != u.ts || back[0].id != u.id {
					t.Fatalf("buffer round trip: %v", err)
				}
			}
		}
	})
}

// FuzzSpoolFile: an arbitrary (corrupt, truncated) buffer file is refused
// with an error, never a panic or a huge allocation.
func FuzzSpoolFile(f *testing.F) {
	f.Add(marshalUnits([]unit{{ts: 1, id: "a", labels: "{}", data: []byte("x\n")}}))
	f.Add([]byte("BWX1\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		us, err := unmarshalUnits(b)
		if err == nil && !bytes.Equal(marshalUnits(us), b) {
			t.Fatalf("accepted %q but it does not re-encode the same", b)
		}
	})
}
