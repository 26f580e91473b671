package ports

import (
	"context"

	"github.com/keelhq/keel/domain"
)

// UnitOfWork runs fn in one database transaction: everything fn writes
// through st commits together or not at all. fn may run more than once
// when the database reports a serialization failure or a deadlock, so fn
// must not have side effects outside st (no mail, no HTTP calls; those go
// through the outbox). Errors returned by fn are returned unchanged after
// the rollback. fn must not call WithinTx on the same UnitOfWork with the
// context it was given (pass st down instead): such a call returns an
// internal error at once rather than waiting for the outer transaction or
// committing apart from it.
type UnitOfWork interface {
	WithinTx(ctx context.Context, fn func(ctx context.Context, st Stores) error) error

	// ReadOnly runs fn with stores that read committed data outside any
	// write transaction, so readers never queue behind writers (SQLite has
	// one writer at a time). fn must only read. Its statements do not
	// share a snapshot: use it for reads that are one statement, or that
	// tolerate a write landing between two of them.
	ReadOnly(ctx context.Context, fn func(ctx context.Context, st Stores) error) error
}

// SharedUnitOfWork is what a UnitOfWork may also do: run fn in a
// transaction that it may share with other concurrent WithinSharedTx
// calls and commit once for all of them, as the public form submission
// does. fn's contract is WithinTx's: WithinSharedTx returns nil only once
// fn's work is committed, and fn's own error, undoing only fn's work. The
// calls sharing a transaction do not exclude one another, so fn must not
// count on a lock it takes to keep them out; it may run more than once.
type SharedUnitOfWork interface {
	WithinSharedTx(ctx context.Context, fn func(ctx context.Context, st Stores) error) error
}

// Pinger reports whether the database answers. It returns a
// domain.KindUnavailable error when it does not.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Stores gives access to every store inside one transaction.
type Stores interface {
	Instance() InstanceStore
	Users() UserStore
	Workspaces() WorkspaceStore
	Memberships() MembershipStore
	Sessions() SessionStore
	APIKeys() APIKeyStore
	Audit() AuditStore
	Policies() PolicyStore
	Forms() FormStore
	Submissions() SubmissionStore
	Outbox() OutboxStore
	PreviewLinks() PreviewLinkStore
	SiteLocales() SiteLocaleStore
	Entries() EntryStore
	Authors() AuthorStore
	Tags() TagStore
	Media() MediaStore
	Imports() ImportStore
	Events() EventStore
	Webhooks() WebhookStore
	Deliveries() DeliveryStore
	Invitations() InvitationStore
	PasswordResets() PasswordResetStore
	TwoFactor() TwoFactorStore
	LoginChallenges() LoginChallengeStore
	EmailChanges() EmailChangeStore
	Sites() SiteStore
}

// InstanceStore keeps the installation's identity and its change counters.
type InstanceStore interface {
	// Get returns the stored instance, or domain.ErrNotFound when none has
	// been stored yet. It only reads, so it runs on the read path and lets
	// every call after the first skip the write that Ensure needs.
	Get(ctx context.Context) (domain.Instance, error)

	// Ensure returns the stored instance, storing candidate first when none
	// exists yet. Concurrent callers, on any number of nodes, all get the
	// same instance back.
	Ensure(ctx context.Context, candidate domain.Instance) (domain.Instance, error)

	// Counter returns the value of the named counter, 0 when it was never
	// bumped. Nodes poll counters to learn that shared state changed.
	Counter(ctx context.Context, name string) (int64, error)

	// BumpCounter adds one to the named counter and returns the new value.
	// Concurrent bumps are never lost. Where the engine can, the bump also
	// tells every CounterWatcher, once its transaction commits and never
	// if it rolls back.
	BumpCounter(ctx context.Context, name string) (int64, error)
}

// CounterWatcher tells a node at once that a transaction on any node,
// this one included, bumped a counter, so that it need not wait for its
// next poll of the counter.
type CounterWatcher interface {
	// WatchCounters calls changed with a counter's name after each commit
	// that bumped one of names, until ctx ends; then it returns nil. It
	// calls listening(nil) when it starts to watch and listening(err)
	// when it stops for a while, err saying why (its connection to the
	// database was lost, and it reconnects): bumps made meanwhile are not
	// reported, so the caller polls until listening(nil) again. An engine
	// that cannot tell (SQLite, whose nodes are one process) never calls
	// listening and returns nil at once. changed and listening run on the
	// watcher's goroutine and must not block.
	WatchCounters(ctx context.Context, names []string, changed func(name string), listening func(err error)) error
}
