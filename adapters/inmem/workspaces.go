package inmem

import (
	"context"
	"maps"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

type workspaceStore struct{ tx *stores }

func (s workspaceStore) Add(ctx context.Context, w domain.Workspace) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// A reused ID is reported like a reused slug, as sqlstore must.
	if _, dup := s.tx.s.workspaces[w.ID()]; dup || s.slugUsed(w.Slug(), w.ID()) {
		return domain.ErrSlugTaken
	}
	s.tx.s.workspaces[w.ID()] = w
	return nil
}

// slugUsed reports whether a workspace other than self has slug.
func (s workspaceStore) slugUsed(slug string, self domain.WorkspaceID) bool {
	for _, o := range s.tx.s.workspaces {
		if o.Slug() == slug && o.ID() != self {
			return true
		}
	}
	return false
}

func (s workspaceStore) Get(ctx context.Context, id domain.WorkspaceID) (domain.Workspace, error) {
	if err := ctx.Err(); err != nil {
		return domain.Workspace{}, err
	}
	w, ok := s.tx.s.workspaces[id]
	if !ok {
		return domain.Workspace{}, domain.ErrNotFound
	}
	return w, nil
}

func (s workspaceStore) GetBySlug(ctx context.Context, slug string) (domain.Workspace, error) {
	if err := ctx.Err(); err != nil {
		return domain.Workspace{}, err
	}
	for _, w := range s.tx.s.workspaces {
		if w.Slug() == slug {
			return w, nil
		}
	}
	return domain.Workspace{}, domain.ErrNotFound
}

func (s workspaceStore) Update(ctx context.Context, w domain.Workspace) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	old, ok := s.tx.s.workspaces[w.ID()]
	if !ok {
		return domain.ErrNotFound
	}
	if s.slugUsed(w.Slug(), w.ID()) {
		return domain.ErrSlugTaken
	}
	s.tx.s.workspaces[w.ID()] = domain.RehydrateWorkspace(w.ID(), w.Name(), w.Slug(), w.MailFrom(), w.StoredSender(), w.PublicOrigins(), old.CreatedAt())
	return nil
}

// Delete removes the workspace, its memberships, API keys, forms (with
// their submissions), queued messages, entries (with their revisions) and
// events, as the foreign keys' ON DELETE CASCADE does in sqlstore. Audit
// events stay.
func (s workspaceStore) Delete(ctx context.Context, id domain.WorkspaceID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := s.tx.s.workspaces[id]; !ok {
		return domain.ErrNotFound
	}
	delete(s.tx.s.workspaces, id)
	maps.DeleteFunc(s.tx.s.memberships, func(k membershipKey, _ domain.Membership) bool { return k.ws == id })
	maps.DeleteFunc(s.tx.s.apiKeys, func(_ domain.APIKeyID, k domain.APIKey) bool { return k.Workspace() == id })
	s.tx.deleteForms(func(f domain.Form) bool { return f.Workspace() == id })
	maps.DeleteFunc(s.tx.s.outbox, func(_ string, e outboxEntry) bool { return e.m.Workspace == id })
	s.tx.deleteContent(id)
	return nil
}

func (s workspaceStore) ListForUser(ctx context.Context, u domain.UserID, p ports.Page) ([]domain.Workspace, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	var mine []domain.Workspace
	for k := range s.tx.s.memberships {
		if k.user == u {
			mine = append(mine, s.tx.s.workspaces[k.ws])
		}
	}
	return paginate(mine, func(w domain.Workspace) string { return string(w.ID()) }, domain.PrefixWorkspace, p, false)
}
