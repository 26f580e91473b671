package forms_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// feed returns the workspace's change feed as "type id" lines and the
// events themselves.
func (f *fixture) feed(t *testing.T) ([]string, []domain.Event) {
	t.Helper()
	var evs []domain.Event
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		evs, _, err = st.Events().List(ctx, f.ws.ID(), "", ports.Page{Limit: ports.MaxPageLimit})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range evs {
		var d struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatalf("event %s data %s: %v", e.ID, e.Data, err)
		}
		lines = append(lines, e.Type+" "+d.ID)
	}
	return lines, evs
}

// TestSubmissionChangesWriteEvents: every change to a submission a partner
// may care about leaves one event, spam none, and a deletion's event keeps
// no personal data, however the submission went.
func TestSubmissionChangesWriteEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form := f.form(t)
	submit := func(kv ...string) domain.Submission {
		t.Helper()
		res, err := f.svc.Submit(t.Context(), submission(form.ID(), kv...))
		if err != nil {
			t.Fatal(err)
		}
		return res.Submission
	}
	ada := submit("name", "Ada", "email", "ada@example.com")
	submit("name", "Bot", "email", "bot@example.com", "website", "http://spam.example")
	bob1 := submit("name", "Bob", "email", "bob@example.com")
	bob2 := submit("name", "Bob", "email", "BOB@example.com")
	if _, err := f.svc.UpdateSubmissionStatus(t.Context(), f.owner, "site", ada.ID(), domain.SubmissionRead); err != nil {
		t.Fatal(err)
	}
	// While the submissions exist, their events carry them as the API
	// shows them.
	_, before := f.feed(t)
	for _, e := range before[1:] {
		if !strings.Contains(string(e.Data), `"values":{`) || !strings.Contains(string(e.Data), `"form_id":"`+string(form.ID())) {
			t.Errorf("%s data = %s, want the submission as the API shows it", e.Type, e.Data)
		}
	}
	if last := before[len(before)-1]; last.Type != domain.EventSubmissionUpdated || !strings.Contains(string(last.Data), `"status":"read"`) {
		t.Errorf("last event = %s %s, want submission.updated with the new status", last.Type, last.Data)
	}
	if err := f.svc.DeleteSubmission(t.Context(), f.owner, "site", ada.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Erase(t.Context(), f.owner, "site", "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(31 * 24 * time.Hour)
	carol := submit("name", "Carol", "email", "carol@example.com")
	f.clock.Add(31 * 24 * time.Hour)
	if n, err := f.svc.ApplyRetention(t.Context()); err != nil || n != 2 { // Carol and the spam
		t.Fatalf("ApplyRetention = %d, %v; want 2", n, err)
	}

	got, evs := f.feed(t)
	if len(got) == 0 || got[0] != "form.created "+string(form.ID()) {
		t.Fatalf("feed = %q, want the form's creation first", got)
	}
	got, evs = got[1:], evs[1:]
	// Retention deletes the spam too, without an event: partners never
	// heard of it.
	want := []string{
		"submission.created " + string(ada.ID()),
		"submission.created " + string(bob1.ID()),
		"submission.created " + string(bob2.ID()),
		"submission.updated " + string(ada.ID()),
		"submission.deleted " + string(ada.ID()),
	}
	erased := []string{"submission.deleted " + string(bob1.ID()), "submission.deleted " + string(bob2.ID())}
	if len(got) < len(want)+2 || !slices.Equal(got[:len(want)], want) ||
		!slices.Equal(slices.Sorted(slices.Values(got[len(want):len(want)+2])), slices.Sorted(slices.Values(erased))) {
		t.Fatalf("feed = %q\nwant %q then %q", got, want, erased)
	}
	rest := got[len(want)+2:]
	if want := []string{"submission.created " + string(carol.ID()), "submission.deleted " + string(carol.ID())}; !slices.Equal(rest, want) {
		t.Fatalf("feed after erasure = %q, want %q", rest, want)
	}
	// Every submission is gone, so the feed keeps nothing any person sent:
	// deletion, erasure and retention redact the earlier events too.
	for _, e := range evs {
		if e.Workspace != f.ws.ID() || e.CreatedAt.IsZero() || !domain.ValidID(domain.PrefixEvent, string(e.ID)) {
			t.Errorf("event %+v: want this workspace, a time and an evt_ ID", e)
		}
		if d := string(e.Data); strings.Contains(d, "@example.com") || strings.Contains(d, "values") || strings.Contains(d, "ip_hash") {
			t.Errorf("%s %s holds personal data after its submission was deleted: %s", e.Type, e.ID, d)
		}
	}
}

// refusingEvents is a UnitOfWork whose event store refuses every event
// while refuse is set, to show that a change and its event commit
// together or not at all.
type refusingEvents struct {
	ports.UnitOfWork
	refuse *atomic.Bool
}

var errEventRefused = errors.New("event refused")

type refusingStores struct{ ports.Stores }
type refusingEventStore struct{ ports.EventStore }

func (refusingStores) Events() ports.EventStore                    { return refusingEventStore{} }
func (refusingEventStore) Add(context.Context, domain.Event) error { return errEventRefused }
func (refusingEventStore) Redact(context.Context, domain.WorkspaceID, string, []byte) (int, error) {
	return 0, errEventRefused
}
func (refusingEventStore) RedactSubmissionsOf(context.Context, domain.WorkspaceID, domain.FormID) (int, error) {
	return 0, errEventRefused
}

func (u refusingEvents) WithinTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	return u.UnitOfWork.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		if u.refuse.Load() {
			st = refusingStores{st}
		}
		return fn(ctx, st)
	})
}

// TestSubmissionEventsShareTheChangesTransaction: when the event cannot be
// written, the change is not made either.
func TestSubmissionEventsShareTheChangesTransaction(t *testing.T) {
	t.Parallel()
	refuse := new(atomic.Bool)
	f := newFixture(t, 100, func(c *forms.Config) { c.UoW = refusingEvents{c.UoW, refuse} })
	form := f.form(t)
	res, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "ada@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(31 * 24 * time.Hour)
	refuse.Store(true)
	if _, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Bob", "email", "bob@example.com")); !errors.Is(err, errEventRefused) {
		t.Errorf("Submit = %v, want the refusal", err)
	}
	if _, err := f.svc.UpdateSubmissionStatus(t.Context(), f.owner, "site", res.Submission.ID(), domain.SubmissionRead); !errors.Is(err, errEventRefused) {
		t.Errorf("UpdateSubmissionStatus = %v, want the refusal", err)
	}
	if err := f.svc.DeleteSubmission(t.Context(), f.owner, "site", res.Submission.ID()); !errors.Is(err, errEventRefused) {
		t.Errorf("DeleteSubmission = %v, want the refusal", err)
	}
	if _, err := f.svc.Erase(t.Context(), f.owner, "site", "ada@example.com"); !errors.Is(err, errEventRefused) {
		t.Errorf("Erase = %v, want the refusal", err)
	}
	if _, err := f.svc.ApplyRetention(t.Context()); !errors.Is(err, errEventRefused) {
		t.Errorf("ApplyRetention = %v, want the refusal", err)
	}
	subs, _, err := f.svc.ListSubmissions(t.Context(), f.owner, "site", form.ID(), ports.SubmissionFilter{}, ports.Page{})
	if err != nil || len(subs) != 1 || subs[0].ID() != res.Submission.ID() || subs[0].Status() != domain.SubmissionNew {
		t.Fatalf("submissions after refused events = %v (%v), want Ada's alone, still new", subs, err)
	}
}

// TestFormChangesWriteEvents: creating, changing and deleting a form each
// write one event; the deletion's names only the form.
func TestFormChangesWriteEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 100)
	form := f.form(t)
	if _, err := f.svc.UpdateForm(t.Context(), f.owner, "site", form.ID(), func(in *domain.FormInput) error {
		in.Name = "Renamed"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Submit(t.Context(), submission(form.ID(), "name", "Ada", "email", "ada@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteForm(t.Context(), f.owner, "site", form.ID()); err != nil {
		t.Fatal(err)
	}
	got, evs := f.feed(t)
	id, sub := string(form.ID()), string(res.Submission.ID())
	if want := []string{"form.created " + id, "form.updated " + id, "submission.created " + sub, "form.deleted " + id}; !slices.Equal(got, want) {
		t.Fatalf("feed = %q, want %q", got, want)
	}
	if !strings.Contains(string(evs[1].Data), `"name":"Renamed"`) {
		t.Errorf("form.updated data = %s, want the new name", evs[1].Data)
	}
	// The submission went with its form, and what Ada sent left the feed.
	if want := `{"id":"` + sub + `","form_id":"` + id + `"}`; string(evs[2].Data) != want {
		t.Errorf("submission.created data after its form's deletion = %s, want %s", evs[2].Data, want)
	}
	if string(evs[3].Data) != `{"id":"`+id+`"}` {
		t.Errorf("form.deleted data = %s, want its ID alone", evs[3].Data)
	}
}
