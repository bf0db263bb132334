package cluster_test

import (
	"testing"

	"github.com/botwarden/botwarden/cluster"
	"github.com/botwarden/botwarden/internal/readmetest"
)

// The metrics are registered by parts that need live backends; their
// tests assert on them. The README's configuration table is checked here.
func TestReadme(t *testing.T) {
	readmetest.Check(t, "README.md", readmetest.Facts{Config: cluster.DefaultConfig()})
}
