package refdata

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, env string
		want      string // "" when an error is expected
		errHas    string
	}{
		{"env names a directory", tmp, tmp, ""},
		{"env names a missing directory", filepath.Join(tmp, "missing"), "", Env},
		{"env names a file", file, "", "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(Env, tt.env)
			got, err := Dir()
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("Dir() = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("Dir() = %q, %v; want an error mentioning %q", got, err, tt.errHas)
			}
		})
	}
}

// Unset, the default is resolved against the repository root whatever the
// working directory below it.
func TestDefaultFromRepositoryRoot(t *testing.T) {
	t.Setenv(Env, "")
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repoRoot() = %q without go.mod", root)
	}
	want := filepath.Join(root, DefaultRel)
	got, err := Dir()
	if err != nil {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Dir() error %v does not say where it looked (%s)", err, want)
		}
		return
	}
	if got != want {
		t.Fatalf("Dir() = %q, want %q", got, want)
	}
}

func TestPathJoinsSlashSeparated(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv(Env, tmp)
	got, err := Path("ua/isbot/browsers.yml")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(tmp, "ua", "isbot", "browsers.yml"); got != want {
		t.Fatalf("Path() = %q, want %q", got, want)
	}
}
