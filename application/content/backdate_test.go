package content_test

import (
	"context"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// addMember gives the fixture's workspace a member of role r and returns
// that member acting.
func (f *fixture) addMember(t *testing.T, email string, r domain.Role) domain.Principal {
	t.Helper()
	u, err := domain.NewUser(domain.NewUserInput{Email: email, Name: "M", PasswordHash: "x"}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := st.Users().Add(ctx, u); err != nil {
			return err
		}
		return st.Memberships().Add(ctx, domain.Membership{Workspace: f.ws.ID(), User: u.ID(), Role: r, CreatedAt: f.clock.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.authzReload(t); err != nil {
		t.Fatal(err)
	}
	return domain.NewUserPrincipal(u.ID(), false, domain.SessionID("ses_"+r.String()))
}

func (f *fixture) authzReload(t *testing.T) error {
	t.Helper()
	type reloader interface{ Reload(context.Context) error }
	return f.authz.(reloader).Reload(t.Context())
}

func (f *fixture) auditActions(t *testing.T) []domain.AuditEvent {
	t.Helper()
	var out []domain.AuditEvent
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		var err error
		out, _, err = st.Audit().List(ctx, f.ws.ID(), ports.Page{Limit: ports.MaxPageLimit})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPublishingInThePastNeedsTheImportPermission: a past publish_at used
// to publish now without a word, which lost an imported archive's dates.
// Now an editor is refused with publish_at_in_past and the entry stays a
// draft, an owner (who holds content:import) dates it then, audited, and
// a time within the grace still means now.
func TestPublishingInThePastNeedsTheImportPermission(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	editor := f.addMember(t, "editor@example.com", domain.RoleEditor)
	past := time.Date(2019, 5, 1, 8, 30, 0, 0, time.UTC)

	e := f.post(t, "Old news")
	_, err := f.svc.PublishEntry(t.Context(), editor, "site", e.ID(), &past, nil)
	wantErr(t, "editor publishing in the past", err, domain.ErrPublishAtInPast)
	if got, _ := f.svc.GetEntry(t.Context(), f.owner, "site", e.ID()); got.Status() != domain.EntryDraft || got.Version() != e.Version() {
		t.Errorf("after the refusal the entry is %s v%d, want draft v%d", got.Status(), got.Version(), e.Version())
	}
	for _, a := range f.auditActions(t) {
		if a.Action == "entry.backdated" {
			t.Errorf("a refused backdating is audited: %+v", a)
		}
	}

	got, err := f.svc.PublishEntry(t.Context(), f.owner, "site", e.ID(), &past, nil)
	if err != nil {
		t.Fatalf("owner publishing in the past: %v", err)
	}
	if got.Status() != domain.EntryPublished || got.PublishedAt() == nil || !got.PublishedAt().Equal(past) {
		t.Errorf("owner's backdated entry: status %s, published_at %v, want published at %v", got.Status(), got.PublishedAt(), past)
	}
	var audited bool
	for _, a := range f.auditActions(t) {
		if a.Action == "entry.backdated" && a.TargetID == e.ID().String() && a.Details["published_at"] == "2019-05-01T08:30:00Z" {
			audited = true
		}
	}
	if !audited {
		t.Errorf("the backdating is not audited with its date: %+v", f.auditActions(t))
	}
	if evs := f.events(t); len(evs) == 0 || evs[len(evs)-1] != "post.published" {
		t.Errorf("events = %v, want post.published last", evs)
	}

	// A minute ago is a slow clock, not a backdating: an editor publishes now.
	e2 := f.post(t, "Fresh news")
	skewed := f.clock.Now().Add(-time.Minute)
	got, err = f.svc.PublishEntry(t.Context(), editor, "site", e2.ID(), &skewed, nil)
	if err != nil {
		t.Fatalf("editor publishing a minute ago: %v", err)
	}
	if !got.PublishedAt().Equal(f.clock.Now()) {
		t.Errorf("published_at = %v, want now %v", got.PublishedAt(), f.clock.Now())
	}
}
