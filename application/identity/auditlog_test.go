package identity_test

import (
	"errors"
	"testing"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func TestAuditLogNamesUsersAndKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, owner := f.setup(t)
	if _, err := f.svc.CreateWorkspace(t.Context(), owner, identity.CreateWorkspaceInput{Name: "Docs", Slug: "docs"}); err != nil {
		t.Fatal(err)
	}
	bob, bobP := f.user(t, owner, "bob@example.com")
	if _, err := f.svc.AddMember(t.Context(), owner, identity.AddMemberInput{Workspace: "docs", UserID: bob.ID(), Role: domain.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	k, err := f.svc.CreateAPIKey(t.Context(), owner, identity.CreateAPIKeyInput{Workspace: "docs", Name: "build", Scopes: []string{"content:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeAPIKey(t.Context(), bobP, "docs", k.Key.ID()); err != nil {
		t.Fatal(err)
	}
	entries, _, err := f.svc.AuditLog(t.Context(), owner, "docs", ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	byAction := map[string]identity.AuditEntry{}
	for _, e := range entries {
		byAction[e.Action] = e
	}
	revoked := byAction["api_key.revoked"]
	if revoked.Actor != (identity.Party{Name: "U", Email: "bob@example.com"}) || revoked.Target != (identity.Party{Name: "build"}) {
		t.Errorf("api_key.revoked names %+v acting on %+v, want bob on the key build", revoked.Actor, revoked.Target)
	}
	added := byAction["member.added"]
	if added.Actor != (identity.Party{Name: "Ada", Email: "ada@example.com"}) || added.Target.Email != "bob@example.com" || added.ActorID != string(owner.User()) {
		t.Errorf("member.added = %+v", added)
	}
	// The workspace's own events name no user as target: nothing to name.
	if ws := byAction["workspace.created"]; ws.Target != (identity.Party{}) || ws.TargetKind != "workspace" {
		t.Errorf("workspace.created = %+v", ws)
	}
	// Only admins and owners read the log, as with ListAuditEvents.
	_, carol := f.user(t, owner, "carol@example.com")
	if _, err := f.svc.AddMember(t.Context(), owner, identity.AddMemberInput{Workspace: "docs", Email: "carol@example.com", Role: domain.RoleEditor}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.AuditLog(t.Context(), carol, "docs", ports.Page{}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("an editor's AuditLog = %v, want forbidden", err)
	}
}

func TestInstanceAuditLogNamesUsers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, admin := f.setup(t)
	_, bob := f.user(t, admin, "bob@example.com")
	if _, _, err := f.svc.InstanceAuditLog(t.Context(), bob, ports.Page{}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a non-administrator's InstanceAuditLog = %v, want forbidden", err)
	}
	entries, _, err := f.svc.InstanceAuditLog(t.Context(), admin, ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Action != "login.succeeded" || entries[0].Target.Email != "bob@example.com" {
		t.Fatalf("newest instance entry = %+v, want bob's login", entries[0])
	}
	for _, e := range entries {
		if e.Action == "user.created" && (e.Actor.Email != "ada@example.com" || e.Target.Email != "bob@example.com") {
			t.Errorf("user.created = %+v, want ada creating bob", e)
		}
	}
}
