package inmem

import (
	"context"
	"fmt"
	"maps"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

type auditStore struct{ tx *stores }

// copyEvent gives e a details map of its own; an empty one becomes nil, as
// sqlstore reads back "{}".
func copyEvent(e domain.AuditEvent) domain.AuditEvent {
	if len(e.Details) == 0 {
		e.Details = nil
	} else {
		e.Details = maps.Clone(e.Details)
	}
	e.CreatedAt = e.CreatedAt.UTC()
	return e
}

func (s auditStore) Add(ctx context.Context, e domain.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, dup := s.tx.s.audit[e.ID]; dup {
		return fmt.Errorf("add audit event %s: duplicate ID", e.ID)
	}
	s.tx.s.audit[e.ID] = copyEvent(e)
	return nil
}

// List returns the events of ws newest first; ws "" lists the
// instance-wide events, the ones stored without a workspace.
func (s auditStore) List(ctx context.Context, ws domain.WorkspaceID, p ports.Page) ([]domain.AuditEvent, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	var es []domain.AuditEvent
	for _, e := range s.tx.s.audit {
		if e.Workspace == ws {
			es = append(es, copyEvent(e))
		}
	}
	return paginate(es, func(e domain.AuditEvent) string { return string(e.ID) }, domain.PrefixAudit, p, true)
}
