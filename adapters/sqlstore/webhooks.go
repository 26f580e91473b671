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

// webhookStore implements ports.WebhookStore.
type webhookStore struct{ *stores }

const webhookColumns = `id, workspace_id, url, events, description, enabled, disabled_reason, secret, previous_secret,
	previous_until, failing_since, created_at, updated_at`

type webhookRow struct {
	id, workspaceID, url, events, description string
	enabled                                   bool
	disabledReason, secret, previous          string
	previousUntil, failingSince               sql.NullTime
	createdAt, updatedAt                      time.Time
}

func (r webhookRow) toDomain() (domain.Webhook, error) {
	var events []string
	if err := json.Unmarshal([]byte(r.events), &events); err != nil {
		return domain.Webhook{}, fmt.Errorf("webhook %s: events: %w", r.id, err)
	}
	secret, err := domain.ParseWebhookSecret(r.secret)
	if err != nil {
		return domain.Webhook{}, fmt.Errorf("webhook %s: stored secret: %w", r.id, err)
	}
	var previous domain.WebhookSecret
	if r.previous != "" {
		if previous, err = domain.ParseWebhookSecret(r.previous); err != nil {
			return domain.Webhook{}, fmt.Errorf("webhook %s: stored previous secret: %w", r.id, err)
		}
	}
	return domain.RehydrateWebhook(domain.WebhookID(r.id), domain.WorkspaceID(r.workspaceID), r.url, events, r.description, r.enabled,
		r.disabledReason, secret, previous, utcPtr(r.previousUntil), utcPtr(r.failingSince), r.createdAt.UTC(), r.updatedAt.UTC()), nil
}

// utcPtr reads a nullable timestamp in UTC, as the domain keeps times.
func utcPtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func (r *webhookRow) dest() []any {
	return []any{&r.id, &r.workspaceID, &r.url, &r.events, &r.description, &r.enabled, &r.disabledReason, &r.secret, &r.previous,
		&r.previousUntil, &r.failingSince, &r.createdAt, &r.updatedAt}
}

func scanWebhook(sc scanner) (domain.Webhook, error) {
	var r webhookRow
	if err := sc.Scan(r.dest()...); err != nil {
		return domain.Webhook{}, err
	}
	return r.toDomain()
}

// webhookArgs are w's columns after its ID, in webhookColumns' order.
// The secrets are stored as their whsec_ text: signing needs the key.
func webhookArgs(w domain.Webhook) ([]any, error) {
	events, err := json.Marshal(w.Events())
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	previous := ""
	if p := w.PreviousSecret(); !p.IsZero() {
		previous = p.Text()
	}
	return []any{w.Workspace().String(), w.URL(), string(events), w.Description(), w.Enabled(), w.DisabledReason(), w.Secret().Text(), previous,
		nullTime(w.PreviousUntil()), nullTime(w.FailingSince()), domain.Timestamp(w.CreatedAt()), domain.Timestamp(w.UpdatedAt())}, nil
}

func (s webhookStore) Add(ctx context.Context, w domain.Webhook) error {
	args, err := webhookArgs(w)
	if err != nil {
		return fmt.Errorf("add webhook %s: %w", w.ID(), err)
	}
	_, err = s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		append([]any{string(w.ID())}, args...)...)
	if err != nil {
		return fmt.Errorf("add webhook %s: %w", w.ID(), err)
	}
	return nil
}

func (s webhookStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.WebhookID) (domain.Webhook, error) {
	w, err := scanWebhook(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+webhookColumns+` FROM webhooks WHERE workspace_id = ? AND id = ?`+s.forUpdate()),
		ws.String(), string(id)))
	if isNoRows(err) {
		return domain.Webhook{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Webhook{}, fmt.Errorf("get webhook %s: %w", id, err)
	}
	return w, nil
}

func (s webhookStore) List(ctx context.Context, ws domain.WorkspaceID, p ports.Page) ([]domain.Webhook, string, error) {
	limit, err := pageOf(p, domain.PrefixWebhook)
	if err != nil {
		return nil, "", err
	}
	query, args := `SELECT `+webhookColumns+` FROM webhooks WHERE workspace_id = ?`, []any{ws.String()}
	if p.After != "" {
		query, args = query+` AND id < ?`, append(args, p.After)
	}
	whs, err := queryAll(ctx, s.q, s.d.rebind(query+` ORDER BY id DESC LIMIT ?`), scanWebhook, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list webhooks of %s: %w", ws, err)
	}
	whs, next := cut(whs, limit, func(w domain.Webhook) string { return string(w.ID()) })
	return whs, next, nil
}

func (s webhookStore) Count(ctx context.Context, ws domain.WorkspaceID) (int, error) {
	// In a write transaction the workspace's row is locked first, so that
	// concurrent creations count one after the other.
	if lock := s.forUpdate(); lock != "" {
		var one int
		if err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM workspaces WHERE id = ?`+lock), ws.String()).Scan(&one); err != nil && !isNoRows(err) {
			return 0, fmt.Errorf("lock workspace %s: %w", ws, err)
		}
	}
	var n int
	if err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT count(*) FROM webhooks WHERE workspace_id = ?`), ws.String()).Scan(&n); err != nil {
		return 0, fmt.Errorf("count webhooks of %s: %w", ws, err)
	}
	return n, nil
}

// Save finds the endpoint by its ID and workspace both, so that a
// webhook value can never move to another workspace.
func (s webhookStore) Save(ctx context.Context, w domain.Webhook) error {
	args, err := webhookArgs(w)
	if err != nil {
		return fmt.Errorf("save webhook %s: %w", w.ID(), err)
	}
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE webhooks SET url = ?, events = ?, description = ?, enabled = ?, disabled_reason = ?,
		secret = ?, previous_secret = ?, previous_until = ?, failing_since = ?, created_at = ?, updated_at = ? WHERE workspace_id = ? AND id = ?`),
		append(args[1:], w.Workspace().String(), string(w.ID()))...)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("save webhook %s: %w", w.ID(), err)
	}
	return nil
}

// Delete takes the endpoint's deliveries with it (ON DELETE CASCADE).
func (s webhookStore) Delete(ctx context.Context, ws domain.WorkspaceID, id domain.WebhookID) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM webhooks WHERE workspace_id = ? AND id = ?`), ws.String(), string(id))
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	return nil
}
