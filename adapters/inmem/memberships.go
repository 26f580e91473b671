package inmem

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// membershipKey is the memberships table's primary key.
type membershipKey struct {
	ws   domain.WorkspaceID
	user domain.UserID
}

type membershipStore struct{ tx *stores }

func (s membershipStore) Add(ctx context.Context, m domain.Membership) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The foreign keys of sqlstore: an internal error, not a rejection.
	if _, ok := s.tx.s.workspaces[m.Workspace]; !ok {
		return fmt.Errorf("add membership of %s in %s: no such workspace", m.User, m.Workspace)
	}
	if _, ok := s.tx.s.users[m.User]; !ok {
		return fmt.Errorf("add membership of %s in %s: no such user", m.User, m.Workspace)
	}
	k := membershipKey{m.Workspace, m.User}
	if _, dup := s.tx.s.memberships[k]; dup {
		return domain.ErrAlreadyMember
	}
	m.CreatedAt = m.CreatedAt.UTC() // as stored times come back
	s.tx.s.memberships[k] = m
	return nil
}

func (s membershipStore) Get(ctx context.Context, ws domain.WorkspaceID, u domain.UserID) (domain.Membership, error) {
	if err := ctx.Err(); err != nil {
		return domain.Membership{}, err
	}
	m, ok := s.tx.s.memberships[membershipKey{ws, u}]
	if !ok {
		return domain.Membership{}, domain.ErrNotFound
	}
	return m, nil
}

func (s membershipStore) SetRole(ctx context.Context, ws domain.WorkspaceID, u domain.UserID, r domain.Role) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := membershipKey{ws, u}
	m, ok := s.tx.s.memberships[k]
	if !ok {
		return domain.ErrNotFound
	}
	m.Role = r
	s.tx.s.memberships[k] = m
	return nil
}

func (s membershipStore) Remove(ctx context.Context, ws domain.WorkspaceID, u domain.UserID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := membershipKey{ws, u}
	if _, ok := s.tx.s.memberships[k]; !ok {
		return domain.ErrNotFound
	}
	delete(s.tx.s.memberships, k)
	return nil
}

func (s membershipStore) List(ctx context.Context, ws domain.WorkspaceID, p ports.Page) ([]domain.Membership, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	var ms []domain.Membership
	for k, m := range s.tx.s.memberships {
		if k.ws == ws {
			ms = append(ms, m)
		}
	}
	return paginate(ms, func(m domain.Membership) string { return string(m.User) }, domain.PrefixUser, p, false)
}

// ListForUser returns u's memberships ordered by workspace ID.
func (s membershipStore) ListForUser(ctx context.Context, u domain.UserID) ([]domain.Membership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ms []domain.Membership
	for k, m := range s.tx.s.memberships {
		if k.user == u {
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b domain.Membership) int { return strings.Compare(string(a.Workspace), string(b.Workspace)) })
	return ms, nil
}

// CountOwners needs no lock here: transactions already run one at a time.
func (s membershipStore) CountOwners(ctx context.Context, ws domain.WorkspaceID) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	for k, m := range s.tx.s.memberships {
		if k.ws == ws && m.Role == domain.RoleOwner {
			n++
		}
	}
	return n, nil
}
