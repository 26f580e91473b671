package console

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

const hooksPage = "/console/workspaces/site/webhooks"

// secretRE finds the secret's field; html/template writes a "+" in an
// attribute as &#43;, which the browser reads back as "+".
var secretRE = regexp.MustCompile(`<input id="secret" value="(whsec_[^"]+)" readonly`)

// shownSecret is the secret a page shows in its field, "" without one.
func shownSecret(body string) string {
	m := secretRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// createHook creates an endpoint from the console's form as ck and
// returns the page that answers it.
func (f *msgFixture) createHook(t *testing.T, ck *http.Cookie, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	return f.do(t, "POST", hooksPage, ck.Value, form, sameOrigin...)
}

// onlyHook returns the one endpoint of "site".
func (f *msgFixture) onlyHook(t *testing.T) domain.Webhook {
	t.Helper()
	hooks, _, err := f.msgs.ListWebhooks(t.Context(), f.admin, "site", ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(hooks))
	}
	return hooks[0]
}

func TestCreatingAWebhookShowsItsSecretOnce(t *testing.T) {
	t.Parallel()
	f := newMsgFixture(t)
	_, ck := f.signIn(t, "ada@example.com", "")

	w := f.do(t, "GET", hooksPage, ck.Value, nil)
	body := w.Body.String()
	for _, want := range []string{
		`aria-current="page">Webhooks</a>`, "No webhooks yet.", `<form method="post" action="/console/workspaces/site/webhooks"`,
		`<input type="checkbox" id="ev-all" name="events" value="*">`, `<label for="ev-submission-created">submission.created</label>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatal(body)
	}

	// A refused form says why and keeps what was typed.
	w = f.createHook(t, ck, url.Values{"url": {"http://hooks.example.com/keel"}, "description": {"CRM"}})
	if body := w.Body.String(); w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `class="error" role="alert"`) || !strings.Contains(body, `value="http://hooks.example.com/keel"`) || !strings.Contains(body, `value="CRM"`) {
		t.Fatalf("refused create: %d\n%s", w.Code, body)
	}

	w = f.createHook(t, ck, url.Values{"url": {"https://hooks.example.com/keel?token=abc"}, "events": {"submission.created", "form.created"}, "description": {"CRM <sync>"}})
	body = w.Body.String()
	secret := shownSecret(body)
	if w.Code != http.StatusOK || secret == "" || !strings.Contains(body, `<button type="button" data-copy="secret" hidden>Copy</button>`) {
		t.Fatalf("create: %d, secret %q\n%s", w.Code, secret, body)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("the secret's page may be cached: %q", w.Header().Get("Cache-Control"))
	}
	hook := f.onlyHook(t)
	if hook.Secret().Text() != secret {
		t.Errorf("the page shows %q, the endpoint signs with another secret", secret)
	}
	// Never again: neither the list nor the endpoint's page shows it.
	for _, path := range []string{hooksPage, hooksPage + "/" + string(hook.ID())} {
		w := f.do(t, "GET", path, ck.Value, nil)
		if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "whsec_") {
			t.Errorf("%s: %d, shows a secret: %v", path, w.Code, strings.Contains(w.Body.String(), "whsec_"))
		}
	}
	body = f.do(t, "GET", hooksPage, ck.Value, nil).Body.String()
	for _, want := range []string{`href="/console/workspaces/site/webhooks/` + string(hook.ID()) + `">https://hooks.example.com/keel?token=abc</a>`, "CRM &lt;sync&gt;", "form.created, submission.created", ">enabled</span>"} {
		if !strings.Contains(body, want) {
			t.Errorf("the list lacks %q:\n%s", want, body)
		}
	}

	// A rotation shows the new secret once, and when the old one expires.
	w = f.do(t, "POST", hooksPage+"/"+string(hook.ID())+"/rotate", ck.Value, url.Values{}, sameOrigin...)
	body = w.Body.String()
	rotated := shownSecret(body)
	if w.Code != http.StatusOK || rotated == "" || rotated == secret || !strings.Contains(body, "The previous secret keeps signing beside this one until") {
		t.Fatalf("rotate: %d, secret %q\n%s", w.Code, rotated, body)
	}
	if got := f.onlyHook(t).Secret().Text(); got != rotated {
		t.Errorf("after rotation the endpoint signs with another secret than the page shows")
	}
}

func TestAWebhooksPageEditsTestsAndDeletes(t *testing.T) {
	t.Parallel()
	f := newMsgFixture(t)
	_, ck := f.signIn(t, "ada@example.com", "")
	f.createHook(t, ck, url.Values{"url": {"https://hooks.example.com/keel"}, "events": {"*"}})
	hook := f.onlyHook(t)
	page := hooksPage + "/" + string(hook.ID())

	body := f.do(t, "GET", page, ck.Value, nil).Body.String()
	for _, want := range []string{"Send a test event", "Rotate the secret", "Delete for good", `<input type="checkbox" id="ev-all" name="events" value="*" checked>`, `id="enabled" name="enabled" value="true" checked`, "No deliveries."} {
		if !strings.Contains(body, want) {
			t.Errorf("the endpoint's page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatal(body)
	}

	// Disabling: the box left unchecked.
	w := f.do(t, "POST", page, ck.Value, url.Values{"url": {"https://hooks.example.com/v2"}, "events": {"post.published"}, "description": {"Blog"}}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != page {
		t.Fatalf("edit: %d to %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	if h := f.onlyHook(t); h.Enabled() || h.URL() != "https://hooks.example.com/v2" || strings.Join(h.Events(), ",") != "post.published" || h.Description() != "Blog" {
		t.Fatalf("after edit: enabled %v, %s %v %q", h.Enabled(), h.URL(), h.Events(), h.Description())
	}
	body = f.do(t, "GET", page, ck.Value, nil).Body.String()
	if !strings.Contains(body, `id="state">disabled by a user</span>`) || strings.Contains(body, "Send a test event") {
		t.Errorf("a disabled endpoint's page:\n%s", body)
	}
	if w := f.do(t, "POST", page+"/test", ck.Value, url.Values{}, sameOrigin...); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "This webhook is disabled") {
		t.Errorf("test of a disabled endpoint: %d", w.Code)
	}
	// A refused edit says why.
	w = f.do(t, "POST", page, ck.Value, url.Values{"url": {"https://hooks.example.com/v2"}, "enabled": {"true"}}, sameOrigin...)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "events: Subscribe to at least one event type") {
		t.Errorf("edit without events: %d\n%s", w.Code, w.Body)
	}

	f.do(t, "POST", page, ck.Value, url.Values{"url": {"https://hooks.example.com/v2"}, "events": {"*"}, "enabled": {"true"}}, sameOrigin...)
	w = f.do(t, "POST", page+"/test", ck.Value, url.Values{}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != page+"#deliveries" {
		t.Fatalf("test: %d to %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	ds, _, err := f.msgs.ListDeliveries(t.Context(), f.admin, "site", hook.ID(), "", ports.Page{})
	if err != nil || len(ds) != 1 || ds[0].EventType != domain.EventWebhookTest {
		t.Fatalf("deliveries %+v, %v", ds, err)
	}
	body = f.do(t, "GET", page, ck.Value, nil).Body.String()
	if !strings.Contains(body, `href="`+page+`/deliveries/`+string(ds[0].ID)+`"`) || !strings.Contains(body, "<td>webhook.test</td>") {
		t.Errorf("the log does not list the test:\n%s", body)
	}
	if body := f.do(t, "GET", page+"?status=sent", ck.Value, nil).Body.String(); !strings.Contains(body, "No deliveries with this status.") {
		t.Errorf("sent only:\n%s", body)
	}
	if w := f.do(t, "GET", page+"?status=bogus", ck.Value, nil); w.Code != http.StatusBadRequest {
		t.Errorf("bogus status: %d", w.Code)
	}

	w = f.do(t, "POST", page+"/delete", ck.Value, url.Values{}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != hooksPage {
		t.Fatalf("delete: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if w := f.do(t, "GET", page, ck.Value, nil); w.Code != http.StatusNotFound {
		t.Errorf("a deleted endpoint's page: %d", w.Code)
	}
}

func TestADeliverysPageEscapesTheReceiversAnswer(t *testing.T) {
	t.Parallel()
	f := newMsgFixture(t)
	_, ck := f.signIn(t, "ada@example.com", "")
	f.createHook(t, ck, url.Values{"url": {"https://hooks.example.com/keel"}, "events": {"*"}})
	hook := f.onlyHook(t)
	d, err := f.msgs.TestWebhook(t.Context(), f.admin, "site", hook.ID())
	if err != nil {
		t.Fatal(err)
	}
	// What a dispatcher records of a receiver that answers 400 with HTML.
	d.Record(domain.DeliveryAttempt{At: time.Now(), StatusCode: 400, Latency: 12 * time.Millisecond, Error: "the receiver answered 400", Body: `<script>alert("owned")</script>`}, domain.DeliveryFinal, domain.DefaultWebhookRetryPolicy)
	if err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Deliveries().Save(ctx, d) }); err != nil {
		t.Fatal(err)
	}
	page := hooksPage + "/" + string(hook.ID()) + "/deliveries/" + string(d.ID)
	w := f.do(t, "GET", page, ck.Value, nil)
	body := w.Body.String()
	for _, want := range []string{`id="status">failed</span>`, "HTTP 400 · 12ms", "the receiver answered 400", `<pre class="excerpt">&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;</pre>`, `action="` + page + `/redeliver"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the delivery's page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("the receiver's answer is not escaped")
	}
	if t.Failed() {
		t.Fatal(body)
	}
	if body := f.do(t, "GET", hooksPage+"/"+string(hook.ID()), ck.Value, nil).Body.String(); !strings.Contains(body, "HTTP 400: the receiver answered 400") {
		t.Errorf("the log lacks the last answer:\n%s", body)
	}

	w = f.do(t, "POST", page+"/redeliver", ck.Value, url.Values{}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != page {
		t.Fatalf("redeliver: %d to %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	body = f.do(t, "GET", page, ck.Value, nil).Body.String()
	if !strings.Contains(body, `id="status">pending</span>`) || strings.Contains(body, "/redeliver") {
		t.Errorf("a pending delivery's page:\n%s", body)
	}
	if w := f.do(t, "GET", hooksPage+"/"+string(hook.ID())+"/deliveries/dlv_nope", ck.Value, nil); w.Code != http.StatusNotFound {
		t.Errorf("unknown delivery: %d", w.Code)
	}
}

func TestViewersAndEditorsGetNoWebhookControls(t *testing.T) {
	t.Parallel()
	for _, role := range []domain.Role{domain.RoleViewer, domain.RoleEditor} {
		t.Run(role.String(), func(t *testing.T) {
			t.Parallel()
			f := newMsgFixture(t)
			_, ada := f.signIn(t, "ada@example.com", "")
			f.createHook(t, ada, url.Values{"url": {"https://hooks.example.com/keel"}, "events": {"*"}})
			hook := f.onlyHook(t)
			d, err := f.msgs.TestWebhook(t.Context(), f.admin, "site", hook.ID())
			if err != nil {
				t.Fatal(err)
			}
			bob := f.member(t, role) // queues a member.added delivery
			before, _, err := f.msgs.ListDeliveries(t.Context(), f.admin, "site", hook.ID(), "", ports.Page{})
			if err != nil {
				t.Fatal(err)
			}
			w := f.do(t, "GET", hooksPage, bob.Value, nil)
			body := w.Body.String()
			if w.Code != http.StatusForbidden || !strings.Contains(body, "Only the workspace&#39;s admins and owners can see and manage its webhooks.") {
				t.Fatalf("%s's list: %d\n%s", role, w.Code, body)
			}
			if strings.Contains(body, "hooks.example.com") || strings.Contains(body, `method="post" action="/console/workspaces/site/webhooks`) {
				t.Errorf("%s sees endpoints or controls:\n%s", role, body)
			}
			page := hooksPage + "/" + string(hook.ID())
			for _, path := range []string{page, page + "/deliveries/" + string(d.ID)} {
				if w := f.do(t, "GET", path, bob.Value, nil); w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "hooks.example.com") {
					t.Errorf("%s on %s: %d", role, path, w.Code)
				}
			}
			for _, post := range []struct {
				path string
				form url.Values
			}{
				{hooksPage, url.Values{"url": {"https://evil.example.com/"}, "events": {"*"}}},
				{page, url.Values{"url": {"https://evil.example.com/"}, "events": {"*"}, "enabled": {"true"}}},
				{page + "/test", url.Values{}},
				{page + "/rotate", url.Values{}},
				{page + "/delete", url.Values{}},
				{page + "/deliveries/" + string(d.ID) + "/redeliver", url.Values{}},
			} {
				w := f.do(t, "POST", post.path, bob.Value, post.form, sameOrigin...)
				if w.Code != http.StatusNotFound && w.Code != http.StatusForbidden {
					t.Errorf("%s's forged POST %s: %d, want 403 or 404", role, post.path, w.Code)
				}
				if strings.Contains(w.Body.String(), "whsec_") {
					t.Errorf("%s's forged POST %s shows a secret", role, post.path)
				}
			}
			if h := f.onlyHook(t); h.URL() != hook.URL() || h.Secret().Text() != hook.Secret().Text() {
				t.Errorf("after %s's forged posts the endpoint changed", role)
			}
			ds, _, err := f.msgs.ListDeliveries(t.Context(), f.admin, "site", hook.ID(), "", ports.Page{})
			if err != nil || len(ds) != len(before) {
				t.Errorf("after %s's forged posts: %d deliveries, %v", role, len(ds), err)
			}
		})
	}
}
