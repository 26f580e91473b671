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

// auditStore implements ports.AuditStore.
type auditStore struct{ *stores }

const auditColumns = `id, workspace_id, actor_kind, actor_id, action, target_kind, target_id, ip, user_agent, details, created_at`

type auditRow struct {
	id                                                              string
	workspaceID                                                     sql.NullString
	actorKind, actorID, action, targetKind, targetID, ip, userAgent string
	details                                                         string
	createdAt                                                       time.Time
}

// toDomain decodes details; "{}" becomes a nil map.
func (r auditRow) toDomain() (domain.AuditEvent, error) {
	var details map[string]string
	if err := json.Unmarshal([]byte(r.details), &details); err != nil {
		return domain.AuditEvent{}, fmt.Errorf("audit event %s: details: %w", r.id, err)
	}
	if len(details) == 0 {
		details = nil
	}
	return domain.AuditEvent{
		ID: domain.AuditID(r.id), Workspace: domain.WorkspaceID(r.workspaceID.String),
		ActorKind: r.actorKind, ActorID: r.actorID, Action: r.action, TargetKind: r.targetKind, TargetID: r.targetID,
		IP: r.ip, UserAgent: r.userAgent, Details: details, CreatedAt: r.createdAt.UTC(),
	}, nil
}

func scanAuditEvent(sc scanner) (domain.AuditEvent, error) {
	var r auditRow
	err := sc.Scan(&r.id, &r.workspaceID, &r.actorKind, &r.actorID, &r.action, &r.targetKind, &r.targetID, &r.ip, &r.userAgent, &r.details, &r.createdAt)
	if err != nil {
		return domain.AuditEvent{}, err
	}
	return r.toDomain()
}

// Add stores an instance-wide event (no workspace) with a NULL
// workspace_id, and details as a JSON object, "{}" when there are none.
func (s auditStore) Add(ctx context.Context, e domain.AuditEvent) error {
	details := []byte("{}")
	if len(e.Details) > 0 {
		var err error
		if details, err = json.Marshal(e.Details); err != nil {
			return fmt.Errorf("add audit event %s: details: %w", e.ID, err)
		}
	}
	ws := sql.NullString{String: e.Workspace.String(), Valid: e.Workspace != ""}
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO audit_events (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		string(e.ID), ws, e.ActorKind, e.ActorID, e.Action, e.TargetKind, e.TargetID, e.IP, e.UserAgent, string(details), e.CreatedAt)
	if err != nil {
		return fmt.Errorf("add audit event %s: %w", e.ID, err)
	}
	return nil
}

// List returns the events of ws newest first; ws "" lists the
// instance-wide events.
func (s auditStore) List(ctx context.Context, ws domain.WorkspaceID, p ports.Page) ([]domain.AuditEvent, string, error) {
	limit, err := pageOf(p, domain.PrefixAudit)
	if err != nil {
		return nil, "", err
	}
	query, args := `SELECT `+auditColumns+` FROM audit_events WHERE workspace_id = ?`, []any{ws.String()}
	if ws == "" {
		query, args = `SELECT `+auditColumns+` FROM audit_events WHERE workspace_id IS NULL`, nil
	}
	if p.After != "" {
		query, args = query+` AND id < ?`, append(args, p.After)
	}
	es, err := queryAll(ctx, s.q, s.d.rebind(query+` ORDER BY id DESC LIMIT ?`), scanAuditEvent, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list audit events of %q: %w", ws, err)
	}
	es, next := cut(es, limit, func(e domain.AuditEvent) string { return string(e.ID) })
	return es, next, nil
}
