package server

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/config"
)

// TestEngineTableIsWired builds every engine of the table: each line
// builds, the pipeline holds exactly the listed engines in the listed
// order, each answers to its table name, and an engine left out is off.
func TestEngineTableIsWired(t *testing.T) {
	for _, list := range [][]string{config.EngineNames(), {"heuristics"}, {}} {
		t.Run(strings.Join(list, ","), func(t *testing.T) {
			cfg := config.Default()
			cfg.Detection.Engines = list
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			srv, err := New(cfg, zerolog.New(io.Discard))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var got []string
			for _, e := range srv.Pipeline().Engines {
				got = append(got, e.Name())
			}
			if !slices.Equal(got, list) && !(len(got) == 0 && len(list) == 0) {
				t.Fatalf("pipeline engines %v, configured %v", got, list)
			}
			if err := srv.Reload(); err != nil {
				t.Fatalf("reload: %v", err)
			}
		})
	}
}

// TestEngineLogNamesEngineOnce: the wiring names the engine in its logger,
// and an engine must not add the field again (a JSON line with a repeated
// key is ambiguous to log pipelines).
func TestEngineLogNamesEngineOnce(t *testing.T) {
	var buf bytes.Buffer
	srv, err := New(config.Default(), zerolog.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	engines := map[string]bool{}
	for line := range strings.Lines(buf.String()) {
		if n := strings.Count(line, `"engine":`); n > 1 {
			t.Errorf("engine named %d times: %s", n, line)
		}
		for _, name := range config.EngineNames() {
			if strings.Contains(line, `"engine":"`+name+`"`) {
				engines[name] = true
			}
		}
	}
	for _, name := range []string{"network", "verified"} { // both log while loading their ranges
		if !engines[name] {
			t.Errorf("no log line names engine %s:\n%s", name, buf.String())
		}
	}
}
