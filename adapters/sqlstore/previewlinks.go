package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// previewLinkStore implements ports.PreviewLinkStore.
type previewLinkStore struct{ *stores }

func (s *stores) PreviewLinks() ports.PreviewLinkStore { return previewLinkStore{s} }

const previewLinkColumns = `id, workspace_id, entry_id, token_hash, actor_kind, actor_id, created_at, expires_at, revoked_at`

func scanPreviewLink(sc scanner) (domain.PreviewLink, error) {
	var (
		r         domain.PreviewLinkRecord
		id, ws, e string
		revokedAt sql.NullTime
	)
	if err := sc.Scan(&id, &ws, &e, &r.TokenHash, &r.ActorKind, &r.ActorID, &r.CreatedAt, &r.ExpiresAt, &revokedAt); err != nil {
		return domain.PreviewLink{}, err
	}
	r.ID, r.Workspace, r.Entry, r.RevokedAt = domain.PreviewLinkID(id), domain.WorkspaceID(ws), domain.EntryID(e), timePtr(revokedAt)
	return domain.RehydratePreviewLink(r), nil
}

func (s previewLinkStore) Add(ctx context.Context, l domain.PreviewLink) error {
	kind, actor := l.Actor()
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO preview_links (`+previewLinkColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		l.ID().String(), l.Workspace().String(), l.Entry().String(), l.TokenHash(), kind, actor,
		domain.Timestamp(l.CreatedAt()), domain.Timestamp(l.ExpiresAt()), nullTimestamp(l.RevokedAt()))
	if err != nil {
		return fmt.Errorf("add preview link %s: %w", l.ID(), err)
	}
	return nil
}

func (s previewLinkStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.PreviewLinkID) (domain.PreviewLink, error) {
	l, err := scanPreviewLink(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+previewLinkColumns+` FROM preview_links WHERE workspace_id = ? AND id = ?`),
		ws.String(), id.String()))
	if isNoRows(err) {
		return domain.PreviewLink{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.PreviewLink{}, fmt.Errorf("get preview link %s: %w", id, err)
	}
	return l, nil
}

func (s previewLinkStore) ByTokenHash(ctx context.Context, hash []byte) (domain.PreviewLink, error) {
	l, err := scanPreviewLink(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+previewLinkColumns+` FROM preview_links WHERE token_hash = ?`), hash))
	if isNoRows(err) {
		return domain.PreviewLink{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.PreviewLink{}, fmt.Errorf("get preview link by token: %w", err)
	}
	return l, nil
}

// List pages by ID, which orders links by creation time.
func (s previewLinkStore) List(ctx context.Context, ws domain.WorkspaceID, entry domain.EntryID, p ports.Page) ([]domain.PreviewLink, string, error) {
	limit, err := pageOf(p, domain.PrefixPreviewLink)
	if err != nil {
		return nil, "", err
	}
	cond, args := `workspace_id = ? AND entry_id = ?`, []any{ws.String(), entry.String()}
	if p.After != "" {
		cond, args = cond+` AND id < ?`, append(args, p.After)
	}
	ls, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+previewLinkColumns+` FROM preview_links WHERE `+cond+` ORDER BY id DESC LIMIT ?`),
		scanPreviewLink, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list preview links of %s: %w", entry, err)
	}
	ls, next := cut(ls, limit, func(l domain.PreviewLink) string { return l.ID().String() })
	return ls, next, nil
}

func (s previewLinkStore) CountActive(ctx context.Context, ws domain.WorkspaceID, entry domain.EntryID, now time.Time) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM preview_links
		WHERE workspace_id = ? AND entry_id = ? AND revoked_at IS NULL AND expires_at > ?`),
		ws.String(), entry.String(), domain.Timestamp(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count preview links of %s: %w", entry, err)
	}
	return n, nil
}

func (s previewLinkStore) Update(ctx context.Context, l domain.PreviewLink) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE preview_links SET revoked_at = ? WHERE workspace_id = ? AND id = ?`),
		nullTimestamp(l.RevokedAt()), l.Workspace().String(), l.ID().String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update preview link %s: %w", l.ID(), err)
	}
	return nil
}
