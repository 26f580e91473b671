package inmem

import (
	"context"
	"maps"
	"slices"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

type userStore struct{ tx *stores }

func (s userStore) Add(ctx context.Context, u domain.User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// sqlstore cannot tell which UNIQUE constraint failed, so a reused ID
	// is reported like a reused e-mail there too.
	if _, dup := s.tx.s.users[u.ID()]; dup {
		return domain.ErrEmailTaken
	}
	for _, o := range s.tx.s.users {
		if o.Email() == u.Email() {
			return domain.ErrEmailTaken
		}
	}
	s.tx.s.users[u.ID()] = u
	return nil
}

func (s userStore) Get(ctx context.Context, id domain.UserID) (domain.User, error) {
	if err := ctx.Err(); err != nil {
		return domain.User{}, err
	}
	u, ok := s.tx.s.users[id]
	if !ok {
		return domain.User{}, domain.ErrNotFound
	}
	return u, nil
}

func (s userStore) GetByEmail(ctx context.Context, email domain.Email) (domain.User, error) {
	if err := ctx.Err(); err != nil {
		return domain.User{}, err
	}
	for _, u := range s.tx.s.users {
		if u.Email() == email {
			return u, nil
		}
	}
	return domain.User{}, domain.ErrNotFound
}

func (s userStore) Update(ctx context.Context, u domain.User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	old, ok := s.tx.s.users[u.ID()]
	if !ok {
		return domain.ErrNotFound
	}
	// The e-mail and creation time are not updatable, as in sqlstore.
	nu := domain.RehydrateUser(u.ID(), old.Email(), u.Name(), u.PasswordHash(), u.Status(), u.IsInstanceAdmin(), old.CreatedAt())
	nu.SetCanCreateWorkspaces(u.CanCreateWorkspaces())
	s.tx.s.users[u.ID()] = nu
	return nil
}

func (s userStore) List(ctx context.Context, p ports.Page) ([]domain.User, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	all := slices.Collect(maps.Values(s.tx.s.users))
	return paginate(all, func(u domain.User) string { return string(u.ID()) }, domain.PrefixUser, p, false)
}

func (s userStore) Any(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return len(s.tx.s.users) > 0, nil
}
