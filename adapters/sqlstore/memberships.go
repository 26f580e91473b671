package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// membershipStore implements ports.MembershipStore.
type membershipStore struct{ *stores }

const membershipColumns = `workspace_id, user_id, role, created_at`

type membershipRow struct {
	workspaceID, userID, role string
	createdAt                 time.Time
}

func (r membershipRow) toDomain() (domain.Membership, error) {
	role, err := domain.ParseRole(r.role)
	if err != nil {
		return domain.Membership{}, fmt.Errorf("membership of %s in %s: stored role %q: %w", r.userID, r.workspaceID, r.role, err)
	}
	return domain.Membership{Workspace: domain.WorkspaceID(r.workspaceID), User: domain.UserID(r.userID), Role: role, CreatedAt: r.createdAt.UTC()}, nil
}

func scanMembership(sc scanner) (domain.Membership, error) {
	var r membershipRow
	if err := sc.Scan(&r.workspaceID, &r.userID, &r.role, &r.createdAt); err != nil {
		return domain.Membership{}, err
	}
	return r.toDomain()
}

func (s membershipStore) Add(ctx context.Context, m domain.Membership) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO memberships (`+membershipColumns+`) VALUES (?, ?, ?, ?)`),
		m.Workspace.String(), m.User.String(), m.Role.String(), m.CreatedAt)
	if s.d.uniqueViolation(err) {
		return domain.ErrAlreadyMember
	}
	if err != nil {
		return fmt.Errorf("add membership of %s in %s: %w", m.User, m.Workspace, err)
	}
	return nil
}

func (s membershipStore) Get(ctx context.Context, ws domain.WorkspaceID, u domain.UserID) (domain.Membership, error) {
	m, err := scanMembership(s.q.QueryRowContext(ctx, s.d.rebind(
		`SELECT `+membershipColumns+` FROM memberships WHERE workspace_id = ? AND user_id = ?`), ws.String(), u.String()))
	if isNoRows(err) {
		return domain.Membership{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Membership{}, fmt.Errorf("get membership of %s in %s: %w", u, ws, err)
	}
	return m, nil
}

func (s membershipStore) SetRole(ctx context.Context, ws domain.WorkspaceID, u domain.UserID, r domain.Role) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE memberships SET role = ? WHERE workspace_id = ? AND user_id = ?`),
		r.String(), ws.String(), u.String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("set role of %s in %s: %w", u, ws, err)
	}
	return nil
}

func (s membershipStore) Remove(ctx context.Context, ws domain.WorkspaceID, u domain.UserID) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?`), ws.String(), u.String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("remove %s from %s: %w", u, ws, err)
	}
	return nil
}

func (s membershipStore) List(ctx context.Context, ws domain.WorkspaceID, p ports.Page) ([]domain.Membership, string, error) {
	limit, err := pageOf(p, domain.PrefixUser)
	if err != nil {
		return nil, "", err
	}
	ms, err := queryAll(ctx, s.q, s.d.rebind(
		`SELECT `+membershipColumns+` FROM memberships WHERE workspace_id = ? AND user_id > ? ORDER BY user_id LIMIT ?`),
		scanMembership, ws.String(), p.After, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list members of %s: %w", ws, err)
	}
	ms, next := cut(ms, limit, func(m domain.Membership) string { return m.User.String() })
	return ms, next, nil
}

// ListForUser returns u's memberships ordered by workspace ID.
func (s membershipStore) ListForUser(ctx context.Context, u domain.UserID) ([]domain.Membership, error) {
	ms, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+membershipColumns+` FROM memberships WHERE user_id = ? ORDER BY workspace_id`),
		scanMembership, u.String())
	if err != nil {
		return nil, fmt.Errorf("list memberships of %s: %w", u, err)
	}
	return ms, nil
}

// CountOwners reads the owner rows with the dialect's row lock (FOR UPDATE
// on PostgreSQL) and counts them in Go, because PostgreSQL refuses FOR
// UPDATE on an aggregate. A concurrent demotion then waits for this
// transaction and, once it commits, no longer sees the demoted owner.
func (s membershipStore) CountOwners(ctx context.Context, ws domain.WorkspaceID) (int, error) {
	owners, err := queryAll(ctx, s.q, s.d.rebind(`SELECT user_id FROM memberships WHERE workspace_id = ? AND role = 'owner'`+s.d.lockRows()),
		scanString, ws.String())
	if err != nil {
		return 0, fmt.Errorf("count owners of %s: %w", ws, err)
	}
	return len(owners), nil
}
