package forms_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// audit returns the workspace's audit events of action, oldest first.
func (f *fixture) audit(t *testing.T, action string) []domain.AuditEvent {
	t.Helper()
	var events []domain.AuditEvent
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		events, _, err = st.Audit().List(ctx, f.ws.ID(), ports.Page{Limit: ports.MaxPageLimit})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []domain.AuditEvent
	for _, e := range events {
		if e.Action == action {
			out = append(out, e)
		}
	}
	slices.Reverse(out)
	return out
}

// mailOf shows the queued messages of one submission as "kind to subject".
func mailOf(msgs []domain.OutboxMessage, id domain.SubmissionID) []string {
	var out []string
	for _, m := range msgs {
		if m.Submission == id {
			to := m.Message.To()
			out = append(out, fmt.Sprintf("%s %s %s", m.Kind, to[0].Address, m.Message.Subject()))
		}
	}
	slices.Sort(out)
	return out
}

// TestNotSpamQueuesTheHeldMailOnce: spam the filter caught has no mail and
// no event; marking it not spam queues exactly the mail a clean submission
// would have and writes its submission.created event, in one go, and the
// audit log says who did it but not what the submission says. Marking it
// again, or after it went back to spam, queues nothing more.
func TestNotSpamQueuesTheHeldMailOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form := f.form(t)
	res, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Bot", "email", "bot@example.com", "message", "hi", "website", "http://x.example"))
	if err != nil {
		t.Fatal(err)
	}
	spam := res.Submission
	if !spam.IsSpam() || len(f.outbox(t)) != 0 {
		t.Fatalf("honeypot submission: status %s, %d messages; want spam and none", spam.Status(), len(f.outbox(t)))
	}
	clean, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Bot", "email", "bot@example.com", "message", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	want := mailOf(f.outbox(t), clean.Submission.ID())
	if len(want) != 2 {
		t.Fatalf("a clean submission queued %q, want a notification and an autoresponse", want)
	}
	woken := f.woken

	f.clock.Add(time.Minute)
	got, err := f.svc.NotSpam(t.Context(), f.owner, "site", spam.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got.Status() != domain.SubmissionNew || got.MailHeld() || !got.UpdatedAt().Equal(f.clock.Now()) {
		t.Errorf("after NotSpam: status %s held %v updated %s", got.Status(), got.MailHeld(), got.UpdatedAt())
	}
	if mail := mailOf(f.outbox(t), spam.ID()); !slices.Equal(mail, want) {
		t.Errorf("NotSpam queued %q, want what a clean submission queues: %q", mail, want)
	}
	if f.woken != woken+1 {
		t.Errorf("dispatcher woken %d times, want once", f.woken-woken)
	}
	lines, _ := f.feed(t)
	if !slices.Contains(lines, domain.EventSubmissionCreated+" "+string(spam.ID())) {
		t.Errorf("feed %q lacks the submission.created event a clean submission writes", lines)
	}
	audits := f.audit(t, "submission.not_spam")
	if len(audits) != 1 {
		t.Fatalf("%d submission.not_spam audit events, want 1", len(audits))
	}
	a := audits[0]
	if kind, id := f.owner.Actor(); a.ActorKind != kind || a.ActorID != id || a.TargetID != string(spam.ID()) {
		t.Errorf("audit event %+v, want by the owner about %s", a, spam.ID())
	}
	if a.Details["form"] != string(form.ID()) || a.Details["from"] != "spam" || a.Details["to"] != "new" || a.Details["mail_queued"] != "2" {
		t.Errorf("audit details %v", a.Details)
	}
	if d := fmt.Sprint(a.Details); strings.Contains(d, "bot@example.com") || strings.Contains(d, "Bot") {
		t.Errorf("audit details %s hold the submission's content", d)
	}

	// Again: nothing more.
	if got, err := f.svc.NotSpam(t.Context(), f.owner, "site", spam.ID()); err != nil || got.Status() != domain.SubmissionNew {
		t.Fatalf("NotSpam twice = %s, %v; want new, nil", got.Status(), err)
	}
	// Back to spam by hand, then not spam: the mail went out already.
	if _, err := f.svc.UpdateSubmissionStatus(t.Context(), f.owner, "site", spam.ID(), domain.SubmissionSpam); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.NotSpam(t.Context(), f.owner, "site", spam.ID()); err != nil {
		t.Fatal(err)
	}
	if mail := mailOf(f.outbox(t), spam.ID()); !slices.Equal(mail, want) {
		t.Errorf("after spam and not spam again the outbox holds %q, want still %q", mail, want)
	}
	lines, _ = f.feed(t)
	if last := lines[len(lines)-1]; last != domain.EventSubmissionUpdated+" "+string(spam.ID()) {
		t.Errorf("last event %q, want submission.updated: partners heard of it already", last)
	}
	if n := len(f.audit(t, "submission.not_spam")); n != 2 {
		t.Errorf("%d submission.not_spam audit events, want 2 (the repeat changed nothing)", n)
	}
	// PATCH-like filing still refuses to take spam out of spam.
	if _, err := f.svc.UpdateSubmissionStatus(t.Context(), f.owner, "site", spam.ID(), domain.SubmissionSpam); err != nil {
		t.Fatal(err)
	}
	var de *domain.Error
	if _, err := f.svc.UpdateSubmissionStatus(t.Context(), f.owner, "site", spam.ID(), domain.SubmissionNew); !errors.As(err, &de) || de.Code != "submission_is_spam" {
		t.Errorf("UpdateSubmissionStatus(spam → new) err = %v, want submission_is_spam", err)
	}
}

// TestConcurrentNotSpamQueuesOnce: many clicks at once still queue the
// held mail once.
func TestConcurrentNotSpamQueuesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form := f.form(t)
	res, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Bot", "email", "bot@example.com", "website", "x"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := f.svc.NotSpam(t.Context(), f.owner, "site", res.Submission.ID()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if mail := mailOf(f.outbox(t), res.Submission.ID()); len(mail) != 2 {
		t.Errorf("queued %q, want one notification and one autoresponse", mail)
	}
	if n := len(f.audit(t, "submission.not_spam")); n != 1 {
		t.Errorf("%d submission.not_spam audit events, want 1", n)
	}
}

// TestSubmissionChangesAreAudited: filing and deleting a submission leave
// an audit event with its form and statuses, never its values.
func TestSubmissionChangesAreAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form := f.form(t)
	res, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "ada@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Submission.ID()
	for _, to := range []domain.SubmissionStatus{domain.SubmissionRead, domain.SubmissionArchived, domain.SubmissionSpam} {
		if _, err := f.svc.UpdateSubmissionStatus(t.Context(), f.owner, "site", id, to); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.DeleteSubmission(t.Context(), f.owner, "site", id); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, action := range []string{"submission.status_changed", "submission.deleted"} {
		for _, e := range f.audit(t, action) {
			if e.TargetKind != "submission" || e.TargetID != string(id) || e.Details["form"] != string(form.ID()) {
				t.Errorf("%s = %+v", action, e)
			}
			if d := fmt.Sprint(e.Details); strings.Contains(d, "Ada") || strings.Contains(d, "ada@") {
				t.Errorf("%s details %s hold the submission's content", action, d)
			}
			got = append(got, action+" "+e.Details["from"]+"→"+e.Details["to"]+e.Details["status"])
		}
	}
	want := []string{
		"submission.status_changed new→read", "submission.status_changed read→archived",
		"submission.status_changed archived→spam", "submission.deleted →spam",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit log %q\nwant %q", got, want)
	}
}

// TestRecentSubmissionsCrossForms: the overview's list is the newest
// submissions of every form, with the forms' names.
func TestRecentSubmissionsCrossForms(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	a := f.form(t)
	in := contactInput()
	in.Name = "Quote"
	b, err := f.svc.CreateForm(t.Context(), f.owner, "site", in)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, form := range []domain.Form{a, b, a} {
		res, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", fmt.Sprint("N", i), "email", "n@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		want = append([]string{form.Name() + " " + string(res.Submission.ID())}, want...)
		f.clock.Add(time.Second)
	}
	rs, err := f.svc.RecentSubmissions(t.Context(), f.owner, "site", 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.FormName+" "+string(r.ID))
	}
	if !slices.Equal(got, want[:2]) {
		t.Errorf("RecentSubmissions = %q, want %q", got, want[:2])
	}
}

// TestDeletingSpamFiledByHandWritesItsEvent: partners heard of a clean
// submission that someone later marked spam, so its deletion writes
// submission.deleted; spam the filter caught, which they never heard of,
// leaves no event, deleted or erased.
func TestDeletingSpamFiledByHandWritesItsEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form := f.form(t)
	clean, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "ada@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	caught, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Bot", "email", "bot@example.com", "website", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateSubmissionStatus(t.Context(), f.owner, "site", clean.Submission.ID(), domain.SubmissionSpam); err != nil {
		t.Fatal(err)
	}
	for _, id := range []domain.SubmissionID{clean.Submission.ID(), caught.Submission.ID()} {
		if err := f.svc.DeleteSubmission(t.Context(), f.owner, "site", id); err != nil {
			t.Fatal(err)
		}
	}
	lines, _ := f.feed(t)
	want := []string{
		domain.EventSubmissionCreated + " " + string(clean.Submission.ID()),
		domain.EventSubmissionUpdated + " " + string(clean.Submission.ID()),
		domain.EventSubmissionDeleted + " " + string(clean.Submission.ID()),
	}
	if !slices.Equal(lines[1:], want) { // after form.created
		t.Errorf("feed %q\nwant form.created, then %q", lines, want)
	}
}

// TestFormLinkLimitAndSpamReason: the instance allows 3 links; a form
// whose own limit is 10 takes a legitimate submission with six and sends
// its mail, while a form on the instance's limit stores it as spam for
// its links, holding the mail until it is marked not spam, once.
func TestFormLinkLimitAndSpamReason(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	six := strings.Repeat("see https://docs.example/guide ", 6)
	in, ten := contactInput(), 10
	in.MaxLinks = &ten
	generous, err := f.svc.CreateForm(t.Context(), f.owner, "site", in)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Submit(t.Context(), submission(generous.ID(), "name", "Ada", "email", "ada@example.com", "message", six))
	if err != nil || res.Submission.IsSpam() || !res.Submission.SpamReason().IsZero() {
		t.Fatalf("six links under a limit of 10: %v, status %s, reason %+v; want new", err, res.Submission.Status(), res.Submission.SpamReason())
	}
	if mail := mailOf(f.outbox(t), res.Submission.ID()); len(mail) != 2 {
		t.Errorf("six links under a limit of 10 queued %q, want a notification and an autoresponse", mail)
	}
	strict := f.form(t)
	res, err = f.svc.Submit(t.Context(), submission(strict.ID(), "name", "Ada", "email", "ada@example.com", "message", six))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.GetSubmission(t.Context(), f.owner, "site", res.Submission.ID())
	if err != nil {
		t.Fatal(err)
	}
	if r := got.SpamReason(); !got.IsSpam() || r.Cause != domain.SpamLinks || r.Detail != "6 links; the limit is 3." {
		t.Errorf("six links under the instance's 3: status %s, reason %+v; want spam for its links", got.Status(), r)
	}
	if mail := mailOf(f.outbox(t), got.ID()); len(mail) != 0 {
		t.Errorf("spam queued %q", mail)
	}
	for range 2 {
		if _, err := f.svc.NotSpam(t.Context(), f.owner, "site", got.ID()); err != nil {
			t.Fatal(err)
		}
	}
	if mail := mailOf(f.outbox(t), got.ID()); len(mail) != 2 {
		t.Errorf("after not spam twice the outbox holds %q, want the held notification and autoresponse once", mail)
	}
	if n := len(f.audit(t, "submission.not_spam")); n != 1 {
		t.Errorf("%d submission.not_spam audit events, want 1", n)
	}
}
