package helm

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/config"
)

const schemaFile = chartDir + "/values.schema.json"

// TestValuesSchemaFollowsConfig: the schema's `config` is what ConfigSchema
// derives from botwarden's types today (go test ./deploy/helm -run
// TestValuesSchemaFollowsConfig -update rewrites it after a config change).
func TestValuesSchemaFollowsConfig(t *testing.T) {
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	props := schema["properties"].(map[string]any)
	want, err := json.Marshal(ConfigSchema())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(props["config"])
	if bytes.Equal(got, want) {
		return
	}
	if !*update {
		t.Fatalf("%s: properties.config is not what botwarden's config types give; run make generate (go test ./deploy/helm -run %s -update) and commit it", schemaFile, t.Name())
	}
	props["config"] = ConfigSchema()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(schema); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(schemaFile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaEnumsMatchValidation: every word an enum lists loads, and a word
// outside it does not, so the schema neither refuses a good value nor lets a
// bad one through to a crash-looping pod.
func TestSchemaEnumsMatchValidation(t *testing.T) {
	for path, words := range Enums {
		for _, w := range append(words, "bogus-value") {
			yml := nested(path, w)
			_, err := config.Parse([]byte(yml))
			if w == "bogus-value" && err == nil {
				t.Errorf("%s: %q loads but the schema refuses it", path, w)
			}
			if w != "bogus-value" && err != nil {
				t.Errorf("%s: the schema allows %q but botwarden refuses it: %v", path, w, err)
			}
		}
	}
}

// nested writes "a.b: v" as YAML.
func nested(path, value string) string {
	parts := strings.Split(path, ".")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i == len(parts)-1 {
			b.WriteString(" " + value)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestSchemaRejects: helm itself refuses values that would produce an
// invalid config or manifest, naming what is wrong.
func TestSchemaRejects(t *testing.T) {
	cases := []struct {
		name    string
		values  string
		wantErr string
	}{
		{"typo in a config field", "config:\n  server:\n    grpc_adr: ':9001'\n", "grpc_adr"},
		{"unknown config section", "config:\n  sesion: {}\n", "sesion"},
		{"duration as a number", "config:\n  server:\n    shutdown_grace: 20\n", "shutdown_grace"},
		{"duration in words", "config:\n  detection:\n    budget: 20 milliseconds\n", "budget"},
		{"unknown log level", "config:\n  log:\n    level: loud\n", "level"},
		{"fallback that is not allow or block", "config:\n  detection:\n    fallback_action: challenge\n", "fallback_action"},
		{"list where a string goes", "config:\n  session:\n    cookie_name: [a]\n", "cookie_name"},
		{"negative unsigned", "config:\n  session:\n    active_key: -1\n", "active_key"},
		{"unknown top-level value", "replicas: 3\n", "replicas"},
		{"replicas as text", "replicaCount: three\n", "replicaCount"},
		{"session key that is not 32 bytes of base64", "secrets:\n  sessionKeys:\n  - id: 1\n    secret: short\n", "secret"},
		{"session key without id", "secrets:\n  sessionKeys:\n  - secret: Ym90d2FyZGVuLWV4YW1wbGUta2V5LVJFUExBQ0UtTUU=\n", "id"},
		{"short challenge secret", "secrets:\n  challengeSecrets: [tooshort]\n", "challengeSecrets"},
		{"provider timeout in words", "istio:\n  extensionProviders:\n    timeout: fast\n", "timeout"},
		{"wasm without ja4", "secrets:\n  sessionKeys:\n  - id: 1\n    secret: Ym90d2FyZGVuLWV4YW1wbGUta2V5LVJFUExBQ0UtTUU=\nistio:\n  wasm:\n    enabled: true\n", "istio.ja4.enabled"},
		{"wasm without keys", "istio:\n  ja4:\n    enabled: true\n  wasm:\n    enabled: true\n", "secrets.sessionKeys"},
		{"policy as a number", "policy: 3\n", "policy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(f, []byte(c.values), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := render(t, []string{f})
			if err == nil {
				t.Fatalf("helm template accepted:\n%s", c.values)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error does not mention %q: %v", c.wantErr, err)
			}
		})
	}
}
