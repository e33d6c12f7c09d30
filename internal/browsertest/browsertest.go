package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvScreenshots names the directory screenshots are saved to.
const EnvScreenshots = "DAGFLOW_SCREENSHOTS"

// EnvChromium overrides the browser binary.
const EnvChromium = "DAGFLOW_CHROMIUM"

// Chromium returns the path of a Chromium or Chrome binary, or "".
func Chromium() string {
	if p := os.Getenv(EnvChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New starts a headless browser with a window of w×h pixels and returns
// a chromedp context for one tab; everything stops at the end of the
// test or after timeout. Extra options are added to the browser's (e.g.
// chromedp.Flag("ignore-certificate-errors", true) for a test CA).
func New(t testing.TB, w, h int, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := Require(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.WindowSize(w, h),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: start %s: %v", path, err)
	}
	return ctx
}

// Require returns the browser binary, or ends the test when there is
// none: it fails under CI=true and skips otherwise. Tests that prepare
// for long call it first, then New.
func Require(t testing.TB) string {
	t.Helper()
	path := Chromium()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("browsertest: no chromium found (looked for chromium, chromium-browser, google-chrome and $" + EnvChromium + "); CI must install it (apt-get install chromium)")
		}
		t.Skip("browsertest: no chromium installed; skipping the browser test (apt-get install chromium, or set $" + EnvChromium + ")")
	}
	return path
}

// ScreenshotDir returns where screenshots go ($DAGFLOW_SCREENSHOTS or the
// test's TempDir) and logs it.
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvScreenshots)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: $%s: %v", EnvScreenshots, err)
	}
	t.Logf("screenshots are saved in %s (set $%s to keep them elsewhere)", dir, EnvScreenshots)
	return dir
}

// Screenshot saves the full page as dir/name.png.
func Screenshot(t testing.TB, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
}
