package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/internal/metricstest"
)

// Two good policies that decide /x differently, and a broken one.
const (
	policyA = "rules:\n  - {id: a, expression: \"http.path_only == '/x'\", action: block}\n"
	policyB = "rules:\n  - {id: b, expression: \"http.path_only == '/x'\", action: managed_challenge}\n"
	policyC = "rules:\n  - {id: c, expression: \"http.path_only == '/x'\", action: js_challenge}\n"
	broken  = "rules:\n  - {id: a, expression: \"http.path_only == \", action: block}\n"
)

// consistent reports whether v is what policy A, B or C says for /x.
func consistent(v *detect.Verdict) bool {
	switch v.RuleID {
	case "a":
		return v.Action == detect.ActionBlock && v.EnforcedAction == detect.ActionBlock
	case "b":
		return v.Action == detect.ActionManagedChallenge && v.EnforcedAction == detect.ActionManagedChallenge
	case "c":
		return v.Action == detect.ActionJSChallenge && v.EnforcedAction == detect.ActionJSChallenge
	}
	return false
}

func ruleFor(d *Decider) string {
	r := browser()
	r.Path = "/x"
	return decide(d, r, &detect.Verdict{Score: 90}).RuleID
}

// replaceFile writes data the way editors and config tools do: a new file
// renamed over the old one.
func replaceFile(t testing.TB, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestReloadKeepsPolicyOnBadFile(t *testing.T) {
	d, reg := newDecider(t, policyA)
	path := d.cfg.File

	replaceFile(t, path, broken)
	err := d.Reload()
	var le *LoadError
	if !errors.As(err, &le) || le.Problems[0].Rule != "a" {
		t.Fatalf("want LoadError for rule a, got %v", err)
	}
	if got := ruleFor(d); got != "a" {
		t.Fatalf("after a bad file the policy is %q, want the old one", got)
	}

	replaceFile(t, path, policyB)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := ruleFor(d); got != "b" {
		t.Fatalf("policy %q, want b", got)
	}
	if err := d.Reload(); err != nil { // same content: no-op
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err == nil || ruleFor(d) != "b" {
		t.Fatalf("deleted file: err %v, policy %s", err, ruleFor(d))
	}
	for result, want := range map[string]float64{"ok": 1, "error": 2, "unchanged": 1} {
		if got := metricstest.Sum(t, reg, "botwarden_policy_reload_total", map[string]string{"result": result}); got != want {
			t.Errorf("reload_total{result=%s} = %v, want %v", result, got, want)
		}
	}
}

// runWatcher starts d.Run, waits until it watches, and stops it (waiting
// for it to return) when the test ends.
func runWatcher(t *testing.T, d *Decider) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	if d.cfg.File != "" {
		select {
		case <-d.watching:
		case err := <-done:
			t.Fatalf("Run returned before watching: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not start watching")
		}
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop")
		}
	})
}

// eventually polls cond until it holds, failing after a generous timeout
// (a bound on a hang, not a speed requirement).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor waits until the policy decides /x with rule id.
func waitFor(t *testing.T, d *Decider, id string) {
	t.Helper()
	eventually(t, "policy becomes "+id, func() bool { return ruleFor(d) == id })
}

func watchedDecider(t *testing.T, path string) (*Decider, *prometheus.Registry) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.File, cfg.Debounce = path, 20*time.Millisecond
	reg := prometheus.NewRegistry()
	d, err := New(cfg, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return d, reg
}

// watchedFile writes content to a new policy file and runs a watching
// Decider on it.
func watchedFile(t *testing.T, content string) (*Decider, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	d, _ := watchedDecider(t, path)
	runWatcher(t, d)
	return d, path
}

func TestWatchEditorSaves(t *testing.T) {
	d, path := watchedFile(t, policyA)

	replaceFile(t, path, policyB) // vim, sed -i, most tools: rename over
	waitFor(t, d, "b")
	if err := os.WriteFile(path, []byte(policyC), 0o600); err != nil { // in-place write
		t.Fatal(err)
	}
	waitFor(t, d, "c")
	replaceFile(t, path, broken)
	replaceFile(t, path, policyA) // a bad save then a fix: ends on A
	waitFor(t, d, "a")
}

// Kubernetes mounts a ConfigMap as dir/policy.yaml -> ..data/policy.yaml,
// ..data -> ..<timestamp>/, and updates it by writing a new timestamped
// directory and renaming a new ..data symlink over the old one.
func TestWatchConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	version := func(n int, content string) string {
		ts := fmt.Sprintf("..2026_03_04_05_06_%02d.%d", n, n)
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ts, "policy.yaml"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return ts
	}
	swap := func(ts string) {
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(ts, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	first := version(1, policyA)
	swap(first)
	path := filepath.Join(dir, "policy.yaml")
	if err := os.Symlink(filepath.Join("..data", "policy.yaml"), path); err != nil {
		t.Fatal(err)
	}
	d, reg := watchedDecider(t, path)
	runWatcher(t, d)

	second := version(2, policyB)
	swap(second)
	if err := os.RemoveAll(filepath.Join(dir, first)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, d, "b")

	third := version(3, broken) // a bad ConfigMap: B stays
	swap(third)
	if err := os.RemoveAll(filepath.Join(dir, second)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bad ConfigMap is refused", func() bool {
		return metricstest.Sum(t, reg, "botwarden_policy_reload_total", map[string]string{"result": "error"}) > 0
	})
	if got := ruleFor(d); got != "b" {
		t.Fatalf("bad ConfigMap replaced the policy: %q", got)
	}
	swap(version(4, policyC))
	waitFor(t, d, "c")
}

// Decide runs flat out on several goroutines while the file is rewritten
// good, bad, good... through the watcher and through Reload. Every request
// must get a complete verdict from one of the good policies, with no errors.
func TestReloadUnderLoad(t *testing.T) {
	d, path := watchedFile(t, policyA)

	var (
		done      atomic.Bool
		decisions atomic.Int64
		wg        sync.WaitGroup
		seen      sync.Map
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				r := browser()
				r.Path = "/x"
				v := &detect.Verdict{Score: 90}
				d.Decide(context.Background(), r, v)
				if !consistent(v) || v.Errors != 0 || v.Mode != detect.ModeMitigate {
					t.Errorf("inconsistent verdict during reload: %+v", v)
					return
				}
				seen.Store(v.RuleID, true)
				decisions.Add(1)
			}
		}()
	}
	contents := []string{policyB, broken, policyC, broken, policyA}
	for i := range 30 {
		replaceFile(t, path, contents[i%len(contents)])
		if i%3 == 0 {
			_ = d.Reload() // and manual reloads racing the watcher
		}
		time.Sleep(15 * time.Millisecond)
	}
	replaceFile(t, path, policyB)
	waitFor(t, d, "b")
	done.Store(true)
	wg.Wait()
	if decisions.Load() == 0 {
		t.Fatal("no decisions made")
	}
	n := 0
	seen.Range(func(any, any) bool { n++; return true })
	if n < 2 {
		t.Fatalf("saw %d policies during the run; reloads did not happen", n)
	}
}

func TestRunWithoutFile(t *testing.T) {
	d, _ := newDecider(t, "")
	runWatcher(t, d) // no file: Run only sweeps the limiter until the test ends
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
}
