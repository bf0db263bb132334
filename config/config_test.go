package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsValidate(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
	loaded, err := Load("", []string{})
	if err != nil {
		t.Fatalf("Load with no file: %v", err)
	}
	if loaded.Server.GRPCAddr != ":9001" || loaded.Server.HTTPAddr != ":8080" || loaded.Detection.Budget != 20*time.Millisecond {
		t.Fatalf("unexpected defaults: %+v", loaded.Server)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "server:\n  grcp_addr: ':1'\n", "grcp_addr"},
		{"bad duration", "detection:\n  budget: fast\n", "budget"},
		{"negative budget", "detection:\n  budget: -1s\n", "detection.budget"},
		{"bad fallback", "detection:\n  fallback_action: challenge\n", "detection.fallback_action"},
		{"unknown engine", "detection:\n  engines: [heuristics, magic]\n", "detection.engines[1]"},
		{"duplicate engine", "detection:\n  engines: [ml, ml]\n", "listed twice"},
		{"bad level", "log:\n  level: loud\n", "log.level"},
		{"empty addr", "server:\n  http_addr: ''\n", "server.http_addr"},
		{"two documents", "log:\n  level: info\n---\nlog:\n  level: info\n", "more than one"},
		{"not a mapping", "[1, 2]", "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error mentioning %q, got %v", tt.want, err)
			}
		})
	}
}

func TestLoadFileAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "botwarden.yaml")
	if err := os.WriteFile(path, []byte("server:\n  grpc_addr: 127.0.0.1:9100\nlog:\n  format: console\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, []string{
		"BOTWARDEN_SERVER_HTTP_ADDR=127.0.0.1:9200",
		"BOTWARDEN_DETECTION_BUDGET=5ms",
		"BOTWARDEN_DETECTION_ENGINES=heuristics, ml",
		"BOTWARDEN_CONFIG=ignored",
		"PATH=/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.GRPCAddr != "127.0.0.1:9100" || cfg.Server.HTTPAddr != "127.0.0.1:9200" ||
		cfg.Log.Format != "console" || cfg.Detection.Budget != 5*time.Millisecond ||
		strings.Join(cfg.Detection.Engines, ",") != "heuristics,ml" {
		t.Fatalf("got %+v", cfg)
	}
	if _, err := Load(path, []string{"BOTWARDEN_SERVER_GRPC_ADR=x"}); err == nil || !strings.Contains(err.Error(), "BOTWARDEN_SERVER_GRPC_ADR") {
		t.Fatalf("misspelt override must fail naming it, got %v", err)
	}
	if _, err := Load(path, []string{"BOTWARDEN_SERVER_MAX_CONCURRENT_STREAMS=-3"}); err == nil {
		t.Fatal("negative uint must fail")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Fatal("missing file must fail")
	}
}

func TestEnvNamesCoverSections(t *testing.T) {
	names := strings.Join(EnvNames(), " ")
	for _, want := range []string{"BOTWARDEN_SERVER_GRPC_ADDR", "BOTWARDEN_LOG_LEVEL", "BOTWARDEN_DETECTION_BUDGET"} {
		if !strings.Contains(names, want) {
			t.Errorf("missing %s in %s", want, names)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("server:\n  grpc_addr: ':9001'\n"))
	f.Add([]byte("detection:\n  engines: [ml]\n  budget: 1ms\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err == nil {
			// Whatever parsed must also pass validation again: Parse
			// never returns an unvalidated config without an error.
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Parse accepted an invalid config: %v", verr)
			}
		}
	})
}

// TestEnvListOfObjects: session.keys comes from one variable (a Kubernetes
// Secret's value) as JSON or YAML; typos and bad keys are errors.
func TestEnvListOfObjects(t *testing.T) {
	const key = "Ym90d2FyZGVuLWV4YW1wbGUta2V5LVJFUExBQ0UtTUU="
	cases := []struct {
		name, value, active, wantErr string
		wantKeys                     int
	}{
		{"json", `[{"id":1,"secret":"` + key + `"},{"id":2,"secret":"` + key + `"}]`, "2", "", 2},
		{"yaml flow", `[{id: 7, secret: ` + key + `}]`, "7", "", 1},
		{"empty", ``, "0", "", 0},
		{"typo in a field", `[{"id":1,"secrte":"` + key + `"}]`, "1", "secrte", 0},
		{"not a list", `{"id":1}`, "1", "BOTWARDEN_SESSION_KEYS", 0},
		{"short key", `[{"id":1,"secret":"c2hvcnQ="}]`, "1", "session", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load("", []string{"BOTWARDEN_SESSION_KEYS=" + c.value, "BOTWARDEN_SESSION_ACTIVE_KEY=" + c.active})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Session.Keys) != c.wantKeys {
				t.Fatalf("keys = %+v", cfg.Session.Keys)
			}
		})
	}
}
