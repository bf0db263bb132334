package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/internal/readmetest"
)

// The README is the policy language's reference: it must list every
// variable field and every preset rule with its expression and action.
func TestReadmeDocumentsSchemaAndPresets(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.ReplaceAll(string(raw), `\|`, "|")
	var walk func(prefix string, st *structType)
	walk = func(prefix string, st *structType) {
		for _, f := range schema[st.typ] {
			if sub, ok := structs[f.typ.TypeName()]; ok {
				walk(prefix+f.name+".", sub)
				continue
			}
			row := "| `" + prefix + f.name + "` | " + f.typ.String() + " | " + f.doc + " |"
			if !strings.Contains(readme, row) {
				t.Errorf("README lacks the row\n%s", row)
			}
		}
	}
	for _, v := range variables {
		walk(v.name+".", structs[v.typ.TypeName()])
	}
	all, err := loadPresets()
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range all {
		for _, r := range p.spec.Rules {
			expr := strings.Join(strings.Fields(r.Expression), " ")
			row := "| `" + name + "." + r.ID + "` | `" + expr + "` | `" + r.Action + "` |"
			if !strings.Contains(readme, row) {
				t.Errorf("README lacks the preset rule row\n%s", row)
			}
		}
	}
}

// The shape every package README shares: configuration defaults and
// metrics as the code has them.
func TestReadmeConfigAndMetrics(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{
		Config: DefaultConfig(),
		Register: func(reg prometheus.Registerer) error {
			_, err := New(DefaultConfig(), zerolog.Nop(), reg)
			return err
		},
	})
}
