package wasmfilter_test

import (
	"os"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/internal/readmetest"
	"github.com/botwarden/botwarden/wasmfilter"
)

func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{Config: wasmfilter.DefaultConfig(), ConfigTag: "json"})
	// The filter's metrics are Envoy custom stats, not Prometheus
	// collectors: check the names directly.
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	metrics := readmetest.Section(string(raw), readmetest.HeadingMetrics)
	for _, name := range wasmfilter.MetricNames() {
		if !strings.Contains(metrics, "| `"+name+"` |") {
			t.Errorf("README.md: Metrics: no row for `%s`", name)
		}
	}
}
