package identity

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// CreateWorkspaceInput names a new workspace. MailFrom is the sender of
// its mail; "" uses the instance's.
type CreateWorkspaceInput struct {
	Name, Slug string
	MailFrom   string
	// PublicOrigins may read the public content API; nil keeps the
	// default, any origin.
	PublicOrigins *[]string
	// APIKeyRateLimit and SessionRateLimit set the workspace's own
	// quotas per minute; nil and 0 use the instance's defaults.
	APIKeyRateLimit, SessionRateLimit *int
}

// WorkspacePolicy is what the instance administrator decides about
// workspaces.
type WorkspacePolicy struct {
	// AnyoneCreates lets every user create workspaces; otherwise only
	// instance administrators and the users they allow may.
	AnyoneCreates bool
	// MailFrom is the instance's sender: it sends the codes that confirm
	// a workspace's sender, and its domain is always allowed.
	MailFrom string
	// SenderDomains are the domains a workspace may send from without
	// confirming the address.
	SenderDomains domain.SenderDomains
}

// defaultMailFrom is the instance's sender when the Config names none.
const defaultMailFrom = "Keel <keel@localhost>"

func (wp WorkspacePolicy) withDefaults() WorkspacePolicy {
	if wp.MailFrom == "" {
		wp.MailFrom = defaultMailFrom
	}
	wp.SenderDomains = wp.SenderDomains.With(wp.MailFrom)
	return wp
}

// CreateWorkspace creates a workspace whose first owner is the caller:
// an instance administrator or a user they allowed, or any person when
// the instance lets anyone; never an API key. A MailFrom outside the
// allowed domains waits for the code mailed to it (see UpdateWorkspace).
func (s *Service) CreateWorkspace(ctx context.Context, p domain.Principal, in CreateWorkspaceInput) (_ domain.Workspace, err error) {
	ctx, end := usecase.Start(ctx, "identity.CreateWorkspace")
	defer end(&err)
	if err := requireUser(p); err != nil {
		return domain.Workspace{}, err
	}
	created, err := domain.NewWorkspace(in.Name, in.Slug, s.now())
	if err != nil {
		return domain.Workspace{}, err
	}
	if err := created.Update(domain.WorkspaceChange{
		MailFrom: &in.MailFrom, PublicOrigins: in.PublicOrigins, APIKeyRateLimit: in.APIKeyRateLimit, SessionRateLimit: in.SessionRateLimit,
	}); err != nil {
		return domain.Workspace{}, err
	}
	code, hash := domain.NewSenderCode()
	var w domain.Workspace
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		if err := s.mayCreateWorkspace(ctx, st, p); err != nil {
			return err
		}
		w = created // the transaction may run again
		mail, err := s.settleSender(&w, nil, code, hash)
		if err != nil {
			return err
		}
		if err := st.Workspaces().Add(ctx, w); err != nil {
			return err
		}
		m := domain.Membership{Workspace: w.ID(), User: p.User(), Role: domain.RoleOwner, CreatedAt: domain.Timestamp(s.now())}
		if err := st.Memberships().Add(ctx, m); err != nil {
			return fmt.Errorf("add owner: %w", err)
		}
		if err := policyChanged(ctx, st); err != nil {
			return err
		}
		if err := queueSenderCode(ctx, st, mail); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "workspace.created", "workspace", string(w.ID()), map[string]string{
			"slug": w.Slug(), "mail_from": w.MailFrom(), "mail_from_status": w.SenderStatus().String(),
		})
	})
	if err != nil {
		return domain.Workspace{}, err
	}
	s.reload(ctx)
	return w, nil
}

// mayCreateWorkspace lets p create a workspace under the instance's
// policy. It reads the user in the transaction, so that a leave just
// withdrawn holds at once.
func (s *Service) mayCreateWorkspace(ctx context.Context, st ports.Stores, p domain.Principal) error {
	if s.workspaces.AnyoneCreates {
		return nil
	}
	u, err := st.Users().Get(ctx, p.User())
	if err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	if !u.IsInstanceAdmin() && !u.CanCreateWorkspaces() {
		return domain.ErrWorkspaceCreationNotAllowed
	}
	return nil
}

// settleSender decides a workspace sender just set: verified at once on an
// allowed domain; otherwise pending on code (whose hash is hash), and then
// it returns the mail that carries the code. last is when the workspace's
// previous code was sent, if any.
func (s *Service) settleSender(w *domain.Workspace, last *time.Time, code string, hash []byte) (*domain.OutboxMessage, error) {
	if w.SenderStatus() != domain.SenderUnverified || w.VerifySender(s.workspaces.SenderDomains) {
		return nil, nil
	}
	now := s.now()
	if err := w.AwaitSenderCode(hash, last, now); err != nil {
		return nil, err
	}
	m, err := domain.NewMessage(domain.MessageInput{
		From: s.workspaces.MailFrom, To: []string{w.MailFrom()},
		Subject: "Confirm this address as a sender on Keel",
		Text:    fmt.Sprintf(senderCodeText, w.Name(), w.Slug(), int(domain.SenderCodeTTL.Hours()), code, w.Slug(), code),
	}, now)
	if err != nil {
		return nil, fmt.Errorf("compose sender code mail: %w", err)
	}
	om := domain.NewOutboxMessage(m, w.ID(), "", domain.KindSenderCode, "", now)
	return &om, nil
}

// senderCodeText is the body of the mail that confirms a sender. Its
// subject carries no code: the outbox lists subjects to the workspace's
// administrators, who must not be able to confirm an address they do not
// read.
const senderCodeText = `An administrator of the workspace %q (%s) on a Keel instance asked to send its mail from this address.

If that was you or your team, confirm the address with this code within %d hours:

    %s

    POST /v1/workspaces/%s/mail-from/verify
    {"code": "%s"}

If you did not expect this message, ignore it: no mail is sent from this address until the code is entered.
`

func queueSenderCode(ctx context.Context, st ports.Stores, m *domain.OutboxMessage) error {
	if m == nil {
		return nil
	}
	if err := st.Outbox().Add(ctx, *m); err != nil {
		return fmt.Errorf("queue sender code: %w", err)
	}
	return nil
}

// ListWorkspaces lists the caller's workspaces: a person's memberships, or
// an API key's own workspace.
func (s *Service) ListWorkspaces(ctx context.Context, p domain.Principal, page ports.Page) (_ []domain.Workspace, next string, err error) {
	ctx, end := usecase.Start(ctx, "identity.ListWorkspaces")
	defer end(&err)
	var ws []domain.Workspace
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		switch p.Kind() {
		case domain.UserPrincipal:
			ws, next, err = st.Workspaces().ListForUser(ctx, p.User(), page)
			return err
		case domain.APIKeyPrincipal:
			w, err := s.workspace(ctx, st, p, string(p.KeyWorkspace()), domain.PermWorkspaceRead)
			if err != nil {
				return err
			}
			ws = []domain.Workspace{w}
			return nil
		}
		return domain.ErrUnauthenticated
	})
	return ws, next, err
}

// GetWorkspace returns a workspace by ID or slug.
func (s *Service) GetWorkspace(ctx context.Context, p domain.Principal, ref string) (_ domain.Workspace, err error) {
	ctx, end := usecase.Start(ctx, "identity.GetWorkspace")
	defer end(&err)
	var w domain.Workspace
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		w, err = s.workspace(ctx, st, p, ref, domain.PermWorkspaceRead)
		return err
	})
	return w, err
}

// UpdateWorkspaceInput changes a workspace's settings; nil fields stay as
// they are, and a MailFrom of "" returns to the instance's sender.
type UpdateWorkspaceInput struct {
	Ref           string
	Name, Slug    *string
	MailFrom      *string
	PublicOrigins *[]string
	// APIKeyRateLimit and SessionRateLimit set the workspace's quotas per
	// minute; 0 returns to the instance's default.
	APIKeyRateLimit, SessionRateLimit *int
}

// UpdateWorkspace renames a workspace, changes its slug or the sender of
// its mail (admins, owners). A sender on a domain the instance allows is
// used at once. Another is pending: Keel mails it a code, in the same
// transaction through the outbox, and keeps sending from the instance's
// sender until VerifyMailFrom gets the code. Setting a pending address
// again sends a new code, at most one a minute.
func (s *Service) UpdateWorkspace(ctx context.Context, p domain.Principal, in UpdateWorkspaceInput) (_ domain.Workspace, err error) {
	ctx, end := usecase.Start(ctx, "identity.UpdateWorkspace")
	defer end(&err)
	var w domain.Workspace
	code, hash := domain.NewSenderCode()
	public := false
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if w, err = s.workspace(ctx, st, p, in.Ref, domain.PermWorkspaceWrite); err != nil {
			return err
		}
		before := w
		if err := w.Update(domain.WorkspaceChange{
			Name: in.Name, Slug: in.Slug, MailFrom: in.MailFrom, PublicOrigins: in.PublicOrigins,
			APIKeyRateLimit: in.APIKeyRateLimit, SessionRateLimit: in.SessionRateLimit,
		}); err != nil {
			return err
		}
		var mail *domain.OutboxMessage
		if in.MailFrom != nil {
			if mail, err = s.settleSender(&w, before.StoredSender().CodeSentAt, code, hash); err != nil {
				return err
			}
		}
		if err := st.Workspaces().Update(ctx, w); err != nil {
			return err
		}
		if err := queueSenderCode(ctx, st, mail); err != nil {
			return err
		}
		// The public API's cached responses are keyed by slug and carry
		// the CORS decision, and feeds show the name.
		public = w.Slug() != before.Slug() || w.Name() != before.Name() || !slices.Equal(w.PublicOrigins(), before.PublicOrigins())
		if public {
			if err := publicContentChanged(ctx, st); err != nil {
				return err
			}
		}
		return s.audit(ctx, st, p, w.ID(), "workspace.updated", "workspace", string(w.ID()), map[string]string{
			"name": w.Name(), "slug": w.Slug(), "mail_from": w.MailFrom(), "mail_from_status": w.SenderStatus().String(),
			"public_origins":      strings.Join(w.PublicOrigins(), " "),
			"rate_limits.api_key": strconv.Itoa(w.RateLimits().APIKey), "rate_limits.session": strconv.Itoa(w.RateLimits().Session),
		})
	})
	if err == nil && public {
		s.publicChanged()
	}
	return w, err
}

// VerifyMailFrom confirms a workspace's pending sender with the code
// mailed to it (admins, owners). A code works once and for
// domain.SenderCodeTTL; a wrong one changes nothing.
func (s *Service) VerifyMailFrom(ctx context.Context, p domain.Principal, ref, code string) (_ domain.Workspace, err error) {
	ctx, end := usecase.Start(ctx, "identity.VerifyMailFrom")
	defer end(&err)
	hash, err := domain.HashSenderCode(code)
	if err != nil {
		return domain.Workspace{}, err
	}
	var w domain.Workspace
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) (err error) {
		if w, err = s.workspace(ctx, st, p, ref, domain.PermWorkspaceWrite); err != nil {
			return err
		}
		if err := w.ConfirmSender(hash, s.now()); err != nil {
			return err
		}
		if err := st.Workspaces().Update(ctx, w); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "workspace.mail_from_verified", "workspace", string(w.ID()), map[string]string{"mail_from": w.MailFrom()})
	})
	return w, err
}

// DeleteWorkspace deletes a workspace with everything in it (owners only).
// Its audit events are kept.
func (s *Service) DeleteWorkspace(ctx context.Context, p domain.Principal, ref string) (err error) {
	ctx, end := usecase.Start(ctx, "identity.DeleteWorkspace")
	defer end(&err)
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, ref, domain.PermWorkspaceDelete)
		if err != nil {
			return err
		}
		if err := st.Workspaces().Delete(ctx, w.ID()); err != nil {
			return fmt.Errorf("delete workspace: %w", err)
		}
		if err := policyChanged(ctx, st); err != nil {
			return err
		}
		if err := publicContentChanged(ctx, st); err != nil {
			return err
		}
		return s.audit(ctx, st, p, w.ID(), "workspace.deleted", "workspace", string(w.ID()), map[string]string{"slug": w.Slug()})
	})
	if err != nil {
		return err
	}
	s.publicChanged()
	s.reload(ctx)
	return nil
}

// publicContentChanged tells every node's public content cache, in the
// caller's transaction, that what it holds may be stale.
func publicContentChanged(ctx context.Context, st ports.Stores) error {
	if _, err := st.Instance().BumpCounter(ctx, ports.PublicContentCounter); err != nil {
		return fmt.Errorf("bump %s: %w", ports.PublicContentCounter, err)
	}
	return nil
}
