package console

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keelhq/keel/test/keelproc"
)

// TestMembersAndKeysInABrowser: an owner invites an editor by e-mail and
// finds the invitation listed, creates an API key, copies its secret with
// the Copy button (console.js, the console's only script) and the copied
// key works against the API; the keys list, reloaded, never shows the
// secret. Screenshots of the members page, the secret's page and the keys
// page go where the other console screenshots go.
func TestMembersAndKeysInABrowser(t *testing.T) {
	p := keelproc.Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir(), "KEEL_DISPATCHER=off"})
	token := setupSite(t, p)
	// A CSP violation (a script the policy blocks) is one of the
	// problems the tab collects.
	b := newTab(t, pageTimeout, 360, 800, screenshotDir(t), nil)
	ctx, fail, shot := b.ctx, b.fail, b.shot

	b.signIn(p.URL, ownerEmail, ownerPassword)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/console/workspaces/site"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/members"]`)),
		chromedp.Click(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/members"]`)),
		chromedp.WaitVisible(chromedp.ID("add-email")),
	); err != nil {
		fail("open the members page", err)
	}

	// Eddie has no account: adding him by address invites him.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("add-email"), "eddie@example.com"),
		chromedp.SetValue(chromedp.ID("add-role"), "editor"),
		chromedp.Click(chromedp.CSS(`form[action="/console/workspaces/site/members"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice`)),
	); err != nil {
		fail("invite an editor", err)
	}
	invites, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("table.invitations tbody")))
	if err != nil {
		fail("read the invitations", err)
	}
	if !strings.Contains(invites, "eddie@example.com") || !strings.Contains(invites, "editor") {
		t.Errorf("the pending invitations are %q, want eddie@example.com as editor", invites)
	}
	var listed struct {
		Data []struct{ Email, Role string }
	}
	p.MustCall(t, "GET", "/v1/workspaces/site/invitations", token, nil, 200, &listed)
	if len(listed.Data) != 1 || listed.Data[0].Email != "eddie@example.com" || listed.Data[0].Role != "editor" {
		t.Errorf("through the API the invitations are %+v", listed.Data)
	}
	shot("members.png")

	// A key with two scopes; its secret is the answer to the form's POST.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav.ws a[href="/console/workspaces/site/keys"]`)),
		chromedp.WaitVisible(chromedp.ID("key-name")),
		chromedp.SendKeys(chromedp.ID("key-name"), "Build server"),
		chromedp.Click(chromedp.CSS(`input[name="scope"][value="forms:read"]`)),
		chromedp.Click(chromedp.CSS(`input[name="scope"][value="content:read"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/console/workspaces/site/keys"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("secret")),
		// console.js shows the Copy button, hidden without it.
		chromedp.WaitVisible(chromedp.CSS(`button[data-copy="secret"]`)),
	); err != nil {
		fail("create a key", err)
	}
	secret, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("secret")))
	if err != nil || !strings.HasPrefix(secret, "keel_") {
		fail("read the secret", fmt.Errorf("%q, %v", secret, err))
	}
	b.grantClipboard(p.URL)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[data-copy="secret"]`))); err != nil {
		fail("click Copy", err)
	}
	status, err := chromedp.Run(ctx, chromedp.Poll[string](`document.querySelector('button[data-copy="secret"] + [role="status"]').textContent`,
		chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil || status != "Copied" {
		fail("wait for the copy's status", fmt.Errorf("status %q, %v", status, err))
	}
	copied, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil || copied != secret {
		t.Errorf("the clipboard holds %q (%v), want the secret %q", copied, err, secret)
	}
	shot("key-secret.png")

	// The copied key works against the API, with its scopes.
	// GET /v1/me is a person's account, which refuses a key with 403; a
	// key asks what it is at /v1/api-keys/current.
	var current struct {
		Name      string
		Scopes    []string
		Workspace struct{ Slug string }
	}
	p.MustCall(t, "GET", "/v1/api-keys/current", copied, nil, 200, &current)
	if current.Name != "Build server" || strings.Join(current.Scopes, " ") != "forms:read content:read" || current.Workspace.Slug != "site" {
		t.Errorf("the key is %+v", current)
	}
	p.MustCall(t, "GET", "/v1/workspaces/site/forms", copied, nil, 200, nil)
	p.MustCall(t, "GET", "/v1/me", copied, nil, 403, nil)

	// The list, reloaded, shows the key but never its secret.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`main a[href="/console/workspaces/site/keys"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.keys`)),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`table.keys`)),
	); err != nil {
		fail("back to the keys", err)
	}
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html, "Build server") || strings.Contains(html, secret[len(secret)-20:]) {
		t.Errorf("the keys list lacks the key or shows its secret:\n%s", html)
	}
	shot("keys.png")

	b.checkProblems(nil)
}
