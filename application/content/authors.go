package content

import (
	"context"
	"fmt"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var errNoSuchAuthor = domain.ErrNotFound.WithMessage("No such author.")

// maxSlugTries bounds how many numbered slugs ("jane-doe-2", ...) a
// member's first profile tries before falling back to one made from the
// user ID, which no other member has.
const maxSlugTries = 5

// EnsureAuthor returns the profile of user in ws, creating the default
// one (domain.DefaultAuthor) when the member has none, in the caller's
// transaction: a member gets a profile when they first write an entry,
// so that every post has an author to show. An importer calls it for the
// members it maps authors to.
func (s *Service) EnsureAuthor(ctx context.Context, st ports.Stores, ws domain.WorkspaceID, user domain.UserID) (domain.Author, error) {
	a, err := st.Authors().Get(ctx, ws, user)
	if domain.KindOf(err) != domain.KindNotFound {
		return a, err
	}
	u, err := st.Users().Get(ctx, user)
	if err != nil {
		return domain.Author{}, fmt.Errorf("author %s: %w", user, err)
	}
	for n := 1; n <= maxSlugTries+1; n++ {
		a = domain.DefaultAuthor(ws, u, n, s.now())
		if n > maxSlugTries {
			a = domain.RehydrateAuthor(domain.AuthorRecord{Workspace: ws, User: user, CreatedAt: a.CreatedAt(), UpdatedAt: a.UpdatedAt(),
				Profile: domain.AuthorProfile{Name: a.Name(), Slug: domain.UserSlug(user)}})
		}
		added, err := st.Authors().Add(ctx, a)
		if err != nil {
			return domain.Author{}, err
		}
		if added {
			return a, nil
		}
		// Either a concurrent first entry of the member gave them their
		// profile, which is the one to use, or another member has the
		// slug.
		if got, err := st.Authors().Get(ctx, ws, user); domain.KindOf(err) != domain.KindNotFound {
			return got, err
		}
	}
	return domain.Author{}, fmt.Errorf("author %s: no free slug", user)
}

// AuthorEdit changes a member's profile: the fields that are not nil.
type AuthorEdit = domain.AuthorProfilePatch

// authorToWrite authorizes p to edit user's profile in the workspace: a
// member may edit their own (signed in: an API key acts for a workspace,
// not a person), and members:write (admins) anyone's.
func (s *Service) authorToWrite(ctx context.Context, st ports.Stores, p domain.Principal, wsRef string, user domain.UserID) (domain.Workspace, error) {
	if !p.IsAPIKey() && !p.IsAnonymous() && p.User() == user {
		return s.workspace(ctx, st, p, wsRef, domain.PermContentRead)
	}
	return s.workspace(ctx, st, p, wsRef, domain.PermMembersWrite)
}

// UpdateAuthor edits a member's public profile (the member themself, or
// an admin) and audits it as author.updated. A member without a profile
// gets the default one, then the edit.
func (s *Service) UpdateAuthor(ctx context.Context, p domain.Principal, wsRef string, user domain.UserID, edit AuthorEdit) (_ domain.Author, err error) {
	ctx, end := usecase.Start(ctx, "content.UpdateAuthor")
	defer end(&err)
	var a domain.Author
	err = s.uow.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.authorToWrite(ctx, st, p, wsRef, user)
		if err != nil {
			return err
		}
		if !domain.ValidID(domain.PrefixUser, string(user)) {
			return errNoSuchAuthor
		}
		if _, err := st.Memberships().Get(ctx, w.ID(), user); err != nil {
			if domain.KindOf(err) == domain.KindNotFound {
				return errNoSuchAuthor
			}
			return err
		}
		if a, err = s.EnsureAuthor(ctx, st, w.ID(), user); err != nil {
			return err
		}
		if err := a.Edit(edit.Apply(a.Profile()), s.now()); err != nil {
			return err
		}
		if err := st.Authors().Put(ctx, a); err != nil {
			return err
		}
		if err := usecase.Audit(ctx, st, p, w.ID(), "author.updated", "user", string(user), map[string]string{"slug": a.Slug()}, s.now()); err != nil {
			return err
		}
		return publicChange(ctx, st)
	})
	if err == nil {
		s.changed()
	}
	return a, err
}

// ListAuthors lists the workspace's author profiles by slug (viewers and
// up).
func (s *Service) ListAuthors(ctx context.Context, p domain.Principal, wsRef string, page ports.Page) (_ []domain.Author, next string, err error) {
	ctx, end := usecase.Start(ctx, "content.ListAuthors")
	defer end(&err)
	var as []domain.Author
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		w, err := s.workspace(ctx, st, p, wsRef, domain.PermContentRead)
		if err != nil {
			return err
		}
		as, next, err = st.Authors().List(ctx, w.ID(), page)
		return err
	})
	return as, next, err
}

// PublicAuthor returns the profile of ws with the slug.
func (s *Service) PublicAuthor(ctx context.Context, ws domain.WorkspaceID, slug string) (_ domain.Author, err error) {
	ctx, end := usecase.Start(ctx, "content.PublicAuthor")
	defer end(&err)
	var a domain.Author
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		a, err = st.Authors().BySlug(ctx, ws, slug)
		if domain.KindOf(err) == domain.KindNotFound {
			return errNoSuchAuthor
		}
		return err
	})
	return a, err
}

// AuthorsOf returns the profiles of the authors of es, keyed by user, for
// the public API to show on each entry; an author without a profile has
// no key.
func (s *Service) AuthorsOf(ctx context.Context, ws domain.WorkspaceID, es []domain.Entry) (_ map[domain.UserID]domain.Author, err error) {
	ctx, end := usecase.Start(ctx, "content.AuthorsOf")
	defer end(&err)
	var users []domain.UserID
	for _, e := range es {
		if u := e.Author(); u != "" && !containsUser(users, u) {
			users = append(users, u)
		}
	}
	var m map[domain.UserID]domain.Author
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		m, err = st.Authors().Of(ctx, ws, users)
		return err
	})
	return m, err
}

func containsUser(us []domain.UserID, u domain.UserID) bool {
	for _, x := range us {
		if x == u {
			return true
		}
	}
	return false
}
