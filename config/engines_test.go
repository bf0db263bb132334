package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/detect/catalogue"
)

// TestEngineTable fails when the engine table and the rest of botwarden are
// out of step: names, sections, defaults, dependencies and the detection
// catalogue. (server's TestEngineTableIsWired covers the build side.)
func TestEngineTable(t *testing.T) {
	def := Default()
	cfgType := reflect.TypeOf(def)
	fieldByKey := map[string]reflect.StructField{}
	for i := range cfgType.NumField() {
		f := cfgType.Field(i)
		fieldByKey[strings.Split(f.Tag.Get("yaml"), ",")[0]] = f
	}
	seen := map[string]int{}
	for i, e := range Engines {
		if _, dup := seen[e.Name]; dup {
			t.Errorf("engine %q has two lines", e.Name)
		}
		seen[e.Name] = i
		if e.Section != e.Name {
			t.Errorf("engine %q: section %q, want the engine's name", e.Name, e.Section)
		}
		f, ok := fieldByKey[e.Section]
		if !ok {
			t.Errorf("engine %q: Config has no field with yaml key %q", e.Name, e.Section)
			continue
		}
		// The line's Section accessor must point at that field, and
		// Default must have filled it with the line's default.
		got := reflect.ValueOf(def).FieldByIndex(f.Index).Interface()
		if want := e.section(&def); !reflect.DeepEqual(got, want) {
			t.Errorf("engine %q: Config.%s = %+v, the line's section holds %+v", e.Name, f.Name, got, want)
		}
		var zero Config
		e.setDefault(&zero)
		if reflect.ValueOf(zero).FieldByIndex(f.Index).IsZero() && !reflect.ValueOf(e.section(&zero)).IsZero() {
			t.Errorf("engine %q: the line's Section accessor is not Config.%s", e.Name, f.Name)
		}
		if err := e.validate(&def); err != nil {
			t.Errorf("engine %q: its default does not validate: %v", e.Name, err)
		}
		for _, r := range e.Reads {
			j, ok := seen[r.Engine]
			switch {
			case r.Engine == e.Name:
				t.Errorf("engine %q reads from itself", e.Name)
			case !ok && !KnownEngine(r.Engine):
				t.Errorf("engine %q reads from unknown engine %q", e.Name, r.Engine)
			case !ok:
				t.Errorf("engine %q reads from %q, which the table lists after it: the table order is the default order and must be valid", e.Name, r.Engine)
			case j >= i:
				t.Errorf("engine %q: bad read order", e.Name)
			case r.What == "":
				t.Errorf("engine %q: read from %q says nothing about what it reads", e.Name, r.Engine)
			}
		}
	}
	// An engine package's section without a table line: every Config field
	// whose type comes from a detect/ package is an engine's, except the
	// packages below, which are not hot-path engines.
	notEngines := map[string]bool{"policy": true, "challenge": true, "behavior": true}
	for key, f := range fieldByKey {
		pkg := f.Type.PkgPath()
		if strings.Contains(pkg, "/detect/") && !notEngines[key] && !KnownEngine(key) {
			t.Errorf("Config.%s (%s) looks like an engine's section but has no line in the engine table", f.Name, pkg)
		}
	}
	if !slices.Equal(def.Detection.Engines, DefaultEngines()) {
		t.Errorf("default detection.engines %v, table says %v", def.Detection.Engines, DefaultEngines())
	}
	for engine := range catalogue.Ranges {
		if !KnownEngine(engine) {
			t.Errorf("the detection catalogue has IDs for %q, which is not in the engine table", engine)
		}
	}
	for _, e := range catalogue.All() {
		if !KnownEngine(e.Engine) {
			t.Errorf("detection %d is emitted by %q, which is not in the engine table", e.ID, e.Engine)
		}
	}
}

func TestEngineOrderAndSwitch(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error; none means valid
	}{
		{"default order", "", nil},
		{"ml before network", "detection:\n  engines: [ml, network]\n",
			[]string{`detection.engines[0]: "ml" must come after "network" (detection.engines[1]): it reads ip.datacenter`}},
		{"reputation before session", "detection:\n  engines: [reputation, session, heuristics]\n",
			[]string{`detection.engines[0]: "reputation" must come after "session" (detection.engines[1]): it reads the session id`}},
		{"two out of order", "detection:\n  engines: [ml, verified, heuristics]\n",
			[]string{`detection.engines[0]: "ml" must come after "verified"`, `detection.engines[1]: "verified" must come after "heuristics" (detection.engines[2])`}},
		{"a writer left out is no error", "detection:\n  engines: [heuristics, ml]\n", nil},
		{"nothing on", "detection:\n  engines: []\n", nil},
		{"removed verified.enabled", "verified:\n  enabled: false\n",
			[]string{"verified.enabled (line 2): removed", `leave "verified" out of detection.engines`}},
		{"removed network.enabled", "network:\n  enabled: true\n", []string{"network.enabled (line 2): removed"}},
		{"removed ml.enabled", "ml:\n  enabled: false\n", []string{"ml.enabled (line 2): removed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := Load("", []string{"BOTWARDEN_ML_ENABLED=false"}); err == nil || !strings.Contains(err.Error(), `BOTWARDEN_ML_ENABLED: removed`) {
		t.Fatalf("removed key as an environment variable: %v", err)
	}
}

// TestSectionErrorsNameTheirFieldOnce covers sections reporting several
// problems: each is reported, with the section named once.
func TestSectionErrorsNameTheirFieldOnce(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"network", "network:\n  mmdb_format: geoip3\n  mmdb: ['']\n",
			[]string{"network: mmdb_format:", "network: mmdb[0]: empty path"}},
		{"verified", "verified:\n  disabled_bots: [nobot]\n  dns: {workers: 0, timeout: 0s}\n",
			[]string{"verified: disabled_bots[0]", "verified: dns.workers", "verified: dns.timeout"}},
		{"reputation", "reputation:\n  store: {max_ttl: 1ms, shards: 3}\n  lookup: {v4_prefix_bits: 1, v6_prefix_bits: 1}\n",
			[]string{"reputation: store: max_ttl", "reputation: store: shards", "reputation: lookup: v4_prefix_bits", "reputation: lookup: v6_prefix_bits"}},
		{"accesslog", "accesslog:\n  max_streams: -1\n  max_headers: 0\n  max_duration: 1ms\n",
			[]string{"accesslog: max_streams", "accesslog: max_headers", "accesslog: max_duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, tt.name+": "+tt.name+".") {
				t.Errorf("section named twice: %q", msg)
			}
			if lines := strings.Count(msg, "\n") + 1; lines != len(tt.want) {
				t.Errorf("%d problems reported, want %d: %q", lines, len(tt.want), msg)
			}
		})
	}
}
