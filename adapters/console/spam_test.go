package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// spamForm creates a form that notifies a team and has a honeypot, and
// one submission that filled the honeypot: spam.
func (f *fixture) spamForm(t *testing.T) (domain.Form, domain.SubmissionID) {
	t.Helper()
	form, err := f.forms.CreateForm(t.Context(), f.admin, "site", domain.FormInput{
		Name: "Quote", Honeypot: "website", Notify: domain.Notify{Recipients: []string{"team@example.com"}},
		Fields: []domain.Field{{Name: "email", Label: "E-mail", Type: domain.FieldEmail, Required: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := domain.RawSubmission{Fields: map[string][]string{"email": {"x@example.com"}, "website": {"http://spam.example"}}, Order: []string{"email", "website"}}
	res, err := f.forms.Submit(t.Context(), forms.SubmitInput{Form: form.ID(), Raw: raw, ClientIP: "203.0.113.9"})
	if err != nil || !res.Submission.IsSpam() {
		t.Fatalf("submit spam: %v, spam %v", err, res.Submission.IsSpam())
	}
	return form, res.Submission.ID()
}

// TestNotSpamButton: a spam submission's page offers "Not spam" to an
// editor and up, which files it as new and queues its held notification;
// a viewer sees no button and a forged post is refused by the use case.
func TestNotSpamButton(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.c.cfg.Messaging = messaging.NewService(messaging.Config{UoW: f.db, Authorizer: f.c.cfg.Authorizer, Clock: ports.ClockFunc(time.Now)})
	_, id := f.spamForm(t)
	if _, err := f.ids.AddMember(t.Context(), f.admin, identity.AddMemberInput{Workspace: "site", Email: "bob@example.com", Role: domain.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	page := "/console/workspaces/site/submissions/" + string(id)
	_, bob := f.signIn(t, "bob@example.com", "")
	if body := f.do(t, "GET", page, bob.Value, nil).Body.String(); strings.Contains(body, "Not spam") {
		t.Errorf("a viewer is offered Not spam:\n%s", body)
	}
	if w := f.do(t, "POST", page+"/not-spam", bob.Value, url.Values{}, sameOrigin...); w.Code != http.StatusNotFound || f.status(t, id) != domain.SubmissionSpam {
		t.Errorf("a viewer's forged Not spam: %d, status %s; want 404 and spam", w.Code, f.status(t, id))
	}

	_, ck := f.signIn(t, "ada@example.com", "")
	overview := f.do(t, "GET", "/console/workspaces/site", ck.Value, nil).Body.String()
	if !strings.Contains(overview, `<dt>Waiting</dt><dd>0</dd>`) {
		t.Errorf("overview before: want an empty mail queue:\n%s", overview)
	}
	body := f.do(t, "GET", page, ck.Value, nil).Body.String()
	if !strings.Contains(body, `action="/console/workspaces/site/submissions/`+string(id)+`/not-spam"`) || strings.Contains(body, "Mark read") {
		t.Fatalf("a spam submission's page offers no Not spam button, or offers Mark read:\n%s", body)
	}
	if !strings.Contains(body, `<p id="spam-reason">Spam because the honeypot field was filled, which people leave empty.</p>`) {
		t.Errorf("a spam submission's page does not say why it is spam:\n%s", body)
	}
	for range 2 {
		w := f.do(t, "POST", page+"/not-spam", ck.Value, url.Values{}, sameOrigin...)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != page {
			t.Fatalf("Not spam: %d to %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
		}
	}
	if got := f.status(t, id); got != domain.SubmissionNew {
		t.Errorf("after Not spam: %s, want new", got)
	}
	if body := f.do(t, "GET", page, ck.Value, nil).Body.String(); strings.Contains(body, "spam-reason") {
		t.Errorf("a submission marked not spam still shows a spam reason:\n%s", body)
	}
	overview = f.do(t, "GET", "/console/workspaces/site", ck.Value, nil).Body.String()
	if !strings.Contains(overview, `<dt>Waiting</dt><dd>1, the oldest for under a minute</dd>`) {
		t.Errorf("overview after: want the one held notification waiting:\n%s", overview)
	}
	if !strings.Contains(overview, `href="/console/workspaces/site/submissions/`+string(id)+`"`) || !strings.Contains(overview, ">Quote</a>") {
		t.Errorf("overview lacks the submission with its form's name:\n%s", overview)
	}
	if w := f.do(t, "POST", page+"/not-spam", ck.Value, url.Values{}, "Sec-Fetch-Site", "cross-site"); w.Code != http.StatusForbidden {
		t.Errorf("a cross-site Not spam: %d, want 403", w.Code)
	}
}

// TestOverviewListsRecentSubmissionsAcrossForms: the overview shows the
// newest submissions of all forms, each with its form, and hides the mail
// queue from a role that may not read the outbox.
func TestOverviewListsRecentSubmissionsAcrossForms(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.c.cfg.Messaging = messaging.NewService(messaging.Config{UoW: f.db, Authorizer: f.c.cfg.Authorizer, Clock: ports.ClockFunc(time.Now)})
	_, ids := f.newForm(t, "one", "two")
	_, spam := f.spamForm(t)
	if _, err := f.ids.AddMember(t.Context(), f.admin, identity.AddMemberInput{Workspace: "site", Email: "bob@example.com", Role: domain.RoleEditor}); err != nil {
		t.Fatal(err)
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	body := f.do(t, "GET", "/console/workspaces/site", ck.Value, nil).Body.String()
	for _, id := range append(ids, spam) {
		if !strings.Contains(body, "/console/workspaces/site/submissions/"+string(id)) {
			t.Errorf("overview lacks submission %s:\n%s", id, body)
		}
	}
	if !strings.Contains(body, ">Contact us</a>") || !strings.Contains(body, ">Quote</a>") || !strings.Contains(body, "Mail queue") {
		t.Errorf("overview lacks a form's name or the mail queue:\n%s", body)
	}
	_, bob := f.signIn(t, "bob@example.com", "")
	if body := f.do(t, "GET", "/console/workspaces/site", bob.Value, nil).Body.String(); strings.Contains(body, "Mail queue") || !strings.Contains(body, string(spam)) {
		t.Errorf("an editor's overview: want the submissions and no mail queue:\n%s", body)
	}
}
