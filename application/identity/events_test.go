package identity_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// TestMemberAndKeyChangesWriteEvents: adding, re-roling and removing a
// member, and creating, updating and revoking keys, each write one event in the
// workspace's feed; removing a member also reports the keys it revoked.
// No event holds a key's secret, and a removal keeps no address or name.
func TestMemberAndKeyChangesWriteEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, owner := f.setup(t)
	w, err := f.svc.CreateWorkspace(t.Context(), owner, identity.CreateWorkspaceInput{Name: "Docs", Slug: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	bob, bobP := f.user(t, owner, "bob@example.com")
	if _, err := f.svc.AddMember(t.Context(), owner, identity.AddMemberInput{Workspace: "docs", UserID: bob.ID(), Role: domain.RoleEditor}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ChangeMember(t.Context(), owner, identity.ChangeMemberInput{Workspace: "docs", User: bob.ID(), Role: domain.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	mine, err := f.svc.CreateAPIKey(t.Context(), owner, identity.CreateAPIKeyInput{Workspace: "docs", Name: "ci", Scopes: []string{"events:read"}})
	if err != nil {
		t.Fatal(err)
	}
	bobs, err := f.svc.CreateAPIKey(t.Context(), bobP, identity.CreateAPIKeyInput{Workspace: "docs", Name: "bob's", Scopes: []string{"forms:read"}})
	if err != nil {
		t.Fatal(err)
	}
	renamed := "ci nightly"
	if _, err := f.svc.UpdateAPIKey(t.Context(), owner, identity.UpdateAPIKeyInput{Workspace: "docs", ID: mine.Key.ID(), Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeAPIKey(t.Context(), owner, "docs", mine.Key.ID()); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RemoveMember(t.Context(), owner, "docs", bob.ID()); err != nil {
		t.Fatal(err)
	}

	var evs []domain.Event
	err = f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		evs, _, err = st.Events().List(ctx, w.ID(), "", ports.Page{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		var d struct {
			ID     string `json:"id"`
			UserID string `json:"user_id"`
			Role   string `json:"role"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSpace(e.Type+" "+d.ID+d.UserID+" "+d.Role))
		for _, secret := range []string{mine.Secret, bobs.Secret} {
			if strings.Contains(string(e.Data), secret) {
				t.Errorf("%s holds a key's secret: %s", e.Type, e.Data)
			}
		}
	}
	want := []string{
		"member.added " + string(bob.ID()) + " editor",
		"member.role_changed " + string(bob.ID()) + " admin",
		"api_key.created " + string(mine.Key.ID()),
		"api_key.created " + string(bobs.Key.ID()),
		"api_key.updated " + string(mine.Key.ID()),
		"api_key.revoked " + string(mine.Key.ID()),
		"api_key.revoked " + string(bobs.Key.ID()),
		"member.removed " + string(bob.ID()) + " admin",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("feed = %q\nwant %q", got, want)
	}
	if removed := string(evs[len(evs)-1].Data); strings.Contains(removed, "bob@example.com") {
		t.Errorf("member.removed data = %s, want no address", removed)
	}
	if !strings.Contains(string(evs[4].Data), `"name":"ci nightly"`) {
		t.Errorf("api_key.updated data = %s, want the new name", evs[4].Data)
	}
	if !strings.Contains(string(evs[5].Data), `"revoked_at":"`) {
		t.Errorf("api_key.revoked data = %s, want its revocation time", evs[5].Data)
	}
}
