package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keelhq/keel/adapters/internal/cursor"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// authorStore implements ports.AuthorStore.
type authorStore struct{ *stores }

const authorColumns = `workspace_id, user_id, slug, name, bio, avatar_url, website_url, created_at, updated_at`

func scanAuthor(sc scanner) (domain.Author, error) {
	var ws, user string
	var p domain.AuthorProfile
	var created, updated time.Time
	if err := sc.Scan(&ws, &user, &p.Slug, &p.Name, &p.Bio, &p.AvatarURL, &p.WebsiteURL, &created, &updated); err != nil {
		return domain.Author{}, err
	}
	return domain.RehydrateAuthor(domain.AuthorRecord{
		Workspace: domain.WorkspaceID(ws), User: domain.UserID(user), Profile: p, CreatedAt: created, UpdatedAt: updated,
	}), nil
}

// Put upserts on the member; a unique violation left is the slug's.
func (s authorStore) Put(ctx context.Context, a domain.Author) error {
	p := a.Profile()
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO authors (`+authorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (workspace_id, user_id) DO UPDATE SET slug = excluded.slug, name = excluded.name, bio = excluded.bio,
		avatar_url = excluded.avatar_url, website_url = excluded.website_url, updated_at = excluded.updated_at`),
		a.Workspace().String(), string(a.User()), p.Slug, p.Name, p.Bio, p.AvatarURL, p.WebsiteURL,
		domain.Timestamp(a.CreatedAt()), domain.Timestamp(a.UpdatedAt()))
	if s.d.uniqueViolation(err) {
		return domain.ErrAuthorSlugTaken
	}
	if err != nil {
		return fmt.Errorf("put author %s of %s: %w", a.User(), a.Workspace(), err)
	}
	return nil
}

// Add lets the engine settle both conflicts: DO NOTHING without a target
// covers every unique index, and on PostgreSQL it waits for a concurrent
// transaction that inserted the same member or slug instead of aborting
// this one with a unique violation.
func (s authorStore) Add(ctx context.Context, a domain.Author) (bool, error) {
	p := a.Profile()
	res, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO authors (`+authorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`),
		a.Workspace().String(), string(a.User()), p.Slug, p.Name, p.Bio, p.AvatarURL, p.WebsiteURL,
		domain.Timestamp(a.CreatedAt()), domain.Timestamp(a.UpdatedAt()))
	if err != nil {
		return false, fmt.Errorf("add author %s of %s: %w", a.User(), a.Workspace(), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("add author %s of %s: %w", a.User(), a.Workspace(), err)
	}
	return n == 1, nil
}

func (s authorStore) Get(ctx context.Context, ws domain.WorkspaceID, user domain.UserID) (domain.Author, error) {
	a, err := scanAuthor(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+authorColumns+` FROM authors WHERE workspace_id = ? AND user_id = ?`),
		ws.String(), string(user)))
	if isNoRows(err) {
		return domain.Author{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Author{}, fmt.Errorf("get author %s of %s: %w", user, ws, err)
	}
	return a, nil
}

func (s authorStore) BySlug(ctx context.Context, ws domain.WorkspaceID, slug string) (domain.Author, error) {
	a, err := scanAuthor(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+authorColumns+` FROM authors WHERE workspace_id = ? AND slug = ?`),
		ws.String(), slug))
	if isNoRows(err) {
		return domain.Author{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Author{}, fmt.Errorf("get author %q of %s: %w", slug, ws, err)
	}
	return a, nil
}

// Of reads the profiles in one statement: a page of entries has at most
// ports.MaxPageLimit authors, well below every engine's parameter limit.
func (s authorStore) Of(ctx context.Context, ws domain.WorkspaceID, users []domain.UserID) (map[domain.UserID]domain.Author, error) {
	out := make(map[domain.UserID]domain.Author, len(users))
	if len(users) == 0 {
		return out, nil
	}
	if len(users) > ports.MaxPageLimit {
		return nil, fmt.Errorf("authors of %s: %d users, more than %d", ws, len(users), ports.MaxPageLimit)
	}
	args := []any{ws.String()}
	for _, u := range users {
		args = append(args, string(u))
	}
	as, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+authorColumns+` FROM authors WHERE workspace_id = ? AND user_id IN (?`+
		strings.Repeat(`, ?`, len(users)-1)+`)`), scanAuthor, args...)
	if err != nil {
		return nil, fmt.Errorf("authors of %s: %w", ws, err)
	}
	for _, a := range as {
		out[a.User()] = a
	}
	return out, nil
}

// cursorSlug is a listing by slug's last slug.
const cursorSlug = "s"

func (s authorStore) List(ctx context.Context, ws domain.WorkspaceID, p ports.Page) ([]domain.Author, string, error) {
	cond, args := `workspace_id = ?`, []any{ws.String()}
	if p.After != "" {
		f, ok := cursor.Decode(p.After, cursorSlug, 1)
		if !ok {
			return nil, "", ports.ErrInvalidCursor
		}
		cond, args = cond+` AND slug > ?`, append(args, f[0])
	}
	limit := p.Size()
	as, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+authorColumns+` FROM authors WHERE `+cond+` ORDER BY slug LIMIT ?`),
		scanAuthor, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list authors of %s: %w", ws, err)
	}
	as, next := cut(as, limit, func(a domain.Author) string { return cursor.Encode(cursorSlug, a.Slug()) })
	return as, next, nil
}
