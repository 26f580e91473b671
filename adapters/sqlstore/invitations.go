package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// invitationStore implements ports.InvitationStore.
type invitationStore struct{ *stores }

const invitationColumns = `id, workspace_id, email, role, token_hash, invited_by, created_at, expires_at, accepted_at, revoked_at`

// scanInvitation reads the stored role without checking it again: it was
// checked on the way in.
func scanInvitation(sc scanner) (domain.Invitation, error) {
	var (
		id, ws, email, role, invitedBy string
		tokenHash                      []byte
		createdAt, expiresAt           time.Time
		acceptedAt, revokedAt          sql.NullTime
	)
	if err := sc.Scan(&id, &ws, &email, &role, &tokenHash, &invitedBy, &createdAt, &expiresAt, &acceptedAt, &revokedAt); err != nil {
		return domain.Invitation{}, err
	}
	r, err := domain.ParseRole(role)
	if err != nil {
		return domain.Invitation{}, fmt.Errorf("invitation %s: %w", id, err)
	}
	return domain.RehydrateInvitation(domain.InvitationID(id), domain.WorkspaceID(ws), domain.Email(email), r, tokenHash,
		domain.UserID(invitedBy), createdAt, expiresAt, timePtr(acceptedAt), timePtr(revokedAt)), nil
}

func (s invitationStore) Add(ctx context.Context, inv domain.Invitation) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO invitations (`+invitationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		inv.ID().String(), inv.Workspace().String(), inv.Email().String(), inv.Role().String(), inv.TokenHash(), inv.InvitedBy().String(),
		inv.CreatedAt(), inv.ExpiresAt(), nullTime(inv.AcceptedAt()), nullTime(inv.RevokedAt()))
	if err != nil {
		return fmt.Errorf("add invitation %s: %w", inv.ID(), err)
	}
	return nil
}

func (s invitationStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.InvitationID) (domain.Invitation, error) {
	inv, err := scanInvitation(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+invitationColumns+` FROM invitations WHERE workspace_id = ? AND id = ?`+s.forUpdate()), ws.String(), id.String()))
	if isNoRows(err) {
		return domain.Invitation{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Invitation{}, fmt.Errorf("get invitation %s: %w", id, err)
	}
	return inv, nil
}

func (s invitationStore) GetByTokenHash(ctx context.Context, h []byte) (domain.Invitation, error) {
	inv, err := scanInvitation(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+invitationColumns+` FROM invitations WHERE token_hash = ?`+s.forUpdate()), h))
	if isNoRows(err) {
		return domain.Invitation{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Invitation{}, fmt.Errorf("get invitation by token: %w", err)
	}
	return inv, nil
}

func (s invitationStore) ListPending(ctx context.Context, ws domain.WorkspaceID, now time.Time, p ports.Page) ([]domain.Invitation, string, error) {
	limit, err := pageOf(p, domain.PrefixInvitation)
	if err != nil {
		return nil, "", err
	}
	invs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+invitationColumns+` FROM invitations
		WHERE workspace_id = ? AND id > ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ? ORDER BY id LIMIT ?`),
		scanInvitation, ws.String(), p.After, domain.Timestamp(now), limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list invitations of %s: %w", ws, err)
	}
	invs, next := cut(invs, limit, func(i domain.Invitation) string { return i.ID().String() })
	return invs, next, nil
}

func (s invitationStore) PendingFor(ctx context.Context, ws domain.WorkspaceID, email domain.Email, now time.Time) ([]domain.Invitation, error) {
	// The workspace's row is locked first, as webhookStore.Count does, so
	// that concurrent invitations of one address run one after the other
	// and the second sees, and replaces, the first.
	if lock := s.forUpdate(); lock != "" {
		var one int
		if err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM workspaces WHERE id = ?`+lock), ws.String()).Scan(&one); err != nil && !isNoRows(err) {
			return nil, fmt.Errorf("lock workspace %s: %w", ws, err)
		}
	}
	invs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+invitationColumns+` FROM invitations
		WHERE workspace_id = ? AND email = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ? ORDER BY id`),
		scanInvitation, ws.String(), email.String(), domain.Timestamp(now))
	if err != nil {
		return nil, fmt.Errorf("pending invitations of %s in %s: %w", email, ws, err)
	}
	return invs, nil
}

func (s invitationStore) Update(ctx context.Context, inv domain.Invitation) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE invitations SET accepted_at = ?, revoked_at = ? WHERE workspace_id = ? AND id = ?`),
		nullTime(inv.AcceptedAt()), nullTime(inv.RevokedAt()), inv.Workspace().String(), inv.ID().String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update invitation %s: %w", inv.ID(), err)
	}
	return nil
}
