package inmem

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// prefixMessage starts every domain.Message ID, and so every outbox cursor.
const prefixMessage = "msg"

// outboxEntry is a queued message and the lease a dispatcher holds on it
// (zero when none).
type outboxEntry struct {
	m          domain.OutboxMessage
	leaseUntil time.Time
}

type outboxStore struct{ tx *stores }

// copyOutbox gives m attempts and a sent time of its own.
func copyOutbox(m domain.OutboxMessage) domain.OutboxMessage {
	m.Attempts = slices.Clone(m.Attempts)
	for i := range m.Attempts {
		m.Attempts[i].At = m.Attempts[i].At.UTC()
	}
	if m.SentAt != nil {
		t := m.SentAt.UTC()
		m.SentAt = &t
	}
	m.NextAttemptAt, m.CreatedAt = m.NextAttemptAt.UTC(), m.CreatedAt.UTC()
	return m
}

// Add queues m; its workspace and submission (if any) must exist, as
// sqlstore's foreign keys demand.
func (s outboxStore) Add(ctx context.Context, m domain.OutboxMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := m.Message.ID()
	if _, ok := s.tx.s.workspaces[m.Workspace]; !ok {
		return fmt.Errorf("add message %s: no such workspace %s", id, m.Workspace)
	}
	if _, ok := s.tx.s.submissions[m.Submission]; m.Submission != "" && !ok {
		return fmt.Errorf("add message %s: no such submission %s", id, m.Submission)
	}
	if _, dup := s.tx.s.outbox[id]; dup {
		return fmt.Errorf("add message %s: duplicate ID", id)
	}
	s.tx.s.outbox[id] = outboxEntry{m: copyOutbox(m)}
	return nil
}

// Claim leases the pending messages due at now, earliest due first.
// Transactions run one at a time here, so no two claims can overlap.
func (s outboxStore) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]domain.OutboxMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now = domain.Timestamp(now)
	var due []outboxEntry
	for e := range maps.Values(s.tx.s.outbox) {
		if e.m.Status == domain.OutboxPending && !e.m.NextAttemptAt.After(now) && !e.leaseUntil.After(now) {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b outboxEntry) int {
		if c := a.m.NextAttemptAt.Compare(b.m.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.m.Message.ID(), b.m.Message.ID())
	})
	due = due[:min(len(due), max(limit, 0))]
	out := make([]domain.OutboxMessage, 0, len(due))
	for _, e := range due {
		e.leaseUntil = now.Add(lease)
		s.tx.s.outbox[e.m.Message.ID()] = e
		out = append(out, copyOutbox(e.m))
	}
	return out, nil
}

// Save stores the outcome of a delivery and releases the lease.
func (s outboxStore) Save(ctx context.Context, m domain.OutboxMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e, ok := s.tx.s.outbox[m.Message.ID()]
	if !ok {
		return domain.ErrNotFound
	}
	c := copyOutbox(m)
	e.m.Status, e.m.Attempts, e.m.NextAttemptAt, e.m.SentAt = c.Status, c.Attempts, c.NextAttemptAt, c.SentAt
	e.leaseUntil = time.Time{}
	s.tx.s.outbox[m.Message.ID()] = e
	return nil
}

func (s outboxStore) Get(ctx context.Context, ws domain.WorkspaceID, id string) (domain.OutboxMessage, error) {
	if err := ctx.Err(); err != nil {
		return domain.OutboxMessage{}, err
	}
	e, ok := s.tx.s.outbox[id]
	if !ok || e.m.Workspace != ws {
		return domain.OutboxMessage{}, domain.ErrNotFound
	}
	return copyOutbox(e.m), nil
}

func (s outboxStore) List(ctx context.Context, ws domain.WorkspaceID, status *domain.OutboxStatus, p ports.Page) ([]domain.OutboxMessage, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	var ms []domain.OutboxMessage
	for e := range maps.Values(s.tx.s.outbox) {
		if e.m.Workspace == ws && (status == nil || e.m.Status == *status) {
			ms = append(ms, copyOutbox(e.m))
		}
	}
	return paginate(ms, func(m domain.OutboxMessage) string { return m.Message.ID() }, prefixMessage, p, true)
}

// DeletePendingTo deletes the unsent messages of ws that name email as a
// recipient or as Reply-To, ignoring case.
func (s outboxStore) DeletePendingTo(ctx context.Context, ws domain.WorkspaceID, email domain.Email) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	maps.DeleteFunc(s.tx.s.outbox, func(_ string, e outboxEntry) bool {
		if e.m.Workspace == ws && e.m.Status != domain.OutboxSent && addressedTo(e.m.Message, email) {
			n++
			return true
		}
		return false
	})
	return n, nil
}

// addressedTo reports whether m names email as a recipient or as Reply-To.
func addressedTo(m domain.Message, email domain.Email) bool {
	for _, a := range m.To() {
		if strings.EqualFold(a.Address, email.String()) {
			return true
		}
	}
	r, ok := m.ReplyTo()
	return ok && strings.EqualFold(r.Address, email.String())
}
