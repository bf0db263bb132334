package readmetest

import (
	"os"
	"path/filepath"
	"testing"
)

// Every relative link in the repository's Markdown (docs/, the READMEs)
// reaches an existing file and heading.
func TestRepositoryLinks(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	broken, err := BrokenLinks(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range broken {
		t.Error(b)
	}
}

func TestAnchors(t *testing.T) {
	doc := "# Title\n## Access logs (gRPC ALS)\n## What Envoy sends: the CheckRequest\n```\n# not a heading\n```\n## Title\n"
	got := anchors(doc)
	for _, want := range []string{"title", "access-logs-grpc-als", "what-envoy-sends-the-checkrequest", "title-1"} {
		if !got[want] {
			t.Errorf("anchor %q missing from %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a line in a code block became an anchor")
	}
}

func TestBrokenLinks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.md", "[ok](b.md#there) [bad file](c.md) [bad anchor](b.md#nowhere) [web](https://example.com/x) `[code](d.md)`\n")
	write("b.md", "## There\n")
	broken, err := BrokenLinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(broken) != 2 {
		t.Fatalf("broken = %q, want the missing file and the missing heading", broken)
	}
}
