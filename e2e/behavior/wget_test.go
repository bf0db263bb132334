package behavior

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/botwarden/botwarden/e2e"
)

// TestWgetCrawler: GNU wget (Debian's wget) crawls the catalogue
// recursively with a browser's user agent and ignores robots.txt. It
// fetches pages without their assets, 20 per second: the analysis must
// block it while it crawls.
func TestWgetCrawler(t *testing.T) {
	if testing.Short() {
		t.Skip("crawls for ~8 s; skipped with -short")
	}
	wget, err := exec.LookPath("wget")
	if err != nil {
		t.Skip("wget not installed (Debian package wget); CI installs it")
	}
	e2e.EachGateway(t, func(t *testing.T, kind string) { wgetCrawl(t, wget, newStack(t, kind)) })
}

func wgetCrawl(t *testing.T, wget string, st *stack) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const addr = "203.0.113.77"
	cmd := exec.CommandContext(ctx, wget, "--recursive", "--level=1", "--no-parent", "--delete-after", "--no-directories",
		"--directory-prefix", t.TempDir(), "--wait=0.05", "-e", "robots=off", "--quiet",
		"--user-agent", e2e.ChromeUA, "--header", "X-Forwarded-For: "+addr, "--header", "Accept-Language: en-GB,en;q=0.9",
		st.url+"/catalog")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	// wget exits 8 when some fetches failed: the blocked ones.
	if ctx.Err() != nil {
		t.Fatalf("wget did not finish: %v\n%s", err, out)
	}
	statuses := st.statuses(addr)
	first := slices.Index(statuses, 403)
	if len(statuses) < 100 || first < 0 {
		t.Fatalf("wget: %d requests, first 403 at %d (%v)\n%s", len(statuses), first, err, out)
	}
	if n := len(statuses) - first; slices.Contains(statuses[first:], 200) {
		t.Errorf("crawler unblocked after its first 403 (of %d)", n)
	}
	tags := st.behaviourTagsOf(addr)
	if !slices.Contains(tags, "crawl") {
		t.Errorf("wget's tags %v lack crawl", tags)
	}
	t.Logf("wget: %d requests in %s; blocked from request %d on; tags %v", len(statuses), time.Since(start).Round(time.Millisecond), first+1, tags)
}
