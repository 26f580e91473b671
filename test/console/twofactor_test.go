package console

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/keelhq/keel/test/browser"
	"github.com/keelhq/keel/test/keelproc"
)

// TestTwoFactorInABrowser enrols in two-factor authentication in the
// console, reading the secret off the enrolment page and computing codes
// with pquerna/otp (an implementation Keel's does not share), signs out,
// signs in with the password and a code, then with a recovery code, and
// checks that a code already used is refused. The enrolment page and the
// code step are checked with axe-core at 360 px and photographed.
func TestTwoFactorInABrowser(t *testing.T) {
	p := keelproc.Serve(t, "serve", []string{
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_SECRET_KEY=" + strings.Repeat("two-factor-test-", 3),
	})
	const email, password = "ada@example.com", "correct horse battery"
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": email, "password": password, "name": "Ada"}, 201, &setup)
	shots := screenshotDir(t)

	ctx := browser.New(t, pageTimeout, chromedp.WindowSize(contentWidth, contentHeight))
	var (
		mu       sync.Mutex
		problems []string
	)
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "uncaught: "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				problems = append(problems, fmt.Sprintf("%s %s: %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	fail := func(step string, err error) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s: %v\nproblems: %q", step, err, problems)
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	signInWithPassword := func() {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(p.URL+"/console/sign-in"),
			chromedp.WaitVisible(chromedp.ID("password")),
			chromedp.SendKeys(chromedp.ID("email"), email),
			chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Click(chromedp.CSS(`form[action="/console/sign-in"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/console/sign-in/second-factor"] #code`)),
		); err != nil {
			fail("sign in with the password", err)
		}
	}
	signOut := func() {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`form[action="/console/sign-out"] button`)),
			chromedp.WaitVisible(chromedp.ID("password")),
		); err != nil {
			fail("sign out", err)
		}
	}
	signedIn := chromedp.WaitVisible(chromedp.CSS(`form[action="/console/sign-out"] button`))

	// Enrol: from the account page to the enrolment, whose secret the test
	// reads as a person would type it into an app.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/console/sign-in"),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-in"] button`)),
		signedIn,
		chromedp.Navigate(p.URL+"/console/account"),
		chromedp.Click(chromedp.CSS(`a[href="/console/account/two-factor"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/account/two-factor/start"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/console/account/two-factor/start"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`svg.qr`)),
	); err != nil {
		fail("start the enrolment", err)
	}
	secret, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("totp-secret").value`))
	if err != nil || !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(secret) {
		t.Fatalf("the enrolment page's secret = %q, %v", secret, err)
	}
	checkNarrowPage(t, ctx, "the enrolment page")
	shot("two-factor-enrol.png")
	code := func(skew time.Duration) string {
		t.Helper()
		c, err := totp.GenerateCode(secret, time.Now().Add(skew))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("code"), code(0)),
		chromedp.Click(chromedp.CSS(`form[action="/console/account/two-factor/confirm"] button`)),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")),
	); err != nil {
		fail("confirm the enrolment", err)
	}
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#recovery-codes code")].map(c => c.textContent)`))
	if err != nil || len(codes) != 10 {
		t.Fatalf("recovery codes = %q, %v", codes, err)
	}
	signOut()

	// The password alone leads to the code step; the app's next code
	// finishes the sign-in (the confirming one is spent).
	signInWithPassword()
	checkNarrowPage(t, ctx, "the sign-in's code step")
	shot("two-factor-code.png")
	next := code(30 * time.Second)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("code"), next),
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-in/second-factor"] button`)),
		signedIn,
	); err != nil {
		fail("sign in with a code", err)
	}
	signOut()

	// The same code again is refused; a recovery code then signs in.
	signInWithPassword()
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("code"), next),
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-in/second-factor"] button`)),
		chromedp.WaitVisible(chromedp.ID("code-error")),
	); err != nil {
		fail("a reused code", err)
	}
	refused, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("code-error")))
	if err != nil || !strings.Contains(refused, "already used") {
		t.Fatalf("a reused code shows %q, %v", refused, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`summary`)),
		chromedp.WaitVisible(chromedp.ID("recovery_code")),
		chromedp.SendKeys(chromedp.ID("recovery_code"), codes[0]),
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-in/second-factor"] button`)),
		signedIn,
		chromedp.Navigate(p.URL+"/console/account/two-factor"),
		chromedp.WaitVisible(chromedp.ID("recovery-codes-left")),
	); err != nil {
		fail("sign in with a recovery code", err)
	}
	left, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("recovery-codes-left")))
	if err != nil || left != "9" {
		t.Fatalf("recovery codes left = %q, %v; want 9", left, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, pr := range problems {
		// The refused code's page is a 401 on purpose.
		if strings.Contains(pr, "status of 401") && strings.HasSuffix(pr, "/console/sign-in/second-factor") {
			continue
		}
		t.Errorf("the browser reported: %s", pr)
	}
}
