package browser

// AxeSource is the vendored axe-core script, for tests that drive a
// browser other than through chromedp (test/firefox) and inject it their
// own way.
func AxeSource() string { return axeSource }
