package main

import (
	"os"
	"strings"
	"testing"

	"github.com/botwarden/botwarden/detect/policy"
)

// The policy example in the README must load: documentation that does not
// compile is a bug.
func TestReadmePolicyExampleCompiles(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "# policy.yaml")
	if !ok {
		t.Fatal("README has no policy example")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("policy example not closed")
	}
	_, block, _ = strings.Cut(block, "\n") // drop the rest of the comment line
	p, err := policy.Compile([]byte(block), "README.md")
	if err != nil {
		t.Fatalf("README policy example: %v", err)
	}
	if len(p.Rules()) == 0 {
		t.Fatal("README policy example has no rules")
	}
}
