package console

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestAccountFlowsInABrowser runs the account flows as a person would,
// on keel serve with its mail sent over SMTP to Mailpit: Ada forgets her
// password, asks for a link from the sign-in page, follows the mailed
// link, sets a new password and signs in with it, and visits her account
// page; then an address without an account, invited by Ada, follows the
// invitation's mailed link, creates its account there and lands on the
// workspace. Screenshots of the pages go where the other console
// screenshots go.
func TestAccountFlowsInABrowser(t *testing.T) {
	p, mp := serveWithMailpit(t, "Keel <accounts@keel.test>")
	// Run-unique addresses: the Mailpit container is shared by the package.
	run := strings.ToLower(time.Now().Format("150405.000000"))
	ada, grace := "ada-"+run+"@site.test", "grace-"+run+"@site.test"
	const oldPassword, newPassword = ownerPassword, "a brand new passphrase"
	token := setupOwner(t, p, ada)
	p.MustCall(t, "POST", "/v1/workspaces", token, map[string]any{"name": "Harbour Site", "slug": "site"}, 201, nil)

	b := newTab(t, pageTimeout, 360, 800, screenshotDir(t), nil)
	ctx, fail, shot := b.ctx, b.fail, b.shot
	// mailedLink waits for the mail to the address and returns the
	// console link to path it carries, on this keel serve.
	mailedLink := func(to, path string) string {
		t.Helper()
		found := mp.WaitForSearch(t, "to:"+to, 1, 30*time.Second)
		msg := mp.Message(t, found[0].ID)
		m := regexp.MustCompile(regexp.QuoteMeta(p.URL) + `/console/` + path + `/k[a-z]{2}_[0-9a-z]{52}\b`).FindString(msg.Text)
		if m == "" {
			t.Fatalf("no %s link to %s in the mail:\n%s", path, p.URL, msg.Text)
		}
		return m
	}

	// A forgotten password, from the sign-in page's link.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/console/sign-in"),
		chromedp.Click(chromedp.CSS(`a[href="/console/password-reset"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), ada),
		chromedp.Click(chromedp.CSS(`form[action="/console/password-reset"] button`)),
		chromedp.WaitVisible(chromedp.ID("reset-sent")),
	); err != nil {
		fail("ask for a reset link", err)
	}
	shot("password-reset-sent.png")
	link := mailedLink(ada, "password-reset")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("password")),
	); err != nil {
		fail("open the mailed reset link", err)
	}
	shot("password-reset.png")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("password"), newPassword),
		chromedp.SendKeys(chromedp.ID("confirm"), newPassword),
		chromedp.Click(chromedp.CSS(`form[action^="/console/password-reset/"] button`)),
		chromedp.WaitVisible(chromedp.ID("reset-done")),
		chromedp.Click(chromedp.CSS(`main a[href="/console/sign-in"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), ada),
		chromedp.SendKeys(chromedp.ID("password"), newPassword),
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-in"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/workspaces/site"]`)),
	); err != nil {
		fail("set a new password and sign in with it", err)
	}
	// The session from setup ended with the reset; the old password no
	// longer signs in.
	p.MustCall(t, "GET", "/v1/me", token, nil, 401, nil)
	p.MustCall(t, "POST", "/v1/auth/login", "", map[string]any{"email": ada, "password": oldPassword}, 401, nil)
	// The used link says so, with a 404, which Chromium logs as an error.
	usedLink := link
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("reset-unusable"))); err != nil {
		fail("open the used reset link", err)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/console/workspaces"),
		chromedp.Click(chromedp.CSS(`a[href="/console/account"]`)),
		chromedp.WaitVisible(chromedp.ID("current_password")),
	); err != nil {
		fail("open the account page", err)
	}
	shot("account.png")
	email, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("account-email")))
	if err != nil || email != ada {
		t.Errorf("the account page shows %q (%v), want %s", email, err, ada)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/console/sign-out"] button`)),
		chromedp.WaitVisible(chromedp.ID("password")),
	); err != nil {
		fail("sign out", err)
	}

	// An invitation accepted by a new user from the mailed link.
	var login struct{ Token string }
	p.MustCall(t, "POST", "/v1/auth/login", "", map[string]any{"email": ada, "password": newPassword}, 200, &login)
	p.MustCall(t, "POST", "/v1/workspaces/site/invitations", login.Token, map[string]any{"email": grace, "role": "editor"}, 201, nil)
	link = mailedLink(grace, "invitations")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("name")),
	); err != nil {
		fail("open the mailed invitation link", err)
	}
	shot("invitation.png")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("name"), "Grace"),
		chromedp.SendKeys(chromedp.ID("password"), newPassword),
		chromedp.SendKeys(chromedp.ID("confirm"), newPassword),
		chromedp.Click(chromedp.CSS(`form[action^="/console/invitations/"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.ws`)),
	); err != nil {
		fail("accept the invitation", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if loc != p.URL+"/console/workspaces/site" {
		t.Errorf("after accepting, the browser is at %s, want the workspace", loc)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main h1")))
	if err != nil || !strings.Contains(heading, "Harbour Site") {
		t.Errorf("the workspace page's heading is %q (%v)", heading, err)
	}
	shot("invitation-accepted.png")
	var members struct {
		Data []struct {
			Email, Role string
		}
	}
	p.MustCall(t, "GET", "/v1/workspaces/site/members", login.Token, nil, 200, &members)
	joined := false
	for _, m := range members.Data {
		joined = joined || (m.Email == grace && m.Role == "editor")
	}
	if !joined {
		t.Errorf("members through the API: %+v, want %s as an editor", members.Data, grace)
	}

	b.checkProblems(func(pr string) bool {
		return strings.Contains(pr, "status of 404") && strings.HasSuffix(pr, " "+usedLink)
	})
}
