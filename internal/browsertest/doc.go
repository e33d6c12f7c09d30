// Package browsertest starts headless Chromium for tests through
// chromedp and saves screenshots as test artifacts.
//
// A test that needs the browser calls New: when no Chromium is installed
// it fails under CI=true (CI must have one) and skips otherwise, saying
// how to install it. Screenshots go to the directory named by
// $DAGFLOW_SCREENSHOTS, or the test's TempDir; ScreenshotDir prints which.
package browsertest
