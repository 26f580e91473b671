package forms_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// hookedUoW wraps the fixture's database: it counts write transactions and
// runs a hook after a read or before a write transaction, to put another
// actor's change between the two.
type hookedUoW struct {
	ports.UnitOfWork
	mu          sync.Mutex
	txs         int
	afterRead   func()
	beforeWrite func()
}

func (u *hookedUoW) WithinTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	u.mu.Lock()
	u.txs++
	hook := u.beforeWrite
	u.mu.Unlock()
	if hook != nil {
		hook()
	}
	return u.UnitOfWork.WithinTx(ctx, fn)
}

func (u *hookedUoW) ReadOnly(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	err := u.UnitOfWork.ReadOnly(ctx, fn)
	u.mu.Lock()
	hook := u.afterRead
	u.afterRead = nil
	u.mu.Unlock()
	if hook != nil {
		hook()
	}
	return err
}

func (u *hookedUoW) writes() int { u.mu.Lock(); defer u.mu.Unlock(); return u.txs }

func hooked(f **hookedUoW) func(*forms.Config) {
	return func(c *forms.Config) {
		*f = &hookedUoW{UnitOfWork: c.UoW}
		c.UoW = *f
	}
}

// TestRefusedWorkNeverOpensAWriteTransaction: definitions and submissions
// are checked (templates, patterns, values) before any write transaction,
// so a refusal, however costly its check, never holds up other writers.
func TestRefusedWorkNeverOpensAWriteTransaction(t *testing.T) {
	t.Parallel()
	var u *hookedUoW
	f := newFixture(t, 100, hooked(&u))
	form := f.form(t)
	bad := contactInput()
	bad.Notify.Subject = "{{range 5}}{{end}}"
	before := u.writes()
	if _, err := f.svc.CreateForm(t.Context(), f.owner, "site", bad); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("CreateForm with a loop = %v, want invalid", err)
	}
	if _, err := f.svc.UpdateForm(t.Context(), f.owner, "site", form.ID(), func(in *domain.FormInput) error {
		in.Fields[0].Pattern = `(\w+\s?){1,1000}x`
		return nil
	}); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("UpdateForm with the issue's pattern = %v, want invalid", err)
	}
	if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "not an address")); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("invalid submission = %v", err)
	}
	if _, err := f.svc.GetForm(t.Context(), f.owner, "site", form.ID()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.ListSubmissions(t.Context(), f.owner, "site", form.ID(), ports.SubmissionFilter{}, ports.Page{}); err != nil {
		t.Fatal(err)
	}
	if n := u.writes() - before; n != 0 {
		t.Fatalf("refusals and reads opened %d write transactions, want none", n)
	}
}

// TestSubmitToAFormDeletedMeanwhileStoresNothing: the form is read outside
// the transaction; when it is deleted before the transaction, the visitor
// gets 404 and no submission or mail is left behind.
func TestSubmitToAFormDeletedMeanwhileStoresNothing(t *testing.T) {
	t.Parallel()
	var u *hookedUoW
	f := newFixture(t, 100, hooked(&u))
	form := f.form(t)
	u.afterRead = func() {
		err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Forms().Delete(ctx, f.ws.ID(), form.ID())
		})
		if err != nil {
			t.Error(err)
		}
	}
	_, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "ada@example.com"))
	if !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Submit to a form deleted meanwhile = %v, want not found", err)
	}
	var n int
	err = f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		subs, _, err := st.Submissions().List(ctx, f.ws.ID(), form.ID(), ports.SubmissionFilter{}, ports.Page{})
		n = len(subs)
		return err
	})
	if err != nil || n != 0 || len(f.outbox(t)) != 0 {
		t.Fatalf("left %d submissions (%v) and %d messages", n, err, len(f.outbox(t)))
	}
}

// TestUpdateFormRacingAnotherUpdate: when someone saves the form between
// UpdateForm's read and its transaction, the change is applied to their
// version, so neither is lost; when that keeps happening, the update is a
// conflict.
func TestUpdateFormRacingAnotherUpdate(t *testing.T) {
	t.Parallel()
	var u *hookedUoW
	f := newFixture(t, 100, hooked(&u))
	form := f.form(t)
	other := func(name string) func() {
		return func() {
			f.clock.Add(time.Second)
			err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
				cur, err := st.Forms().Get(ctx, f.ws.ID(), form.ID())
				if err != nil {
					return err
				}
				def := cur.Definition()
				def.Name = name
				if err := cur.Replace(def, f.clock.Now()); err != nil {
					return err
				}
				return st.Forms().Update(ctx, cur)
			})
			if err != nil {
				t.Error(err)
			}
		}
	}
	raced := false
	u.mu.Lock()
	u.beforeWrite = func() {
		if !raced {
			raced = true
			other("Renamed meanwhile")()
		}
	}
	u.mu.Unlock()
	got, err := f.svc.UpdateForm(t.Context(), f.owner, "site", form.ID(), func(in *domain.FormInput) error {
		in.RetentionDays = 7
		return nil
	})
	if err != nil || got.Name() != "Renamed meanwhile" || got.RetentionDays() != 7 {
		t.Fatalf("UpdateForm after a racing rename = %q, %d days, %v; want both changes", got.Name(), got.RetentionDays(), err)
	}
	stored, err := f.svc.GetForm(t.Context(), f.owner, "site", form.ID())
	if err != nil || stored.Name() != "Renamed meanwhile" || stored.RetentionDays() != 7 {
		t.Fatalf("stored %q, %d days, %v; want both changes", stored.Name(), stored.RetentionDays(), err)
	}

	u.mu.Lock()
	u.beforeWrite = other("Always renamed")
	u.mu.Unlock()
	_, err = f.svc.UpdateForm(t.Context(), f.owner, "site", form.ID(), func(in *domain.FormInput) error { in.RetentionDays = 9; return nil })
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind != domain.KindConflict || de.Code != "form_changed" {
		t.Fatalf("UpdateForm always raced = %v, want conflict form_changed", err)
	}
}

// TestFormChangesAreAudited: creating and updating a form leave audit
// events, the update naming what changed and the recipients before and
// after (finding 19).
func TestFormChangesAreAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form := f.form(t)
	if _, err := f.svc.UpdateForm(t.Context(), f.owner, "site", form.ID(), func(in *domain.FormInput) error {
		in.Notify.Recipients = []string{"attacker@evil.example"}
		in.Name = "Contact us"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var events []domain.AuditEvent
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		events, _, err = st.Audit().List(ctx, f.ws.ID(), ports.Page{Limit: 10})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	byAction := map[string]domain.AuditEvent{}
	for _, e := range events {
		byAction[e.Action] = e
	}
	created, updated := byAction["form.created"], byAction["form.updated"]
	if created.TargetID != form.ID().String() || created.Details["notify.recipients"] != "team@example.com" {
		t.Errorf("form.created = %+v", created)
	}
	if updated.TargetID != form.ID().String() || updated.Details["changed"] != "name,notify.recipients" ||
		updated.Details["notify.recipients.before"] != "team@example.com" || updated.Details["notify.recipients.after"] != "attacker@evil.example" {
		t.Errorf("form.updated = %+v", updated)
	}
	if kind, id := f.owner.Actor(); updated.ActorKind != kind || updated.ActorID != id {
		t.Errorf("form.updated actor %s %s, want %s %s", updated.ActorKind, updated.ActorID, kind, id)
	}
	// A form's own link limit decides what is held back as spam: its
	// change is recorded with both values.
	if _, err := f.svc.UpdateForm(t.Context(), f.owner, "site", form.ID(), func(in *domain.FormInput) error {
		ten := 10
		in.MaxLinks = &ten
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	err = f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		events, _, err = st.Audit().List(ctx, f.ws.ID(), ports.Page{Limit: 1})
		return err
	})
	if err != nil || len(events) != 1 {
		t.Fatal(err)
	}
	if d := events[0].Details; events[0].Action != "form.updated" || d["changed"] != "max_links" || d["max_links.before"] != "" || d["max_links.after"] != "10" {
		t.Errorf("the link limit's change is audited as %s %v", events[0].Action, d)
	}
}

// TestAutoresponsesAreLimitedPerRecipient: a visitor chooses the
// autoresponder's address; past the limit for an address (in any case)
// the submission is stored and the notification queued, and only the
// autoresponse is skipped and counted.
func TestAutoresponsesAreLimitedPerRecipient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100, func(c *forms.Config) {
		c.PerRecipient = ratelimit.NewRateLimiter(1.0/3600, 2, c.Clock.Now)
	})
	form := f.form(t)
	for _, to := range []string{"victim@example.com", "VICTIM@example.com", "Victim@Example.com", "other@example.com"} {
		if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "N", "email", to)); err != nil {
			t.Fatal(err)
		}
	}
	kinds := map[string]int{}
	for _, m := range f.outbox(t) {
		if m.Kind == domain.KindAutoresponder {
			kinds[strings.ToLower(m.Message.To()[0].Address)]++
		}
		kinds[m.Kind]++
	}
	if kinds[domain.KindNotification] != 4 || kinds["victim@example.com"] != 2 || kinds["other@example.com"] != 1 {
		t.Fatalf("queued %v; want 4 notifications, 2 autoresponses to the victim and 1 to the other", kinds)
	}
	if n := f.svc.AutoresponsesSkipped(); n != 1 {
		t.Fatalf("AutoresponsesSkipped = %d, want 1", n)
	}
	subs, _, err := f.svc.ListSubmissions(t.Context(), f.owner, "site", form.ID(), ports.SubmissionFilter{}, ports.Page{})
	if err != nil || len(subs) != 4 {
		t.Fatalf("stored %d submissions (%v), want 4", len(subs), err)
	}
}

// TestControlCharactersNeverReachMail: NUL, ESC and 0x1C in a submission
// are stored without them, and the mail it causes has none (a NUL would be
// =00 in the encoded message).
func TestControlCharactersNeverReachMail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	in := contactInput()
	in.Notify.Subject = "From {{.Fields.name}}"
	in.Autoresponder.HTML = "<p>{{.Fields.message}}</p>"
	form, err := f.svc.CreateForm(t.Context(), f.owner, "site", in)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "A\x00d\x1ba", "email", "ada@example.com", "message", "hi\x1c\x00 there\x1b[2J"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := f.svc.GetSubmission(t.Context(), f.owner, "site", res.Submission.ID())
	if err != nil || sub.Get("name") != "Ada" || sub.Get("message") != "hi there[2J" {
		t.Fatalf("stored name %q, message %q (%v)", sub.Get("name"), sub.Get("message"), err)
	}
	msgs := f.outbox(t)
	if len(msgs) != 2 {
		t.Fatalf("queued %d messages, want 2", len(msgs))
	}
	for _, m := range msgs {
		for part, v := range map[string]string{"subject": m.Message.Subject(), "text": m.Message.Text(), "html": m.Message.HTML()} {
			if strings.ContainsAny(v, "\x00\x1b\x1c") {
				t.Errorf("%s %s holds a control character: %q", m.Kind, part, v)
			}
		}
	}
}

// TestStoredLegacyFormKeepsAcceptingThroughSubmit: a form stored before
// the template rules, with a looping subject and autoresponder, still
// takes submissions: the submission is stored, the notification goes out
// with the default subject, the autoresponse is not sent, and a warning
// is logged.
func TestStoredLegacyFormKeepsAcceptingThroughSubmit(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	f := newFixture(t, 100, func(c *forms.Config) {
		c.Log = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	})
	in := contactInput()
	in.Notify.Subject = "{{range 250000000}}{{end}}x"
	in.Autoresponder.Text = "{{range 2500000}}AAAAAAAAAAAAAAAAAAAA{{end}}"
	legacy, err := domain.RehydrateForm(domain.FormID(domain.NewID(domain.PrefixForm, f.clock.Now())), f.ws.ID(), in, f.clock.Now(), f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Forms().Add(ctx, legacy) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Submit(t.Context(), submission(legacy.ID(), "name", "Ada", "email", "ada@example.com")); err != nil {
		t.Fatalf("Submit to a legacy form: %v", err)
	}
	msgs := f.outbox(t)
	if len(msgs) != 1 || msgs[0].Kind != domain.KindNotification || msgs[0].Message.Subject() != "New submission: Contact" {
		t.Fatalf("queued %d messages %+v; want the notification alone, with the default subject", len(msgs), msgs)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "notify.subject") || !strings.Contains(logs.String(), "autoresponder.text") {
		t.Fatalf("logs %q do not warn of the set-aside templates", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
