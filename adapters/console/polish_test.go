package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/application/identity"
)

// A session slides with use (the fixture's TTL is an hour) up to its max
// age, so the cookie must last until the max age: one that lasted an hour
// would sign out a user who has been busy all along.
func TestSessionCookieLastsUntilTheSessionsMaxAge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	if ck == nil {
		t.Fatal("no session cookie")
	}
	want := identity.DefaultSessionMaxAge
	if got := time.Duration(ck.MaxAge) * time.Second; got < want-time.Minute || got > want {
		t.Errorf("cookie Max-Age = %s, want the session's max age %s", got, want)
	}
}

// An error page a signed-in user meets keeps the top navigation, and the
// workspace's navigation inside a workspace they belong to, so that they
// are not stranded; signed out, or in someone else's workspace, it shows
// neither.
func TestErrorPagesKeepTheNavigation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ck := f.signIn(t, "ada@example.com", "")
	for _, tc := range []struct {
		name, target, cookie string
		topNav               bool
		wsNav                string // the marked area, "" for no workspace navigation
	}{
		{"missing submission", "/console/workspaces/site/submissions/sub_nope", ck.Value, true, "forms"},
		{"missing form", "/console/workspaces/site/forms/frm_nope", ck.Value, true, "forms"},
		{"unknown path", "/console/nowhere", ck.Value, true, ""},
		{"another's workspace", "/console/workspaces/other/forms", ck.Value, true, ""},
		{"signed out", "/console/nowhere", "", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(t, "GET", tc.target, tc.cookie, nil)
			body := w.Body.String()
			if w.Code != http.StatusNotFound {
				t.Fatalf("%s: %d, want 404", tc.target, w.Code)
			}
			if got := strings.Contains(body, `action="/console/sign-out"`); got != tc.topNav {
				t.Errorf("top navigation shown: %v, want %v:\n%s", got, tc.topNav, body)
			}
			wsNav := strings.Contains(body, `<nav class="ws"`)
			if wsNav != (tc.wsNav != "") {
				t.Errorf("workspace navigation shown: %v, want %v:\n%s", wsNav, tc.wsNav != "", body)
			}
			if tc.wsNav != "" && !strings.Contains(body, `/console/workspaces/site/`+tc.wsNav+`" aria-current="page"`) {
				t.Errorf("%s not marked current:\n%s", tc.wsNav, body)
			}
		})
	}
}

// A refused edit of an endpoint keeps what was typed in every field (the
// URL, the description, the events and the enabled box), not the saved
// values, so that fixing the one refused field is all that is left to do.
func TestARefusedWebhookEditKeepsWhatWasTyped(t *testing.T) {
	t.Parallel()
	f := newMsgFixture(t)
	_, ck := f.signIn(t, "ada@example.com", "")
	f.createHook(t, ck, url.Values{"url": {"https://hooks.example.com/keel"}, "events": {"*"}, "description": {"CRM"}})
	page := hooksPage + "/" + string(f.onlyHook(t).ID())

	// A URL the use case refuses (not http or https), with every other field changed.
	w := f.do(t, "POST", page, ck.Value, url.Values{"url": {"ftp://hooks.example.com/typed"}, "events": {"post.published"}, "description": {"Typed"}}, sameOrigin...)
	body := w.Body.String()
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `class="error" role="alert"`) {
		t.Fatalf("refused edit: %d\n%s", w.Code, body)
	}
	for _, want := range []string{`id="url" name="url" type="url" required maxlength="2000" value="ftp://hooks.example.com/typed"`, `id="description" name="description" maxlength="500" value="Typed"`, `id="ev-post-published" name="events" value="post.published" checked>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the refused form lacks %q", want)
		}
	}
	for _, unwanted := range []string{`name="events" value="*" checked`, `id="enabled" name="enabled" value="true" checked`} {
		if strings.Contains(body, unwanted) {
			t.Errorf("the refused form has the saved %q", unwanted)
		}
	}
	if t.Failed() {
		t.Fatal(body)
	}
	if h := f.onlyHook(t); h.URL() != "https://hooks.example.com/keel" || h.Description() != "CRM" || !h.Enabled() {
		t.Errorf("a refused edit changed the endpoint: %s %q enabled %v", h.URL(), h.Description(), h.Enabled())
	}
}

// A webhook form too large to read gets a 400 page that keeps the
// workspace's navigation, webhooks marked.
func TestAnUnreadableWebhookFormKeepsTheNavigation(t *testing.T) {
	t.Parallel()
	f := newMsgFixture(t)
	_, ck := f.signIn(t, "ada@example.com", "")
	w := f.createHook(t, ck, url.Values{"url": {"https://hooks.example.com/" + strings.Repeat("a", 20<<10)}, "events": {"*"}})
	body := w.Body.String()
	if w.Code != http.StatusBadRequest || !strings.Contains(body, "The form could not be read.") {
		t.Fatalf("a form past the limit: %d\n%s", w.Code, body)
	}
	if !strings.Contains(body, `action="/console/sign-out"`) || !strings.Contains(body, `/console/workspaces/site/webhooks" aria-current="page"`) {
		t.Errorf("the 400 page lacks the navigation:\n%s", body)
	}
}
