package messaging_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// authorizer grants the permissions in allowed to every principal in every
// workspace and forbids the rest; anonymous callers are unauthenticated.
type authorizer struct{ allowed []domain.Permission }

func (a authorizer) Authorize(_ context.Context, p domain.Principal, _ domain.WorkspaceID, perm domain.Permission) error {
	switch {
	case p.IsAnonymous():
		return domain.ErrUnauthenticated
	case !slices.Contains(a.allowed, perm):
		return domain.ErrForbidden
	}
	return nil
}

func (authorizer) Reload(context.Context) error { return nil }

var someone = domain.NewUserPrincipal("usr_someone", false, "ses_someone")

func (f *fixture) service(allowed ...domain.Permission) (*messaging.Service, *atomic.Int64) {
	wakes := &atomic.Int64{}
	return messaging.NewService(messaging.Config{
		UoW: f.db, Authorizer: authorizer{allowed}, Clock: f.clock, Wake: func() { wakes.Add(1) },
	}), wakes
}

func TestListMessagesByStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.submit(t, "ada@example.com", "")
	d := f.dispatcher(t, messaging.DispatcherConfig{})
	dispatch(t, d, 2)
	f.clock.Add(time.Second)
	second := f.submit(t, "bob@example.com", "")
	svc, _ := f.service(domain.PermMessagesRead)

	for _, tc := range []struct {
		status *domain.OutboxStatus
		want   []string
	}{
		{nil, append(slices.Clone(first), second...)},
		{&domain.OutboxSent, first},
		{&domain.OutboxPending, second},
		{&domain.OutboxDead, nil},
	} {
		ms, next, err := svc.ListMessages(t.Context(), someone, "docs", tc.status, ports.Page{})
		if err != nil || next != "" {
			t.Fatalf("ListMessages(%v) = %v, %q", tc.status, err, next)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.Message.ID())
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tc.want))
		if !slices.Equal(got, want) {
			t.Errorf("ListMessages(%v) = %v, want %v", tc.status, got, want)
		}
	}
	// By ID too; newest first.
	ms, _, err := svc.ListMessages(t.Context(), someone, string(f.ws.ID()), nil, ports.Page{Limit: 1})
	if err != nil || len(ms) != 1 || !slices.Contains(second, ms[0].Message.ID()) {
		t.Fatalf("first page by ID = %v, %v; want one of the newest messages", ms, err)
	}
}

func TestMessagesNeedTheirPermissions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.submit(t, "ada@example.com", "")[0]
	svc, _ := f.service(domain.PermWorkspaceRead)
	if _, _, err := svc.ListMessages(t.Context(), someone, "docs", nil, ports.Page{}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("ListMessages without messages:read = %v, want forbidden", err)
	}
	if _, err := svc.RetryMessage(t.Context(), someone, "docs", id); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("RetryMessage without messages:write = %v, want forbidden", err)
	}
	if _, _, err := svc.ListMessages(t.Context(), domain.AnonymousPrincipal, "docs", nil, ports.Page{}); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Errorf("ListMessages anonymously = %v, want unauthenticated", err)
	}
	svc, _ = f.service(domain.PermMessagesRead, domain.PermMessagesWrite)
	if _, _, err := svc.ListMessages(t.Context(), someone, "elsewhere", nil, ports.Page{}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("ListMessages of an unknown workspace = %v, want not found", err)
	}
	if _, err := svc.RetryMessage(t.Context(), someone, "docs", "msg_nosuchmessage"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("RetryMessage of an unknown message = %v, want not found", err)
	}
}

func TestRetryMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc, wakes := f.service(domain.PermMessagesWrite)
	ids := f.submit(t, "ada@example.com", "")
	d := f.dispatcher(t, messaging.DispatcherConfig{Mailer: rejectingMailer{}})
	dispatch(t, d, 2)

	m, err := svc.RetryMessage(t.Context(), someone, "docs", ids[0])
	if err != nil {
		t.Fatalf("RetryMessage of a failed message: %v", err)
	}
	if m.Status != domain.OutboxPending || !m.NextAttemptAt.Equal(f.clock.Now()) || len(m.Attempts) != 1 || wakes.Load() != 1 {
		t.Fatalf("after a retry: status %s, next %s, attempts %d, wakes %d; want pending, due now, history kept, one wake",
			m.Status, m.NextAttemptAt, len(m.Attempts), wakes.Load())
	}
	var events []domain.AuditEvent
	f.tx(t, func(ctx context.Context, st ports.Stores) (err error) {
		events, _, err = st.Audit().List(ctx, f.ws.ID(), ports.Page{})
		return err
	})
	if len(events) != 1 || events[0].Action != "message.retried" || events[0].TargetID != ids[0] || events[0].Details["status"] != "failed" {
		t.Fatalf("audit log after a retry = %+v", events)
	}

	// A pending message is queued already: nothing changes, nothing wakes.
	if again, err := svc.RetryMessage(t.Context(), someone, "docs", ids[0]); err != nil || again.Status != domain.OutboxPending || wakes.Load() != 1 {
		t.Fatalf("retrying a pending message = %s, %v (wakes %d)", again.Status, err, wakes.Load())
	}

	dispatch(t, f.dispatcher(t, messaging.DispatcherConfig{}), 1)
	if m := f.message(t, ids[0]); m.Status != domain.OutboxSent || len(m.Attempts) != 2 {
		t.Fatalf("the retried message: status %s, attempts %d; want sent at the second", m.Status, len(m.Attempts))
	}
	if _, err := svc.RetryMessage(t.Context(), someone, "docs", ids[0]); domain.KindOf(err) != domain.KindConflict {
		t.Fatalf("retrying a sent message = %v, want a conflict", err)
	}
}
