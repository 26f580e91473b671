package domain_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// TestEveryEventTypeIsListed: the feed's type filter accepts exactly
// EventTypes, so every event a change writes must have a listed type, and
// each event names the resource it is about.
func TestEveryEventTypeIsListed(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ws := domain.WorkspaceID("wsp_1")
	entries := []domain.Event{}
	for _, kind := range []domain.EntryKind{domain.KindPost, domain.KindPage} {
		e, err := domain.NewEntry(ws, "usr_1", kind, domain.EntryContent{Title: "T"}, domain.Rendered{}, now)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, domain.EntryEvent(e, true, now), domain.EntryEvent(e, false, now), domain.EntryUpdatedEvent(e, now), domain.EntryDeletedEvent(e, now))
	}
	f, err := domain.NewForm(ws, domain.FormInput{Name: "F", Fields: []domain.Field{{Name: "email", Type: domain.FieldEmail}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	u, err := domain.NewUser(domain.NewUserInput{Email: "a@example.com", Name: "A", PasswordHash: "x"}, now)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := domain.NewAPIKey(domain.NewAPIKeyInput{Workspace: ws, Name: "k", Scopes: []string{"events:read"}, CreatedBy: u.ID()}, now)
	if err != nil {
		t.Fatal(err)
	}
	sub := domain.SubmissionRef{ID: "sub_1", Workspace: ws, Form: f.ID(), CreatedAt: now}
	evs := append(entries,
		domain.SubmissionDeletedEvent(sub, now),
		domain.FormEvent(domain.EventFormCreated, f, now), domain.FormEvent(domain.EventFormUpdated, f, now), domain.FormDeletedEvent(ws, f.ID(), now),
		domain.MemberEvent(domain.EventMemberAdded, ws, u, domain.RoleViewer, now), domain.MemberEvent(domain.EventMemberRoleChanged, ws, u, domain.RoleAdmin, now),
		domain.MemberRemovedEvent(ws, u.ID(), domain.RoleAdmin, now),
		domain.APIKeyEvent(domain.EventAPIKeyCreated, k, now), domain.APIKeyEvent(domain.EventAPIKeyRevoked, k, now),
	)
	for _, e := range evs {
		if _, err := domain.ParseEventType(e.Type); err != nil {
			t.Errorf("%s is written but not in EventTypes: the feed could not be filtered by it", e.Type)
		}
		if e.Subject == "" || !strings.Contains(string(e.Data), `"`+e.Subject+`"`) || e.Workspace != ws {
			t.Errorf("%s: subject %q, workspace %s, data %s: want the resource's ID in both", e.Type, e.Subject, e.Workspace, e.Data)
		}
	}
	if _, err := domain.ParseEventType("submission.exploded"); domain.KindOf(err) != domain.KindInvalid {
		t.Errorf("ParseEventType(unknown) = %v, want invalid", err)
	}
	if !slices.Contains(domain.EventTypes, domain.EventSubmissionCreated) || !slices.Contains(domain.EventTypes, domain.EventSubmissionUpdated) {
		t.Error("EventTypes lacks the submission types")
	}
}
