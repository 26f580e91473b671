package console

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/keelhq/keel/test/keelproc"
)

// TestTwoFactorInABrowser enrols in two-factor authentication in the
// console, reading the secret off the enrolment page and computing codes
// with pquerna/otp (an implementation Keel's does not share) after giving
// the password the start asks for, signs out,
// signs in with the password and a code, then with a recovery code, and
// checks that a code already used is refused. The enrolment page and the
// code step are checked with axe-core at 360 px and photographed.
func TestTwoFactorInABrowser(t *testing.T) {
	p := keelproc.Serve(t, "serve", []string{
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_SECRET_KEY=" + strings.Repeat("two-factor-test-", 3),
	})
	const email, password = ownerEmail, ownerPassword
	setupOwner(t, p, email)
	b := newTab(t, pageTimeout, contentWidth, contentHeight, screenshotDir(t), nil)
	ctx, fail, shot := b.ctx, b.fail, b.shot
	signInWithPassword := func() {
		t.Helper()
		if err := chromedp.Do(ctx,
			submitSignIn(p.URL, email, password),
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
	b.signIn(p.URL, email, password)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/console/account"),
		chromedp.Click(chromedp.CSS(`a[href="/console/account/two-factor"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/account/two-factor/start"] button`)),
		// Starting needs the password, so that a stolen session cannot enrol.
		chromedp.SendKeys(chromedp.ID("start_password"), password),
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
	// The refused code's page is a 401 on purpose.
	b.checkProblems(func(pr string) bool {
		return strings.Contains(pr, "status of 401") && strings.HasSuffix(pr, "/console/sign-in/second-factor")
	})
}
