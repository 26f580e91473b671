package identity_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var invitationLink = regexp.MustCompile(`https://keel\.example/console/invitations/(kin_[0-9a-z]+)`)

// invitationMail claims the queued mail to addr and returns the token its
// link carries.
func (f fixture) invitationMail(t *testing.T, ws, addr string) string {
	t.Helper()
	var token string
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		ms, err := st.Outbox().Claim(ctx, f.clock.Now().Add(time.Second), time.Minute, 100)
		for _, m := range ms {
			if m.Kind == domain.KindInvitation && m.Message.To()[0].Address == addr {
				if strings.Contains(m.Message.Subject(), "kin_") {
					t.Errorf("the subject %q carries the token", m.Message.Subject())
				}
				if sub := invitationLink.FindStringSubmatch(m.Message.Text()); sub != nil {
					token = sub[1]
				}
			}
		}
		return err
	})
	if err != nil || token == "" {
		t.Fatalf("no invitation mail to %s with a link (err %v)", addr, err)
	}
	return token
}

func newInvitationFixture(t *testing.T) (fixture, domain.Principal) {
	t.Helper()
	f := newFixtureWith(t, identity.Config{LinkBase: func() string { return "https://keel.example/" }})
	_, owner := f.setup(t)
	if _, err := f.svc.CreateWorkspace(t.Context(), owner, identity.CreateWorkspaceInput{Name: "Docs", Slug: "docs"}); err != nil {
		t.Fatal(err)
	}
	return f, owner
}

// An invitation to a new address creates the account at acceptance, and its
// link works once only.
func TestInvitationCreatesTheAccount(t *testing.T) {
	t.Parallel()
	f, owner := newInvitationFixture(t)
	inv, err := f.svc.Invite(t.Context(), owner, identity.InviteInput{Workspace: "docs", Email: "New@Example.com", Role: domain.RoleEditor})
	if err != nil {
		t.Fatal(err)
	}
	token := f.invitationMail(t, "docs", "new@example.com")
	if domain.SameHash(inv.TokenHash(), []byte(token)) || !domain.SameHash(inv.TokenHash(), domain.HashSecret(token)) {
		t.Fatal("the stored hash is not the token's SHA-256")
	}
	pending, _, err := f.svc.ListInvitations(t.Context(), owner, "docs", ports.Page{})
	if err != nil || len(pending) != 1 || pending[0].ID() != inv.ID() {
		t.Fatalf("ListInvitations = %v, %v; want the invitation", pending, err)
	}
	if _, err := f.svc.AcceptInvitation(t.Context(), anon, identity.AcceptInput{Token: token, Name: "New"}); domain.KindOf(err) != domain.KindInvalid {
		t.Fatalf("accept without a password = %v, want invalid", err)
	}
	acc, err := f.svc.AcceptInvitation(t.Context(), anon, identity.AcceptInput{Token: token, Name: "New", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if !acc.Created || acc.Member.Role != domain.RoleEditor || acc.Workspace.Slug() != "docs" {
		t.Fatalf("Accepted = %+v", acc)
	}
	res, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "new@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.GetWorkspace(t.Context(), f.auth(t, res.Token), "docs"); err != nil {
		t.Fatalf("the new member cannot read the workspace: %v", err)
	}
	if _, err := f.svc.AcceptInvitation(t.Context(), anon, identity.AcceptInput{Token: token, Name: "New", Password: password}); !errors.Is(err, domain.ErrInvitationGone) {
		t.Fatalf("second acceptance = %v, want invitation_unusable", err)
	}
	if pending, _, _ := f.svc.ListInvitations(t.Context(), owner, "docs", ports.Page{}); len(pending) != 0 {
		t.Fatalf("an accepted invitation is still listed: %v", pending)
	}
}

// Revoked, expired and made-up tokens are refused alike.
func TestUnusableInvitationsLookAlike(t *testing.T) {
	t.Parallel()
	f, owner := newInvitationFixture(t)
	revoked, err := f.svc.Invite(t.Context(), owner, identity.InviteInput{Workspace: "docs", Email: "r@example.com", Role: domain.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	revokedToken := f.invitationMail(t, "docs", "r@example.com")
	if err := f.svc.RevokeInvitation(t.Context(), owner, "docs", revoked.ID()); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeInvitation(t.Context(), owner, "docs", revoked.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("revoking twice = %v, want not found", err)
	}
	if _, err := f.svc.Invite(t.Context(), owner, identity.InviteInput{Workspace: "docs", Email: "e@example.com", Role: domain.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	expiredToken := f.invitationMail(t, "docs", "e@example.com")
	f.clock.Add(domain.InvitationTTL)
	forged, _ := domain.NewInvitationToken()
	for name, token := range map[string]string{"revoked": revokedToken, "expired": expiredToken, "unknown": forged, "malformed": "x"} {
		_, err := f.svc.AcceptInvitation(t.Context(), anon, identity.AcceptInput{Token: token, Name: "N", Password: password})
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != "invitation_unusable" || de.Message != domain.ErrInvitationGone.Message {
			t.Errorf("%s token = %v, want invitation_unusable", name, err)
		}
	}
}

// Admins invite but not owners; a member is not invited again; an
// existing account accepts only with its own session.
func TestInvitationRules(t *testing.T) {
	t.Parallel()
	f, owner := newInvitationFixture(t)
	admin, adminP := f.user(t, owner, "admin@example.com")
	if _, err := f.svc.AddMember(t.Context(), owner, identity.AddMemberInput{Workspace: "docs", UserID: admin.ID(), Role: domain.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Invite(t.Context(), adminP, identity.InviteInput{Workspace: "docs", Email: "o@example.com", Role: domain.RoleOwner}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("an admin inviting an owner = %v, want forbidden", err)
	}
	if _, err := f.svc.Invite(t.Context(), adminP, identity.InviteInput{Workspace: "docs", Email: "admin@example.com", Role: domain.RoleViewer}); !errors.Is(err, domain.ErrAlreadyMember) {
		t.Fatalf("inviting a member = %v, want already_member", err)
	}
	bob, bobP := f.user(t, owner, "bob@example.com")
	if _, err := f.svc.Invite(t.Context(), adminP, identity.InviteInput{Workspace: "docs", Email: "bob@example.com", Role: domain.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	token := f.invitationMail(t, "docs", "bob@example.com")
	for name, p := range map[string]domain.Principal{"anonymous": anon, "another account": adminP} {
		if _, err := f.svc.AcceptInvitation(t.Context(), p, identity.AcceptInput{Token: token, Name: "B", Password: password}); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Errorf("accepting for an existing account as %s = %v, want unauthenticated", name, err)
		}
	}
	acc, err := f.svc.AcceptInvitation(t.Context(), bobP, identity.AcceptInput{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if acc.Created || acc.Member.User.ID() != bob.ID() || acc.Member.Role != domain.RoleViewer {
		t.Fatalf("Accepted = %+v, want bob as a viewer", acc)
	}
	events, _, err := f.svc.ListAuditEvents(t.Context(), owner, "docs", ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if !strings.Contains(strings.Join(actions, " "), "invitation.accepted invitation.created") {
		t.Errorf("audit = %v, want the invitation's creation and acceptance", actions)
	}
}

// Inviting an address again resends the invitation: the new one replaces
// the pending one, whose link stops working, in the same transaction that
// queues the new mail, and the audit log says it was resent and what it
// replaced. An invitation of the same address to another workspace stays.
// Only owners replace an invitation to the owner role.
func TestInvitingAgainResends(t *testing.T) {
	t.Parallel()
	f, owner := newInvitationFixture(t)
	if _, err := f.svc.CreateWorkspace(t.Context(), owner, identity.CreateWorkspaceInput{Name: "Blog", Slug: "blog"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Invite(t.Context(), owner, identity.InviteInput{Workspace: "blog", Email: "new@example.com", Role: domain.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	f.invitationMail(t, "blog", "new@example.com") // so that the next mail read is docs'
	first, err := f.svc.Invite(t.Context(), owner, identity.InviteInput{Workspace: "docs", Email: "new@example.com", Role: domain.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	firstToken := f.invitationMail(t, "docs", "new@example.com")
	second, err := f.svc.Invite(t.Context(), owner, identity.InviteInput{Workspace: "docs", Email: "New@Example.com", Role: domain.RoleEditor})
	if err != nil {
		t.Fatal(err)
	}
	secondToken := f.invitationMail(t, "docs", "new@example.com") // the new mail is queued
	if secondToken == firstToken || second.ID() == first.ID() {
		t.Fatal("the resent invitation reuses the first one's token or ID")
	}
	pending, _, err := f.svc.ListInvitations(t.Context(), owner, "docs", ports.Page{})
	if err != nil || len(pending) != 1 || pending[0].ID() != second.ID() {
		t.Fatalf("ListInvitations = %v, %v; want only the resent invitation", pending, err)
	}
	if _, err := f.svc.AcceptInvitation(t.Context(), anon, identity.AcceptInput{Token: firstToken, Name: "New", Password: password}); !errors.Is(err, domain.ErrInvitationGone) {
		t.Fatalf("accepting the replaced invitation = %v, want invitation_unusable", err)
	}
	acc, err := f.svc.AcceptInvitation(t.Context(), anon, identity.AcceptInput{Token: secondToken, Name: "New", Password: password})
	if err != nil || acc.Member.Role != domain.RoleEditor {
		t.Fatalf("accepting the resent invitation = %+v, %v; want an editor", acc, err)
	}
	events, _, err := f.svc.ListAuditEvents(t.Context(), owner, "docs", ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var resent *domain.AuditEvent
	for i, e := range events {
		if e.Action == "invitation.resent" {
			resent = &events[i]
		}
	}
	if resent == nil || resent.TargetID != second.ID().String() || resent.Details["replaces"] != first.ID().String() || resent.Details["role"] != "editor" {
		t.Fatalf("audit = %+v, want invitation.resent of %s replacing %s", events, second.ID(), first.ID())
	}

	admin, adminP := f.user(t, owner, "admin@example.com")
	if _, err := f.svc.AddMember(t.Context(), owner, identity.AddMemberInput{Workspace: "docs", UserID: admin.ID(), Role: domain.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	ownerInv, err := f.svc.Invite(t.Context(), owner, identity.InviteInput{Workspace: "docs", Email: "o@example.com", Role: domain.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Invite(t.Context(), adminP, identity.InviteInput{Workspace: "docs", Email: "o@example.com", Role: domain.RoleViewer}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("an admin replacing an owner's invitation = %v, want forbidden", err)
	}
	if pending, _, err := f.svc.ListInvitations(t.Context(), owner, "docs", ports.Page{}); err != nil || len(pending) != 1 || pending[0].ID() != ownerInv.ID() {
		t.Fatalf("after the refused replacement: %v, %v; want the owner's invitation still pending", pending, err)
	}
	// The same address's invitation to another workspace was not replaced.
	if pending, _, err := f.svc.ListInvitations(t.Context(), owner, "blog", ports.Page{}); err != nil || len(pending) != 1 {
		t.Fatalf("the other workspace's invitations: %v, %v; want one still pending", pending, err)
	}
}

// An account invited to the instance that has not set its first password
// is not yet a member anyone can add: by ID it is refused as user_invited
// (not user_disabled), and by e-mail it is invited to the workspace, the
// membership waiting for the invitation's acceptance.
func TestAddingAnInvitedAccount(t *testing.T) {
	t.Parallel()
	f, owner := newInvitationFixture(t)
	cy, err := f.svc.InviteUser(t.Context(), owner, identity.InviteUserInput{Email: "cy@example.com", Name: "Cy"})
	if err != nil {
		t.Fatal(err)
	}
	reset := f.invitationMails(t)["cy@example.com"]
	if len(reset) != 1 {
		t.Fatalf("instance invitation mails = %v, want one", reset)
	}
	invited := &domain.Error{Kind: domain.KindConflict, Code: "user_invited"} // a pattern: any error with this code
	for _, in := range []identity.AddMemberInput{
		{Workspace: "docs", UserID: cy.ID(), Role: domain.RoleEditor},
		{Workspace: "docs", Email: "cy@example.com", Role: domain.RoleEditor},
	} {
		if _, err := f.svc.AddMember(t.Context(), owner, in); !errors.Is(err, invited) {
			t.Errorf("AddMember(%+v) of an invited account = %v, want user_invited", in, err)
		}
	}
	if _, _, err := f.svc.AddMemberOrInvite(t.Context(), owner, identity.AddMemberInput{Workspace: "docs", UserID: cy.ID(), Role: domain.RoleEditor}); !errors.Is(err, invited) {
		t.Errorf("AddMemberOrInvite by ID of an invited account = %v, want user_invited", err)
	}
	m, inv, err := f.svc.AddMemberOrInvite(t.Context(), owner, identity.AddMemberInput{Workspace: "docs", Email: "cy@example.com", Role: domain.RoleEditor})
	if err != nil || inv == nil || m.User.ID() != "" || inv.Email().String() != "cy@example.com" || inv.Role() != domain.RoleEditor {
		t.Fatalf("AddMemberOrInvite by e-mail of an invited account = %+v, %v, %v; want an invitation", m, inv, err)
	}
	token := f.invitationMail(t, "docs", "cy@example.com")
	if members, _, err := f.svc.ListMembers(t.Context(), owner, "docs", ports.Page{}); err != nil || len(members) != 1 {
		t.Fatalf("members before acceptance = %v, %v; want the owner alone", members, err)
	}

	// Once the account has its password, its holder signs in and accepts.
	if err := f.svc.ConfirmPasswordReset(t.Context(), anon, reset[0], "cy's first passphrase"); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Login(t.Context(), anon, identity.LoginInput{Email: "cy@example.com", Password: "cy's first passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := f.svc.AcceptInvitation(t.Context(), f.auth(t, res.Token), identity.AcceptInput{Token: token})
	if err != nil || acc.Created || acc.Member.User.ID() != cy.ID() || acc.Member.Role != domain.RoleEditor {
		t.Fatalf("acceptance = %+v, %v; want cy an editor, no account created", acc, err)
	}
}
