package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// workspaceStore implements ports.WorkspaceStore.
type workspaceStore struct{ *stores }

const workspaceColumns = `id, name, slug, mail_from, mail_from_status, mail_from_code_hash, mail_from_code_sent_at, public_origins, created_at, rate_limit_api_key, rate_limit_session`

type workspaceRow struct {
	id, name, slug, mailFrom, senderStatus, origins string
	codeHash                                        []byte
	codeSentAt                                      sql.NullTime
	createdAt                                       time.Time
	apiKeyLimit, sessionLimit                       int
}

func (r workspaceRow) toDomain() (domain.Workspace, error) {
	var origins []string
	if err := json.Unmarshal([]byte(r.origins), &origins); err != nil {
		return domain.Workspace{}, fmt.Errorf("decode public origins of %s: %w", r.id, err)
	}
	status, err := domain.ParseSenderStatus(r.senderStatus)
	if err != nil {
		return domain.Workspace{}, fmt.Errorf("workspace %s: stored sender status %q: %w", r.id, r.senderStatus, err)
	}
	sender := domain.StoredSender{Status: status, CodeHash: r.codeHash, CodeSentAt: timePtr(r.codeSentAt)}
	w := domain.RehydrateWorkspace(domain.WorkspaceID(r.id), r.name, r.slug, r.mailFrom, sender, origins, r.createdAt)
	return w.WithStoredRateLimits(domain.RateLimits{APIKey: r.apiKeyLimit, Session: r.sessionLimit}), nil
}

func scanWorkspace(sc scanner) (domain.Workspace, error) {
	var r workspaceRow
	if err := sc.Scan(&r.id, &r.name, &r.slug, &r.mailFrom, &r.senderStatus, &r.codeHash, &r.codeSentAt, &r.origins, &r.createdAt, &r.apiKeyLimit, &r.sessionLimit); err != nil {
		return domain.Workspace{}, err
	}
	return r.toDomain()
}

func originsJSON(w domain.Workspace) string {
	b, _ := json.Marshal(nonNilStrings(w.PublicOrigins())) // strings: cannot fail
	return string(b)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s workspaceStore) Add(ctx context.Context, w domain.Workspace) error {
	sender := w.StoredSender()
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO workspaces (`+workspaceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		w.ID().String(), w.Name(), w.Slug(), w.MailFrom(), sender.Status.String(), sender.CodeHash, nullTime(sender.CodeSentAt), originsJSON(w), w.CreatedAt(),
		w.RateLimits().APIKey, w.RateLimits().Session)
	if s.d.uniqueViolation(err) {
		// The ID is random, so the slug is what collided.
		return domain.ErrSlugTaken
	}
	if err != nil {
		return fmt.Errorf("add workspace %s: %w", w.ID(), err)
	}
	return nil
}

func (s workspaceStore) Get(ctx context.Context, id domain.WorkspaceID) (domain.Workspace, error) {
	return s.getBy(ctx, "id", id.String())
}

func (s workspaceStore) GetBySlug(ctx context.Context, slug string) (domain.Workspace, error) {
	return s.getBy(ctx, "slug", slug)
}

// getBy reads the workspace whose column (a constant, never input) is v.
func (s workspaceStore) getBy(ctx context.Context, column, v string) (domain.Workspace, error) {
	w, err := scanWorkspace(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+workspaceColumns+` FROM workspaces WHERE `+column+` = ?`), v))
	if isNoRows(err) {
		return domain.Workspace{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Workspace{}, fmt.Errorf("get workspace by %s: %w", column, err)
	}
	return w, nil
}

func (s workspaceStore) Update(ctx context.Context, w domain.Workspace) error {
	sender := w.StoredSender()
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE workspaces SET name = ?, slug = ?, mail_from = ?, mail_from_status = ?, mail_from_code_hash = ?, mail_from_code_sent_at = ?, public_origins = ?, rate_limit_api_key = ?, rate_limit_session = ? WHERE id = ?`),
		w.Name(), w.Slug(), w.MailFrom(), sender.Status.String(), sender.CodeHash, nullTime(sender.CodeSentAt), originsJSON(w),
		w.RateLimits().APIKey, w.RateLimits().Session, w.ID().String())
	if s.d.uniqueViolation(err) {
		return domain.ErrSlugTaken
	}
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update workspace %s: %w", w.ID(), err)
	}
	return nil
}

// Delete relies on ON DELETE CASCADE for memberships and API keys; audit
// events have no foreign key and stay.
func (s workspaceStore) Delete(ctx context.Context, id domain.WorkspaceID) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM workspaces WHERE id = ?`), id.String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("delete workspace %s: %w", id, err)
	}
	return nil
}

func (s workspaceStore) ListForUser(ctx context.Context, u domain.UserID, p ports.Page) ([]domain.Workspace, string, error) {
	limit, err := pageOf(p, domain.PrefixWorkspace)
	if err != nil {
		return nil, "", err
	}
	ws, err := queryAll(ctx, s.q, s.d.rebind(
		`SELECT w.id, w.name, w.slug, w.mail_from, w.mail_from_status, w.mail_from_code_hash, w.mail_from_code_sent_at, w.public_origins, w.created_at, w.rate_limit_api_key, w.rate_limit_session FROM workspaces w JOIN memberships m ON m.workspace_id = w.id
		 WHERE m.user_id = ? AND w.id > ? ORDER BY w.id LIMIT ?`),
		scanWorkspace, u.String(), p.After, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list workspaces of %s: %w", u, err)
	}
	ws, next := cut(ws, limit, func(w domain.Workspace) string { return w.ID().String() })
	return ws, next, nil
}
