package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// outboxStore implements ports.OutboxStore.
type outboxStore struct{ *stores }

// prefixMessage starts every domain.Message ID, and so every outbox cursor.
const prefixMessage = "msg"

const outboxColumns = `id, workspace_id, submission_id, kind, status, from_addr, to_addrs, reply_to, subject, text_body, html_body,
	attempts, next_attempt_at, trace_parent, created_at, sent_at, attachments`

// attemptJSON is one element of the attempts column.
type attemptJSON struct {
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"`
}

type outboxRow struct {
	id                              string
	workspaceID, submissionID       sql.NullString // NULL: mail about an account, or no submission
	kind, status, from, to, replyTo string
	subject, text, html, attempts   string
	nextAttemptAt                   time.Time
	traceParent                     string
	createdAt                       time.Time
	sentAt                          sql.NullTime
	attachments                     string // JSON; '' for none
}

// attachmentJSON is one element of the attachments column: the blob's
// key, never its bytes.
type attachmentJSON struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Key         string `json:"key"`
}

func encodeAttachments(as []domain.MessageAttachment) (string, error) {
	if len(as) == 0 {
		return "", nil
	}
	out := make([]attachmentJSON, 0, len(as))
	for _, a := range as {
		out = append(out, attachmentJSON(a))
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func (r outboxRow) toDomain() (domain.OutboxMessage, error) {
	status, err := domain.ParseOutboxStatus(r.status)
	if err != nil {
		return domain.OutboxMessage{}, fmt.Errorf("message %s: stored status %q: %w", r.id, r.status, err)
	}
	var to []string
	if err := json.Unmarshal([]byte(r.to), &to); err != nil {
		return domain.OutboxMessage{}, fmt.Errorf("message %s: recipients: %w", r.id, err)
	}
	var as []attemptJSON
	if err := json.Unmarshal([]byte(r.attempts), &as); err != nil {
		return domain.OutboxMessage{}, fmt.Errorf("message %s: attempts: %w", r.id, err)
	}
	m, err := domain.RehydrateMessage(r.id, r.from, to, r.replyTo, r.subject, r.text, r.html, r.createdAt)
	if err != nil {
		return domain.OutboxMessage{}, err
	}
	if r.attachments != "" {
		var fs []attachmentJSON
		if err := json.Unmarshal([]byte(r.attachments), &fs); err != nil {
			return domain.OutboxMessage{}, fmt.Errorf("message %s: attachments: %w", r.id, err)
		}
		files := make([]domain.MessageAttachment, 0, len(fs))
		for _, f := range fs {
			files = append(files, domain.MessageAttachment(f))
		}
		m = m.WithAttachments(files)
	}
	var attempts []domain.Attempt
	for _, a := range as {
		attempts = append(attempts, domain.Attempt{At: a.At.UTC(), Error: a.Error})
	}
	var sentAt *time.Time
	if r.sentAt.Valid {
		t := r.sentAt.Time.UTC()
		sentAt = &t
	}
	return domain.OutboxMessage{
		Message: m, Workspace: domain.WorkspaceID(r.workspaceID.String), Submission: domain.SubmissionID(r.submissionID.String),
		Kind: r.kind, Status: status, Attempts: attempts, NextAttemptAt: r.nextAttemptAt.UTC(),
		TraceParent: r.traceParent, CreatedAt: r.createdAt.UTC(), SentAt: sentAt,
	}, nil
}

func scanOutbox(sc scanner) (domain.OutboxMessage, error) {
	var r outboxRow
	err := sc.Scan(&r.id, &r.workspaceID, &r.submissionID, &r.kind, &r.status, &r.from, &r.to, &r.replyTo, &r.subject, &r.text, &r.html,
		&r.attempts, &r.nextAttemptAt, &r.traceParent, &r.createdAt, &r.sentAt, &r.attachments)
	if err != nil {
		return domain.OutboxMessage{}, err
	}
	return r.toDomain()
}

func encodeAttempts(as []domain.Attempt) (string, error) {
	out := make([]attemptJSON, 0, len(as))
	for _, a := range as {
		out = append(out, attemptJSON{At: a.At.UTC(), Error: a.Error})
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// Add stores the message with its addresses as RFC 5322 strings, which
// domain.RehydrateMessage parses back, display names included.
func (s outboxStore) Add(ctx context.Context, m domain.OutboxMessage) error {
	msg := m.Message
	to := make([]string, 0, len(msg.To()))
	for _, a := range msg.To() {
		to = append(to, a.String())
	}
	toJSON, err := marshalAddresses(to)
	if err != nil {
		return fmt.Errorf("add message %s: recipients: %w", msg.ID(), err)
	}
	attempts, err := encodeAttempts(m.Attempts)
	if err != nil {
		return fmt.Errorf("add message %s: attempts: %w", msg.ID(), err)
	}
	files, err := encodeAttachments(msg.Attachments())
	if err != nil {
		return fmt.Errorf("add message %s: attachments: %w", msg.ID(), err)
	}
	replyTo := ""
	if a, ok := msg.ReplyTo(); ok {
		replyTo = a.String()
	}
	from := msg.From()
	sub := sql.NullString{String: string(m.Submission), Valid: m.Submission != ""}
	ws := sql.NullString{String: string(m.Workspace), Valid: m.Workspace != ""}
	err = s.insertLater(ctx, `INSERT INTO outbox_messages (`+outboxColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, false,
		msg.ID(), ws, sub, m.Kind, m.Status.String(), from.String(), toJSON, replyTo,
		msg.Subject(), msg.Text(), msg.HTML(), attempts, m.NextAttemptAt.UTC(), m.TraceParent, m.CreatedAt.UTC(), nullTime(m.SentAt), files)
	if err != nil {
		return fmt.Errorf("add message %s: %w", msg.ID(), err)
	}
	return nil
}

// marshalAddresses encodes address lines as a JSON array without
// escaping <, > and &, so that the stored text holds each address as
// written and the LIKE prefilter of DeletePendingTo finds it.
func marshalAddresses(as []string) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(as); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// Claim leases due messages in one statement. On PostgreSQL the subquery
// locks the rows it picks with SKIP LOCKED, so concurrent claims take
// disjoint rows; a row whose claim commits meanwhile is re-checked against
// the WHERE clause and dropped, its new lease being in the future. On
// SQLite the transaction already holds the write lock. Messages come back
// earliest due first.
func (s outboxStore) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]domain.OutboxMessage, error) {
	if limit < 1 {
		return nil, nil
	}
	now = domain.Timestamp(now)
	if scan := s.d.orderedScan(); scan != "" {
		if _, err := s.q.ExecContext(ctx, scan); err != nil {
			return nil, fmt.Errorf("claim messages: %w", err)
		}
	}
	ms, err := queryAll(ctx, s.q, s.d.rebind(`UPDATE outbox_messages SET lease_until = ? WHERE id IN (
		SELECT id FROM outbox_messages
		WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
		ORDER BY next_attempt_at LIMIT ?`+s.d.skipLocked()+`)
		RETURNING `+outboxColumns),
		scanOutbox, now.Add(lease), now, now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	slices.SortFunc(ms, func(a, b domain.OutboxMessage) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), strings.Compare(a.Message.ID(), b.Message.ID()))
	})
	return ms, nil
}

// Save stores a delivery's outcome and releases the lease.
func (s outboxStore) Save(ctx context.Context, m domain.OutboxMessage) error {
	attempts, err := encodeAttempts(m.Attempts)
	if err != nil {
		return fmt.Errorf("save message %s: attempts: %w", m.Message.ID(), err)
	}
	res, err := s.q.ExecContext(ctx, s.d.rebind(
		`UPDATE outbox_messages SET status = ?, attempts = ?, next_attempt_at = ?, sent_at = ?, lease_until = NULL WHERE id = ?`),
		m.Status.String(), attempts, m.NextAttemptAt.UTC(), nullTime(m.SentAt), m.Message.ID())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("save message %s: %w", m.Message.ID(), err)
	}
	return nil
}

func (s outboxStore) Get(ctx context.Context, ws domain.WorkspaceID, id string) (domain.OutboxMessage, error) {
	m, err := scanOutbox(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+outboxColumns+` FROM outbox_messages WHERE workspace_id = ? AND id = ?`),
		ws.String(), id))
	if isNoRows(err) {
		return domain.OutboxMessage{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.OutboxMessage{}, fmt.Errorf("get message %s: %w", id, err)
	}
	return m, nil
}

func (s outboxStore) List(ctx context.Context, ws domain.WorkspaceID, status *domain.OutboxStatus, p ports.Page) ([]domain.OutboxMessage, string, error) {
	limit, err := pageOf(p, prefixMessage)
	if err != nil {
		return nil, "", err
	}
	query, args := `SELECT `+outboxColumns+` FROM outbox_messages WHERE workspace_id = ?`, []any{ws.String()}
	if p.After != "" {
		query, args = query+` AND id < ?`, append(args, p.After)
	}
	if status != nil {
		query, args = query+` AND status = ?`, append(args, status.String())
	}
	ms, err := queryAll(ctx, s.q, s.d.rebind(query+` ORDER BY id DESC LIMIT ?`), scanOutbox, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list messages of %s: %w", ws, err)
	}
	ms, next := cut(ms, limit, func(m domain.OutboxMessage) string { return m.Message.ID() })
	return ms, next, nil
}

// Health groups the unsent messages of ws by status, reading the index on
// (workspace_id, status, created_at) only: sent mail, however much, is
// never read. The oldest pending time comes back as text on SQLite, where
// an aggregate has no declared type, and as a time on PostgreSQL.
func (s outboxStore) Health(ctx context.Context, ws domain.WorkspaceID) (ports.OutboxHealth, error) {
	var h ports.OutboxHealth
	type group struct {
		status string
		n      int
		oldest any
	}
	gs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT status, COUNT(*), MIN(created_at) FROM outbox_messages
		WHERE workspace_id = ? AND status IN ('pending', 'failed', 'dead') GROUP BY status`),
		func(sc scanner) (g group, err error) { return g, sc.Scan(&g.status, &g.n, &g.oldest) }, ws.String())
	if err != nil {
		return h, fmt.Errorf("outbox health of %s: %w", ws, err)
	}
	for _, g := range gs {
		switch g.status {
		case domain.OutboxPending.String():
			h.Pending = g.n
			if h.OldestPending, err = aggregateTime(g.oldest); err != nil {
				return h, fmt.Errorf("outbox health of %s: oldest pending: %w", ws, err)
			}
		case domain.OutboxFailed.String():
			h.Failed = g.n
		case domain.OutboxDead.String():
			h.Dead = g.n
		}
	}
	return h, nil
}

// aggregateTime reads a MIN or MAX of a timestamp column: a time on
// PostgreSQL, the stored text on SQLite (its _time_format=sqlite layout).
func aggregateTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return t.UTC(), nil
	case []byte:
		v = string(t)
	}
	str, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("unexpected %T", v)
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, str); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", str)
}

// DeletePendingTo narrows the candidates with LIKE on the lower-cased
// address columns, then keeps the messages that name email exactly,
// ignoring case, as a recipient or as Reply-To. lower() folds ASCII only
// on SQLite, so an address that differs from email in the case of a
// non-ASCII letter is not found there.
func (s outboxStore) DeletePendingTo(ctx context.Context, ws domain.WorkspaceID, email domain.Email) (int, error) {
	type candidate struct{ id, to, replyTo string }
	like := containsPattern(email.String())
	cs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT id, to_addrs, reply_to FROM outbox_messages
		WHERE workspace_id = ? AND status <> 'sent' AND (lower(to_addrs) LIKE ? ESCAPE '\' OR lower(reply_to) LIKE ? ESCAPE '\')`),
		func(sc scanner) (c candidate, err error) { return c, sc.Scan(&c.id, &c.to, &c.replyTo) },
		ws.String(), like, like)
	if err != nil {
		return 0, fmt.Errorf("find messages of %s to %s: %w", ws, email, err)
	}
	var ids []string
	for _, c := range cs {
		var to []string
		if err := json.Unmarshal([]byte(c.to), &to); err != nil {
			return 0, fmt.Errorf("message %s: recipients: %w", c.id, err)
		}
		if slices.ContainsFunc(append(to, c.replyTo), func(a string) bool { return sameAddress(a, email) }) {
			ids = append(ids, c.id)
		}
	}
	n, err := s.deleteByID(ctx, `outbox_messages`, ids)
	if err != nil {
		return 0, fmt.Errorf("delete messages of %s to %s: %w", ws, email, err)
	}
	return n, nil
}

// sameAddress reports whether the stored address line names email.
func sameAddress(stored string, email domain.Email) bool {
	if stored == "" {
		return false
	}
	a, err := mail.ParseAddress(stored)
	return err == nil && strings.EqualFold(a.Address, email.String())
}
