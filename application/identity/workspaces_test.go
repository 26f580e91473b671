package identity_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func TestOnlyAllowedUsersCreateWorkspaces(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, admin := f.setup(t)
	bob, bobP := f.user(t, admin, "bob@example.com")
	if _, err := f.svc.CreateWorkspace(t.Context(), admin, identity.CreateWorkspaceInput{Name: "A", Slug: "a"}); err != nil {
		t.Fatalf("an instance administrator creates a workspace: %v", err)
	}
	create := func(p domain.Principal, slug string) error {
		_, err := f.svc.CreateWorkspace(t.Context(), p, identity.CreateWorkspaceInput{Name: "B", Slug: slug})
		return err
	}
	if err := create(bobP, "b"); !errors.Is(err, domain.ErrWorkspaceCreationNotAllowed) || domain.KindOf(err) != domain.KindForbidden {
		t.Fatalf("an ordinary user creates a workspace: %v, want workspace_creation_not_allowed", err)
	}
	if _, err := f.svc.UpdateUser(t.Context(), bobP, identity.UpdateUserInput{ID: bob.ID(), CanCreateWorkspaces: new(true)}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a user allows themselves: %v, want forbidden", err)
	}
	u, err := f.svc.UpdateUser(t.Context(), admin, identity.UpdateUserInput{ID: bob.ID(), CanCreateWorkspaces: new(true)})
	if err != nil || !u.CanCreateWorkspaces() {
		t.Fatalf("allow bob: %+v, %v", u, err)
	}
	if err := create(bobP, "b"); err != nil {
		t.Fatalf("an allowed user creates a workspace: %v", err)
	}
	if _, err := f.svc.UpdateUser(t.Context(), admin, identity.UpdateUserInput{ID: bob.ID(), CanCreateWorkspaces: new(false)}); err != nil {
		t.Fatal(err)
	}
	if err := create(bobP, "c"); !errors.Is(err, domain.ErrWorkspaceCreationNotAllowed) {
		t.Fatalf("after the leave is withdrawn: %v, want workspace_creation_not_allowed", err)
	}
	events, _, err := f.svc.ListInstanceAuditEvents(t.Context(), admin, ports.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if events[0].Action != "user.workspace_creation_withdrawn" || events[1].Action != "user.workspace_creation_allowed" || events[0].TargetID != string(bob.ID()) {
		t.Fatalf("latest instance audit events = %s, %s", events[0].Action, events[1].Action)
	}

	anyone := newFixtureWith(t, identity.Config{Workspaces: identity.WorkspacePolicy{AnyoneCreates: true}})
	_, admin = anyone.setup(t)
	_, carol := anyone.user(t, admin, "carol@example.com")
	if _, err := anyone.svc.CreateWorkspace(t.Context(), carol, identity.CreateWorkspaceInput{Name: "C", Slug: "c"}); err != nil {
		t.Fatalf("with anyone allowed, a user creates a workspace: %v", err)
	}
}

// sentCodes returns the sender codes queued for ws, oldest first.
func sentCodes(t *testing.T, db *sqlstore.DB, ws domain.WorkspaceID) (to []string, codes []string) {
	t.Helper()
	code := regexp.MustCompile(`(?m)^    ([A-Za-z0-9_-]{20,})$`)
	err := db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		ms, _, err := st.Outbox().List(ctx, ws, nil, ports.Page{Limit: 100})
		for i := len(ms) - 1; i >= 0; i-- {
			m := ms[i]
			if m.Kind != domain.KindSenderCode {
				continue
			}
			if match := code.FindStringSubmatch(m.Message.Text()); match != nil {
				to = append(to, m.Message.To()[0].Address)
				codes = append(codes, match[1])
			}
			if code.MatchString(m.Message.Subject()) {
				t.Errorf("the subject %q, which the outbox lists, carries the code", m.Message.Subject())
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return to, codes
}

func TestSenderOutsideAllowedDomainsWaitsForTheMailedCode(t *testing.T) {
	t.Parallel()
	domains, err := domain.ParseSenderDomains([]string{"Example.com"})
	if err != nil {
		t.Fatal(err)
	}
	const instance = "Keel <keel@keel.test>"
	f := newFixtureWith(t, identity.Config{Workspaces: identity.WorkspacePolicy{MailFrom: instance, SenderDomains: domains}})
	_, owner := f.setup(t)
	get := func() domain.Workspace {
		t.Helper()
		w, err := f.svc.GetWorkspace(t.Context(), owner, "docs")
		if err != nil {
			t.Fatal(err)
		}
		return w
	}

	// An allowed domain, and the instance sender's own, need no code.
	w, err := f.svc.CreateWorkspace(t.Context(), owner, identity.CreateWorkspaceInput{Name: "Docs", Slug: "docs", MailFrom: "Docs <docs@example.com>"})
	if err != nil || w.SenderStatus() != domain.SenderVerified || get().Sender(instance) != "Docs <docs@example.com>" {
		t.Fatalf("allowed sender: %v, %v", w.SenderStatus(), err)
	}
	for _, from := range []string{"news@keel.test", "x@mail.example.com"} {
		w, err = f.svc.UpdateWorkspace(t.Context(), owner, identity.UpdateWorkspaceInput{Ref: "docs", MailFrom: new(from)})
		want := domain.SenderVerified
		if from == "x@mail.example.com" {
			want = domain.SenderPending // a subdomain is another domain
		}
		if err != nil || w.SenderStatus() != want {
			t.Fatalf("sender %s: %v, %v; want %v", from, w.SenderStatus(), err, want)
		}
	}
	f.clock.Add(domain.SenderCodeInterval)

	// Anyone else's address waits for its code, and mail goes from the
	// instance's sender meanwhile.
	w, err = f.svc.UpdateWorkspace(t.Context(), owner, identity.UpdateWorkspaceInput{Ref: "docs", MailFrom: new("The CEO <ceo@bank.test>")})
	if err != nil || w.SenderStatus() != domain.SenderPending {
		t.Fatalf("foreign sender: %v, %v; want pending", w.SenderStatus(), err)
	}
	if got := get().Sender(instance); got != instance {
		t.Fatalf("a pending sender's mail goes from %q, want %q", got, instance)
	}
	to, codes := sentCodes(t, f.db, w.ID())
	if len(codes) != 2 || to[1] != "ceo@bank.test" {
		t.Fatalf("codes went to %v, want x@mail.example.com and ceo@bank.test", to)
	}
	if _, err := f.svc.UpdateWorkspace(t.Context(), owner, identity.UpdateWorkspaceInput{Ref: "docs", MailFrom: new("ceo@bank.test")}); domain.KindOf(err) != domain.KindRateLimited {
		t.Fatalf("a second code within a minute: %v, want rate limited", err)
	}
	for _, bad := range []string{"", "wrong", codes[0], string(make([]byte, 100))} {
		if _, err := f.svc.VerifyMailFrom(t.Context(), owner, "docs", bad); !errors.Is(err, domain.ErrSenderCodeInvalid) {
			t.Fatalf("verify with %q: %v, want mail_from_code_invalid", bad, err)
		}
	}
	f.clock.Add(time.Hour)
	w, err = f.svc.VerifyMailFrom(t.Context(), owner, "docs", codes[1])
	if err != nil || w.SenderStatus() != domain.SenderVerified || get().Sender(instance) != "The CEO <ceo@bank.test>" {
		t.Fatalf("verify with the mailed code: %v, %v", w.SenderStatus(), err)
	}
	if _, err := f.svc.VerifyMailFrom(t.Context(), owner, "docs", codes[1]); !errors.Is(err, domain.ErrSenderNotPending) {
		t.Fatalf("the code a second time: %v, want mail_from_not_pending", err)
	}

	// A code expires.
	if _, err := f.svc.UpdateWorkspace(t.Context(), owner, identity.UpdateWorkspaceInput{Ref: "docs", MailFrom: new("other@bank.test")}); err != nil {
		t.Fatal(err)
	}
	_, codes = sentCodes(t, f.db, w.ID())
	f.clock.Add(domain.SenderCodeTTL)
	if _, err := f.svc.VerifyMailFrom(t.Context(), owner, "docs", codes[len(codes)-1]); !errors.Is(err, domain.ErrSenderCodeInvalid) {
		t.Fatalf("an expired code: %v, want mail_from_code_invalid", err)
	}

	// Only those who manage the workspace may confirm its sender.
	u, editor := f.user(t, owner, "ed@example.com")
	if _, err := f.svc.AddMember(t.Context(), owner, identity.AddMemberInput{Workspace: "docs", UserID: u.ID(), Role: domain.RoleEditor}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.VerifyMailFrom(t.Context(), editor, "docs", codes[len(codes)-1]); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("an editor confirms the sender: %v, want forbidden", err)
	}
}
