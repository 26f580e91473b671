package ports

import (
	"context"
	"time"

	"github.com/keelhq/keel/domain"
)

// FormStore keeps form definitions.
type FormStore interface {
	Add(ctx context.Context, f domain.Form) error
	// Get returns the form of ws; domain.ErrNotFound when there is none.
	Get(ctx context.Context, ws domain.WorkspaceID, id domain.FormID) (domain.Form, error)
	// GetPublic returns a form by ID whatever its workspace, for the
	// public submission endpoint; domain.ErrNotFound.
	GetPublic(ctx context.Context, id domain.FormID) (domain.Form, error)
	// UpdatedAt returns when the form of ws was last saved, without
	// reading or compiling its definition, so that a transaction can check
	// the form still exists or is unchanged at the cost of a key lookup;
	// domain.ErrNotFound when there is none.
	UpdatedAt(ctx context.Context, ws domain.WorkspaceID, id domain.FormID) (time.Time, error)
	// Update saves the definition and updated_at; ErrNotFound.
	Update(ctx context.Context, f domain.Form) error
	// Delete removes the form with its submissions; ErrNotFound.
	Delete(ctx context.Context, ws domain.WorkspaceID, id domain.FormID) error
	// List returns the forms of ws ordered by ID.
	List(ctx context.Context, ws domain.WorkspaceID, p Page) ([]domain.Form, string, error)
	// WithRetention returns every form whose retention_days is above 0.
	WithRetention(ctx context.Context) ([]domain.Form, error)
}

// SubmissionFilter narrows a submission listing. Zero fields do not filter.
type SubmissionFilter struct {
	Status       *domain.SubmissionStatus
	Since, Until time.Time // created_at in [Since, Until)
	Query        string    // case-insensitive substring of any value
}

// MaxPageBytes bounds a page of submissions by the size of their stored
// values (SubmissionStore.List), and a page of entries or revisions by
// their bodies (EntryStore.List and Revisions): anonymous visitors choose
// a submission's size, and editors a body's, up to the largest request
// body, so a bound on the number of rows alone would let a page of 200
// hold 200 request bodies.
const MaxPageBytes = 1 << 20

// SubmissionBytes is the size of a submission's values that counts
// towards MaxPageBytes: the bytes of its field names and values. A store
// may count what it actually keeps (their JSON, say), which is a little
// more.
func SubmissionBytes(s domain.Submission) int {
	n := 0
	for _, v := range s.Values() {
		n += len(v.Field)
		for _, x := range v.Values {
			n += len(x)
		}
	}
	return n
}

// SubmissionStore keeps submissions.
type SubmissionStore interface {
	Add(ctx context.Context, s domain.Submission) error
	// Get returns the submission of ws; domain.ErrNotFound.
	Get(ctx context.Context, ws domain.WorkspaceID, id domain.SubmissionID) (domain.Submission, error)
	// Update saves status and updated_at; ErrNotFound.
	Update(ctx context.Context, s domain.Submission) error
	// Delete removes one submission; ErrNotFound.
	Delete(ctx context.Context, ws domain.WorkspaceID, id domain.SubmissionID) error
	// List returns a form's submissions newest first. A page holds at
	// most p.Size() of them and ends early, with a cursor, after the
	// submission that brings its values to MaxPageBytes: a page's memory
	// and response stay bounded however large each submission is. A page
	// holds at least one submission when any follows the cursor, unless
	// f filters: a filtered listing examines a bounded number of the
	// newest submissions below the cursor, so its page may hold fewer
	// than p.Size(), even none, with a cursor to the rest. Callers that
	// want every match follow cursors until there is none, never until a
	// page is empty.
	List(ctx context.Context, ws domain.WorkspaceID, form domain.FormID, f SubmissionFilter, p Page) ([]domain.Submission, string, error)
	// DeleteMatching deletes the submissions of ws with a value equal to
	// email (case-insensitive) and returns what stays known of each.
	DeleteMatching(ctx context.Context, ws domain.WorkspaceID, email domain.Email) ([]domain.SubmissionRef, error)
	// DeleteOlderThan deletes a form's submissions created before t, at
	// most limit at a time, oldest first, and returns what stays known of
	// each. A submission is reported by one caller only, however many
	// delete at once.
	DeleteOlderThan(ctx context.Context, form domain.FormID, t time.Time, limit int) ([]domain.SubmissionRef, error)
	// Recent returns the newest limit submissions of ws across its forms,
	// newest first, with their forms' names, in one query. It reads no
	// values: a summary stays small however large the submissions are.
	Recent(ctx context.Context, ws domain.WorkspaceID, limit int) ([]RecentSubmission, error)
}

// RecentSubmission is a submission as a summary of a workspace lists it:
// what it is and where it went, not what it says.
type RecentSubmission struct {
	ID        domain.SubmissionID
	Form      domain.FormID
	FormName  string
	Status    domain.SubmissionStatus
	CreatedAt time.Time
}

// OutboxHealth sums up a workspace's unsent mail: how many messages wait
// (pending), were refused for good (failed) or ran out of attempts (dead),
// and when the oldest pending one was queued (zero when none is).
type OutboxHealth struct {
	Pending, Failed, Dead int
	OldestPending         time.Time
}

// OutboxStore keeps the messages waiting to be sent.
type OutboxStore interface {
	// Add queues a message in the caller's transaction.
	Add(ctx context.Context, m domain.OutboxMessage) error
	// Claim leases up to limit pending messages due at now to one
	// dispatcher until now+lease, and returns them. Rows claimed by
	// another dispatcher whose lease is still running are skipped
	// (FOR UPDATE SKIP LOCKED on PostgreSQL), so no two dispatchers hold
	// one message; a dispatcher that dies loses its lease when it expires.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]domain.OutboxMessage, error)
	// Save stores a claimed message's outcome (status, attempts, next
	// attempt, sent time) and releases its lease.
	Save(ctx context.Context, m domain.OutboxMessage) error
	// Get returns a message of ws; domain.ErrNotFound.
	Get(ctx context.Context, ws domain.WorkspaceID, id string) (domain.OutboxMessage, error)
	// List returns the messages of ws, newest first, optionally by status.
	List(ctx context.Context, ws domain.WorkspaceID, status *domain.OutboxStatus, p Page) ([]domain.OutboxMessage, string, error)
	// DeletePendingTo deletes unsent messages of ws addressed to email
	// (any recipient, or naming it in Reply-To) and returns the count.
	DeletePendingTo(ctx context.Context, ws domain.WorkspaceID, email domain.Email) (int, error)
	// Health counts the unsent messages of ws by status, in one query
	// that reads only unsent rows.
	Health(ctx context.Context, ws domain.WorkspaceID) (OutboxHealth, error)
	// DeleteSentBefore deletes at most limit sent messages, of any
	// workspace, that were sent before t, and returns how many it
	// deleted. Unsent messages (pending, failed, dead) stay, however
	// old. Concurrent callers may share the work: each deletes rows the
	// others do not hold (SKIP LOCKED on PostgreSQL).
	DeleteSentBefore(ctx context.Context, t time.Time, limit int) (int, error)
}
