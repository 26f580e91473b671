package ports

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/keelhq/keel/domain"
)

// IdempotencyKey names one Idempotency-Key of one caller. Scope is the
// caller (an API key, a user, or an anonymous client's keyed IP hash), so
// that two callers choosing the same key never meet; Key is a hash of the
// header's value.
type IdempotencyKey struct {
	Scope, Key string
}

// IdempotencyRecord is a key as stored: the fingerprint of the request
// that took it and, once that request has been answered, its response.
type IdempotencyRecord struct {
	Key                  IdempotencyKey
	Fingerprint          []byte
	CreatedAt, ExpiresAt time.Time
	// Status is the response's HTTP status, 0 while none is stored: the
	// request's transaction committed and its answer is not saved yet (it
	// is on its way, or the process died between the two).
	Status int
	// Response holds the stored headers and body, sealed by the HTTP
	// adapter; storage keeps it as bytes it cannot read.
	Response []byte
}

// IdempotencyStore keeps the records of Idempotency-Keys. The record of a
// key is never written here first: it is inserted by the transaction of
// the request that takes the key (see IdempotencyClaim), so that the
// request's effect and its key commit together or not at all.
type IdempotencyStore interface {
	// GetIdempotency returns the record of k unless it expired at now,
	// reading committed data outside any write transaction; it returns
	// domain.ErrNotFound when there is none.
	GetIdempotency(ctx context.Context, k IdempotencyKey, now time.Time) (IdempotencyRecord, error)

	// SaveIdempotentResponse stores the response of the request whose
	// transaction inserted k. It returns domain.ErrNotFound when k has no
	// record without a response (never taken, purged, or answered
	// already).
	SaveIdempotentResponse(ctx context.Context, k IdempotencyKey, status int, response []byte) error

	// PurgeIdempotency deletes up to limit records that expired at or
	// before now and returns how many it deleted.
	PurgeIdempotency(ctx context.Context, now time.Time, limit int) (int, error)
}

// ErrIdempotencyKeyTaken is returned by UnitOfWork.WithinTx when the
// transaction's IdempotencyClaim found its key held by an unexpired
// record: another request with the same key committed first. The
// transaction rolled back; nothing of it is stored.
var ErrIdempotencyKeyTaken = domain.E(domain.KindConflict, "idempotency_in_progress", "A request with this Idempotency-Key is still in progress.")

// IdempotencyClaim is a request's wish to take an Idempotency-Key. It
// rides on the request's context, the one exception to the rule that the
// context carries only cancellation, deadlines and telemetry: the key
// must be inserted in the transaction of whichever use case the request
// runs, and no use case should have to know about it.
//
// A UnitOfWork whose WithinTx is given a context carrying a pending claim
// inserts the claim's record in that transaction, after fn returned nil,
// and marks the claim committed once the transaction has committed; if an
// unexpired record holds the key, it rolls the transaction back, marks
// the claim taken and returns ErrIdempotencyKeyTaken. Later transactions
// of the same request leave a committed claim alone; after a taken one
// they fail with ErrIdempotencyKeyTaken without running, since the key's
// work is another request's. Reads (ReadOnly) ignore claims.
type IdempotencyClaim struct {
	Key                  IdempotencyKey
	Fingerprint          []byte
	CreatedAt, ExpiresAt time.Time
	state                atomic.Int32
}

// The states of an IdempotencyClaim.
const (
	claimPending int32 = iota
	claimCommitted
	claimTaken
)

// Pending reports whether no transaction has committed the claim yet.
func (c *IdempotencyClaim) Pending() bool { return c.state.Load() == claimPending }

// Committed reports whether a transaction committed the claim's record.
func (c *IdempotencyClaim) Committed() bool { return c.state.Load() == claimCommitted }

// Taken reports whether another request held the key when a transaction
// tried to commit the claim.
func (c *IdempotencyClaim) Taken() bool { return c.state.Load() == claimTaken }

// MarkCommitted records that a transaction committed the claim's record.
// It is for UnitOfWork implementations.
func (c *IdempotencyClaim) MarkCommitted() { c.state.CompareAndSwap(claimPending, claimCommitted) }

// MarkTaken records that another request held the key. It is for
// UnitOfWork implementations.
func (c *IdempotencyClaim) MarkTaken() { c.state.CompareAndSwap(claimPending, claimTaken) }

type claimKey struct{}

// WithIdempotencyClaim returns ctx carrying c.
func WithIdempotencyClaim(ctx context.Context, c *IdempotencyClaim) context.Context {
	return context.WithValue(ctx, claimKey{}, c)
}

// IdempotencyClaimFrom returns the claim ctx carries, or nil.
func IdempotencyClaimFrom(ctx context.Context) *IdempotencyClaim {
	c, _ := ctx.Value(claimKey{}).(*IdempotencyClaim)
	return c
}
