package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// userStore implements ports.UserStore.
type userStore struct{ *stores }

const userColumns = `id, email, name, password_hash, status, instance_admin, can_create_workspaces, created_at`

type userRow struct {
	id, email, name, passwordHash, status string
	instanceAdmin, canCreateWorkspaces    bool
	createdAt                             time.Time
}

func scanUser(sc scanner) (domain.User, error) {
	var r userRow
	if err := sc.Scan(&r.id, &r.email, &r.name, &r.passwordHash, &r.status, &r.instanceAdmin, &r.canCreateWorkspaces, &r.createdAt); err != nil {
		return domain.User{}, err
	}
	return r.toDomain()
}

func (r userRow) toDomain() (domain.User, error) {
	status, err := domain.ParseUserStatus(r.status)
	if err != nil {
		return domain.User{}, fmt.Errorf("user %s: stored status %q: %w", r.id, r.status, err)
	}
	u := domain.RehydrateUser(domain.UserID(r.id), domain.Email(r.email), r.name, r.passwordHash, status, r.instanceAdmin, r.createdAt)
	u.SetCanCreateWorkspaces(r.canCreateWorkspaces)
	return u, nil
}

func (s userStore) Add(ctx context.Context, u domain.User) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		u.ID().String(), u.Email().String(), u.Name(), u.PasswordHash(), u.Status().String(), u.IsInstanceAdmin(), u.CanCreateWorkspaces(), u.CreatedAt())
	if s.d.uniqueViolation(err) {
		// The ID is random, so the e-mail is what collided.
		return domain.ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("add user %s: %w", u.ID(), err)
	}
	return nil
}

func (s userStore) Get(ctx context.Context, id domain.UserID) (domain.User, error) {
	return s.getBy(ctx, "id", id.String())
}

func (s userStore) GetByEmail(ctx context.Context, email domain.Email) (domain.User, error) {
	return s.getBy(ctx, "email", email.String())
}

// getBy reads the user whose column (a constant, never input) is v.
func (s userStore) getBy(ctx context.Context, column, v string) (domain.User, error) {
	u, err := scanUser(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+userColumns+` FROM users WHERE `+column+` = ?`), v))
	if isNoRows(err) {
		return domain.User{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("get user by %s: %w", column, err)
	}
	return u, nil
}

func (s userStore) Update(ctx context.Context, u domain.User) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE users SET email = ?, name = ?, status = ?, password_hash = ?, instance_admin = ?, can_create_workspaces = ? WHERE id = ?`),
		u.Email().String(), u.Name(), u.Status().String(), u.PasswordHash(), u.IsInstanceAdmin(), u.CanCreateWorkspaces(), u.ID().String())
	if s.d.uniqueViolation(err) {
		// Only the e-mail address is unique among the columns set.
		return domain.ErrEmailTaken
	}
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.ID(), err)
	}
	return nil
}

func (s userStore) List(ctx context.Context, p ports.Page) ([]domain.User, string, error) {
	limit, err := pageOf(p, domain.PrefixUser)
	if err != nil {
		return nil, "", err
	}
	// Every ID sorts after "", so the first page needs no other query.
	us, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+userColumns+` FROM users WHERE id > ? ORDER BY id LIMIT ?`),
		scanUser, p.After, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	us, next := cut(us, limit, func(u domain.User) string { return u.ID().String() })
	return us, next, nil
}

func (s userStore) Any(ctx context.Context) (bool, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) AS one`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("any user: %w", err)
	}
	return n > 0, nil
}
