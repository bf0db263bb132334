package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// stealthDir holds the stealth adversary (package.json, its lockfile and
// crawl.js); the test installs its node_modules with npm ci.
const stealthDir = "stealth"

var npmOnce struct {
	sync.Once
	err error
	out []byte
}

// stealthAdversary returns the node binary after `npm ci` in stealthDir;
// without node or npm it skips, except as root (CI, where .ci/run installs
// them) where it fails.
func stealthAdversary(t *testing.T) string {
	t.Helper()
	node, err1 := exec.LookPath("node")
	npm, err2 := exec.LookPath("npm")
	if err1 != nil || err2 != nil {
		if os.Getuid() == 0 {
			t.Fatal("node and npm are needed (Debian packages nodejs, npm; scripts/deps.sh installs them)")
		}
		t.Skip("node or npm not installed (Debian packages nodejs, npm); CI installs them")
	}
	npmOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = stealthDir
		npmOnce.out, npmOnce.err = cmd.CombinedOutput()
	})
	if npmOnce.err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", stealthDir, npmOnce.err, npmOnce.out)
	}
	return node
}

// TestStealthChromiumIsStopped: Chromium patched by
// puppeteer-extra-plugin-stealth (webdriver hidden, plugins, languages,
// WebGL vendor, permissions faked), headless and headful under Xvfb,
// crawling pages at about 1.5 a second, is stopped by the challenge's
// JavaScript detection before the origin serves it 5 pages: the patches
// betray themselves (JavaScript-shaped getters, a worker that sees the
// real navigator). Per-client results are printed.
func TestStealthChromiumIsStopped(t *testing.T) {
	node := stealthAdversary(t)
	chrome := chromium(t)
	for _, mode := range []string{"headless", "headful"} {
		t.Run(mode, func(t *testing.T) {
			s := newStack(t, "in-repo", nil)
			cmd := exec.Command(node, filepath.Join(stealthDir, "crawl.js"), s.url, mode, "8", "600")
			cmd.Env = append(os.Environ(), "CHROMIUM="+chrome)
			if mode == "headful" {
				cmd.Env = append(cmd.Env, "DISPLAY="+xvfb(t))
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.Output(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("the crawler did not finish in 2 minutes: %s", stderr.String())
			}
			if err != nil {
				t.Fatalf("crawler: %v\n%s", err, stderr.String())
			}
			var titles []string
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				var p struct{ Title string }
				if json.Unmarshal(sc.Bytes(), &p) == nil {
					titles = append(titles, p.Title)
				}
			}
			served := s.origin.pagesServed()
			var tags []string
			for _, l := range s.requests() {
				if l.checked && l.rule == "js_failed" {
					tags = l.tags
				}
			}
			t.Logf("stealth %s Chromium: origin pages served %d %v; page titles %v; JS detection failed %v, tags %v",
				mode, len(served), served, titles, s.submissions("failed"), tags)
			if len(served) >= 5 {
				t.Errorf("stealth %s Chromium got %d pages from the origin, want fewer than 5", mode, len(served))
			}
			if s.submissions("failed") < 1 || !slices.ContainsFunc(tags, func(t string) bool { return t == "worker-mismatch" || t == "tampered" }) {
				t.Errorf("stealth %s Chromium not caught by the stealth signals: tags %v", mode, tags)
			}
		})
	}
}
