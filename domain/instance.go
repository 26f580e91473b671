package domain

import "time"

// Instance is one Keel installation: every node that shares a database shares
// it. Its ID is made once, by whichever node starts first, and lets operators
// tell installations apart in logs, traces and support requests.
type Instance struct {
	id        string
	createdAt time.Time
}

// NewInstance makes the identity of a new installation created at now.
func NewInstance(now time.Time) Instance {
	return Instance{id: NewID("ins", now), createdAt: Timestamp(now)}
}

// RehydrateInstance rebuilds an Instance from storage. Stored values were
// valid when written, so it does not validate them again.
func RehydrateInstance(id string, createdAt time.Time) Instance {
	return Instance{id: id, createdAt: createdAt.UTC()}
}

// Timestamp is how the domain records an instant: UTC, to the microsecond.
// PostgreSQL keeps microseconds, so truncating here makes a value read back
// from any store equal to the value that was written.
func Timestamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func (i Instance) ID() string           { return i.id }
func (i Instance) CreatedAt() time.Time { return i.createdAt }
