// Package browser starts a headless Chromium for tests, driven through
// chromedp. A missing browser skips the test on a workstation and fails it
// in CI (env CI set): CI must not count a skip as a pass.
package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvPath names the browser binary when set; otherwise Chromium is looked
// for at the usual Debian paths and on PATH.
const EnvPath = "CONVEYOR_CHROMIUM"

// DefaultTimeout bounds a test's whole browser session.
const DefaultTimeout = 2 * time.Minute

// Path finds the browser: $CONVEYOR_CHROMIUM, /usr/bin/chromium, then
// chromium or chromium-browser or google-chrome on PATH.
func Path() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("browser: %s=%s: %w", EnvPath, p, err)
		}
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("browser: no chromium found (apt-get install chromium, or set %s)", EnvPath)
}

// New starts a headless browser for t and returns a tab's context: pass it
// to chromedp.Run and chromedp.Do. The browser stops, and its profile is
// removed, when the test ends. Without a browser the test is skipped, or
// failed when env CI is set.
func New(t testing.TB) context.Context {
	t.Helper()
	path, err := Path()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: CI needs the browser", err)
		}
		t.Skip(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // root in containers has no user namespace sandbox
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1400, 900),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), DefaultTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
	})
	// Start the browser now, so a broken install fails here with its own
	// message rather than in the test's first step.
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("browser: start %s: %v", path, err)
	}
	return tabCtx
}

// Screenshot saves the whole page as a PNG at path, making its folder.
func Screenshot(ctx context.Context, path string) error {
	return save(ctx, chromedp.FullScreenshot(100), path)
}

// ScreenshotView saves what the window shows (1400x900) as a PNG at path:
// the first screen of a long page, as a person sees it.
func ScreenshotView(ctx context.Context, path string) error {
	return save(ctx, chromedp.CaptureScreenshot(), path)
}

func save(ctx context.Context, shot chromedp.Action[[]byte], path string) error {
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		return fmt.Errorf("screenshot %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("screenshot %s: %w", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("screenshot %s: %w", path, err)
	}
	return nil
}

// WaitFor polls a JavaScript expression in the page until it is truthy,
// up to timeout, and fails t with what was awaited and the page's text
// otherwise. An expression that throws (an element not there yet) counts
// as false.
func WaitFor(t testing.TB, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	safe := "(() => { try { return !!(" + expr + "); } catch (e) { return false; } })()"
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](safe, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
		t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, body)
	}
}
