// Package refdata says where the reference corpora are: the third-party
// user-agent lists, browser header orders and published IP ranges that
// botwarden's evaluation, model training, range snapshots and accuracy tests
// read. They live outside the repository because each keeps its own licence
// and is large; what botwarden ships is copied into the engines' data/
// folders with a NOTICE. Every reader asks this package, so the location is
// decided in one place.
package refdata

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Env is the environment variable that names the data directory.
const Env = "BOTWARDEN_DATA"

// DefaultRel is the data directory used when Env is unset, relative to the
// repository root: a shared/data folder next to the checkout.
const DefaultRel = "../shared/data"

// Dir returns the data directory: $BOTWARDEN_DATA if set, else DefaultRel
// resolved against the repository root (the nearest directory above the
// working directory that holds go.mod), so tools run from the root and tests
// run from a package folder find the same place. It fails when the
// directory does not exist.
func Dir() (string, error) {
	dir := os.Getenv(Env)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", fmt.Errorf("refdata: %s is unset and %w", Env, err)
		}
		dir = filepath.Join(root, DefaultRel)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("refdata: reference data directory (set %s): %w", Env, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("refdata: %s is not a directory (set %s)", dir, Env)
	}
	return dir, nil
}

// Path returns rel inside the data directory.
func Path(rel string) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.FromSlash(rel)), nil
}

// Require returns rel inside the data directory (rel "" for the directory
// itself), or skips the test saying where it looked. The data is not part of
// a clean clone, so tests over it skip rather than fail there.
func Require(t testing.TB, rel string) string {
	t.Helper()
	p, err := Path(rel)
	if err == nil {
		_, err = os.Stat(p)
	}
	if err != nil {
		t.Skipf("reference data not available: %v", err)
	}
	return p
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
