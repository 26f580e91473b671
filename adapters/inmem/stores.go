package inmem

import (
	"context"
	"maps"
	"sync"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// DB is an in-memory ports.UnitOfWork. Transactions run one at a time on a
// copy of the state, which replaces the state only when fn succeeds: that
// gives the same all-or-nothing and isolation guarantees as a real database,
// at the price of no concurrency, which fakes do not need.
type DB struct {
	mu    sync.Mutex
	state state
}

// state is everything the database holds. Stores copy values on the way
// in and out (byte slices, maps, time pointers), so the maps hold values no
// caller can reach, and a shallow clone of each map is a full snapshot.
type state struct {
	instance    *domain.Instance
	counters    map[string]int64
	users       map[domain.UserID]domain.User
	workspaces  map[domain.WorkspaceID]domain.Workspace
	memberships map[membershipKey]domain.Membership
	sessions    map[domain.SessionID]domain.Session
	apiKeys     map[domain.APIKeyID]domain.APIKey
	audit       map[domain.AuditID]domain.AuditEvent
	forms       map[domain.FormID]domain.Form
	submissions map[domain.SubmissionID]domain.Submission
	outbox      map[string]outboxEntry
	entries     map[domain.EntryID]storedEntry
	revisions   map[revisionKey]domain.Revision
	events      map[domain.EventID]domain.Event
}

func newState() state {
	return state{
		counters:    map[string]int64{},
		users:       map[domain.UserID]domain.User{},
		workspaces:  map[domain.WorkspaceID]domain.Workspace{},
		memberships: map[membershipKey]domain.Membership{},
		sessions:    map[domain.SessionID]domain.Session{},
		apiKeys:     map[domain.APIKeyID]domain.APIKey{},
		audit:       map[domain.AuditID]domain.AuditEvent{},
		forms:       map[domain.FormID]domain.Form{},
		submissions: map[domain.SubmissionID]domain.Submission{},
		outbox:      map[string]outboxEntry{},
		entries:     map[domain.EntryID]storedEntry{},
		revisions:   map[revisionKey]domain.Revision{},
		events:      map[domain.EventID]domain.Event{},
	}
}

func (s state) clone() state {
	return state{
		instance:    s.instance,
		counters:    maps.Clone(s.counters),
		users:       maps.Clone(s.users),
		workspaces:  maps.Clone(s.workspaces),
		memberships: maps.Clone(s.memberships),
		sessions:    maps.Clone(s.sessions),
		apiKeys:     maps.Clone(s.apiKeys),
		audit:       maps.Clone(s.audit),
		forms:       maps.Clone(s.forms),
		submissions: maps.Clone(s.submissions),
		outbox:      maps.Clone(s.outbox),
		entries:     maps.Clone(s.entries),
		revisions:   maps.Clone(s.revisions),
		events:      maps.Clone(s.events),
	}
}

var (
	_ ports.UnitOfWork = (*DB)(nil)
	_ ports.Pinger     = (*DB)(nil)
)

// NewDB returns an empty database.
func NewDB() *DB {
	return &DB{state: newState()}
}

// Ping always succeeds: memory is always there.
func (db *DB) Ping(context.Context) error { return nil }

// ReadOnly runs fn on the state itself under the lock: fn only reads, so
// there is nothing to copy or keep.
func (db *DB) ReadOnly(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	return fn(ctx, &stores{s: db.state})
}

// WithinTx runs fn on a copy of the state and keeps the copy when fn
// returns nil. A context cancelled before or during fn aborts it.
func (db *DB) WithinTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	tx := &stores{s: db.state.clone()}
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	db.state = tx.s
	return nil
}

type stores struct{ s state }

func (tx *stores) Instance() ports.InstanceStore      { return instanceStore{tx} }
func (tx *stores) Users() ports.UserStore             { return userStore{tx} }
func (tx *stores) Workspaces() ports.WorkspaceStore   { return workspaceStore{tx} }
func (tx *stores) Memberships() ports.MembershipStore { return membershipStore{tx} }
func (tx *stores) Sessions() ports.SessionStore       { return sessionStore{tx} }
func (tx *stores) APIKeys() ports.APIKeyStore         { return apiKeyStore{tx} }
func (tx *stores) Audit() ports.AuditStore            { return auditStore{tx} }
func (tx *stores) Policies() ports.PolicyStore        { return policyStore{tx} }
func (tx *stores) Forms() ports.FormStore             { return formStore{tx} }
func (tx *stores) Submissions() ports.SubmissionStore { return submissionStore{tx} }
func (tx *stores) Outbox() ports.OutboxStore          { return outboxStore{tx} }
func (tx *stores) Entries() ports.EntryStore          { return entryStore{tx} }
func (tx *stores) Events() ports.EventStore           { return eventStore{tx} }

type instanceStore struct{ tx *stores }

func (s instanceStore) Ensure(ctx context.Context, candidate domain.Instance) (domain.Instance, error) {
	if err := ctx.Err(); err != nil {
		return domain.Instance{}, err
	}
	if s.tx.s.instance == nil {
		s.tx.s.instance = &candidate
	}
	return *s.tx.s.instance, nil
}

func (s instanceStore) Counter(ctx context.Context, name string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return s.tx.s.counters[name], nil
}

func (s instanceStore) BumpCounter(ctx context.Context, name string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.tx.s.counters[name]++
	return s.tx.s.counters[name], nil
}
