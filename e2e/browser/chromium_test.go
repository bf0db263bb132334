package browser

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/botwarden/botwarden/e2e/desktop"
)

// chromium returns Debian's chromium binary, or skips.
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (Debian package chromium); CI installs it")
	return ""
}

// flags are the command-line flags every browser here runs with: no
// network chatter of its own, a fresh profile. As root Chromium needs
// --no-sandbox.
func flags(profile string) []string {
	f := []string{
		"--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile,
	}
	if os.Getuid() == 0 {
		f = append(f, "--no-sandbox")
	}
	return f
}

// xvfb is desktop.Xvfb.
func xvfb(t testing.TB) string { return desktop.Xvfb(t) }

// plainChromium runs Chromium as a person would: a visible window (under
// Xvfb), no DevTools protocol, no automation flag, opening url. This is the
// human stand-in: Chromium 156 reports navigator.webdriver = true as soon
// as it is started with a remote-debugging port or pipe, as every CDP
// driver (chromedp, Puppeteer, Playwright) does, so a driven browser is not
// one.
func plainChromium(t testing.TB, display, url string) {
	t.Helper()
	desktop.Start(t, display, chromium(t), append(flags(t.TempDir()), "--window-size=1200,900", url)...)
}

// driven returns a chromedp context on a fresh Chromium: headless (chromedp's
// default automation set-up) or headful under display.
func driven(t testing.TB, headless bool, display string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chromium(t))}
	for _, f := range flags(t.TempDir()) {
		name, val, ok := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if ok {
			opts = append(opts, chromedp.Flag(name, val))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	if headless {
		opts = append(opts, chromedp.Headless)
	} else {
		opts = append(opts, chromedp.Env("DISPLAY="+display), chromedp.WindowSize(1200, 900))
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// Start the browser now, without a deadline (a deadline on the first
	// Run would bound the browser's whole life).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}
