package identity_test

import (
	"errors"
	"testing"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// A member who is removed loses the keys they made in the workspace for
// good: adding them back, even by mistake or to another role, must not
// bring back access that was meant to end with their membership.
func TestRemovingAMemberRevokesTheirKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, owner := f.setup(t)
	if _, err := f.svc.CreateWorkspace(t.Context(), owner, identity.CreateWorkspaceInput{Name: "Docs", Slug: "docs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateWorkspace(t.Context(), owner, identity.CreateWorkspaceInput{Name: "Other", Slug: "other"}); err != nil {
		t.Fatal(err)
	}
	bob, bobP := f.user(t, owner, "bob@example.com")
	for _, ws := range []string{"docs", "other"} {
		if _, err := f.svc.AddMember(t.Context(), owner, identity.AddMemberInput{Workspace: ws, UserID: bob.ID(), Role: domain.RoleAdmin}); err != nil {
			t.Fatal(err)
		}
	}
	newKey := func(p domain.Principal, ws string) identity.CreatedAPIKey {
		t.Helper()
		k, err := f.svc.CreateAPIKey(t.Context(), p, identity.CreateAPIKeyInput{Workspace: ws, Name: "build", Scopes: []string{"forms:read"}})
		if err != nil {
			t.Fatal(err)
		}
		f.auth(t, k.Secret)
		return k
	}
	bobsKeys := []identity.CreatedAPIKey{newKey(bobP, "docs"), newKey(bobP, "docs")}
	bobsOther, ownersKey := newKey(bobP, "other"), newKey(owner, "docs")

	if err := f.svc.RemoveMember(t.Context(), owner, "docs", bob.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddMember(t.Context(), owner, identity.AddMemberInput{Workspace: "docs", UserID: bob.ID(), Role: domain.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	for _, k := range bobsKeys {
		if _, err := f.svc.Authenticate(t.Context(), k.Secret, client); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Errorf("key of a removed and re-added member = %v, want unauthenticated", err)
		}
	}
	f.auth(t, bobsOther.Secret) // another workspace's membership is untouched
	f.auth(t, ownersKey.Secret) // so are other members' keys

	keys, _, err := f.svc.ListAPIKeys(t.Context(), owner, "docs", ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	revoked := map[domain.APIKeyID]bool{}
	for _, k := range keys {
		revoked[k.ID()] = k.Revoked()
	}
	if !revoked[bobsKeys[0].Key.ID()] || !revoked[bobsKeys[1].Key.ID()] || revoked[ownersKey.Key.ID()] {
		t.Errorf("revoked keys = %v, want bob's two only", revoked)
	}
	events, _, err := f.svc.ListAuditEvents(t.Context(), owner, "docs", ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]string{}
	for _, e := range events {
		if e.Action == "api_key.revoked" {
			audited[e.TargetID] = e.Details["reason"]
		}
	}
	for _, k := range bobsKeys {
		if audited[string(k.Key.ID())] != "member_removed" {
			t.Errorf("audit of %s's revocation = %q, want reason member_removed (events %v)", k.Key.ID(), audited[string(k.Key.ID())], audited)
		}
	}
}
