package domain

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// OutboxStatus is closed: these variables are its only values.
type OutboxStatus struct{ s string }

var (
	OutboxPending = OutboxStatus{"pending"} // due at NextAttemptAt
	OutboxSent    = OutboxStatus{"sent"}
	OutboxFailed  = OutboxStatus{"failed"} // a permanent error; not retried
	OutboxDead    = OutboxStatus{"dead"}   // out of attempts
)

// ParseOutboxStatus accepts the wire and stored spellings.
func ParseOutboxStatus(s string) (OutboxStatus, error) {
	for _, st := range []OutboxStatus{OutboxPending, OutboxSent, OutboxFailed, OutboxDead} {
		if st.s == s {
			return st, nil
		}
	}
	return OutboxStatus{}, Invalid(FieldError{"status", "unknown_value", "Use pending, sent, failed or dead."})
}

func (s OutboxStatus) String() string { return s.s }

// MessageKind says why a message is sent.
const (
	KindNotification  = "notification"
	KindAutoresponder = "autoresponder"
	KindInvitation    = "invitation"
)

// Attempt is one try at delivering a message.
type Attempt struct {
	At    time.Time
	Error string // "" for the successful one
}

// OutboxMessage is an e-mail waiting in the transactional outbox: written
// in the same transaction as the submission it is about, sent after
// commit by a dispatcher, retried with backoff, and kept with its history.
type OutboxMessage struct {
	Message       Message
	Workspace     WorkspaceID
	Submission    SubmissionID // "" when not about a submission
	Kind          string
	Status        OutboxStatus
	Attempts      []Attempt
	NextAttemptAt time.Time
	// TraceParent is the W3C traceparent of the request that queued the
	// message, so its delivery can join that request's trace.
	TraceParent string
	CreatedAt   time.Time
	SentAt      *time.Time
}

// NewOutboxMessage queues m, due at once.
func NewOutboxMessage(m Message, ws WorkspaceID, sub SubmissionID, kind, traceParent string, now time.Time) OutboxMessage {
	now = Timestamp(now)
	return OutboxMessage{Message: m, Workspace: ws, Submission: sub, Kind: kind, Status: OutboxPending, NextAttemptAt: now, TraceParent: traceParent, CreatedAt: now}
}

// RetryPolicy spaces attempts: exponential backoff from Base, capped at
// Max, with full jitter in the upper half, for at most MaxAttempts.
type RetryPolicy struct {
	MaxAttempts int
	Base, Max   time.Duration
}

// DefaultRetryPolicy makes 12 attempts over about a day: waits of 1 min,
// 2 min, 4 min, … doubling up to 12 h, each drawn from the upper half of
// its step, put the 12th attempt 15 to 29 hours after the first.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 12, Base: time.Minute, Max: 12 * time.Hour}

// Delay is the wait after the n-th failed attempt (n from 1), with jitter
// so that messages failed by one outage do not all retry at one instant.
func (p RetryPolicy) Delay(n int) time.Duration {
	d := float64(p.Base) * math.Pow(2, float64(n-1))
	if d > float64(p.Max) || math.IsInf(d, 0) {
		d = float64(p.Max)
	}
	return time.Duration(d/2 + rand.Float64()*d/2)
}

// Sent records a successful delivery at now.
func (o *OutboxMessage) Sent(now time.Time) {
	now = Timestamp(now)
	o.Attempts = append(o.Attempts, Attempt{At: now})
	o.Status, o.SentAt = OutboxSent, &now
}

// Failed records a failed attempt at now. A temporary failure is retried
// after the policy's delay until the attempts run out (dead); a permanent
// one is not retried (failed).
func (o *OutboxMessage) Failed(err error, temporary bool, p RetryPolicy, now time.Time) {
	now = Timestamp(now)
	msg := TruncateUTF8(strings.ToValidUTF8(err.Error(), "\uFFFD"), 2000)
	o.Attempts = append(o.Attempts, Attempt{At: now, Error: msg})
	switch {
	case !temporary:
		o.Status = OutboxFailed
	case len(o.Attempts) >= p.MaxAttempts:
		o.Status = OutboxDead
	default:
		o.NextAttemptAt = Timestamp(now.Add(p.Delay(len(o.Attempts)))) // as stored: whole microseconds
	}
}

// Retry makes a failed or dead message due again now, keeping its
// history. It gets the attempts it has left, not a new budget: a dead
// message that fails again after the operator's retry is dead again at
// once, rather than retried for another day. Sent messages cannot be
// retried.
func (o *OutboxMessage) Retry(now time.Time) error {
	if o.Status == OutboxSent {
		return E(KindConflict, "already_sent", "The message was sent; it cannot be retried.")
	}
	o.Status, o.NextAttemptAt = OutboxPending, Timestamp(now)
	return nil
}

// SendsMail reports whether a submission to f may cause mail: whether it
// notifies anyone or answers the submitter. Callers skip looking up a
// sender for a form that sends nothing.
func (f Form) SendsMail() bool {
	return len(f.def.Notify.Recipients) > 0 || f.def.Autoresponder.Enabled
}

// Mail composes the messages a submission causes: one notification to the
// form's recipients (Reply-To the submitter when the form has an email
// field) and, when enabled, the autoresponder to the submitter. Spam
// causes none. Templates see .FormName, .SubmissionID, .CreatedAt and
// .Fields (a map of field name to value, multiselects joined with ", ").
// A rendered subject is one line of at most MaxSubjectLen characters, and
// an autoresponder body is cut off after MaxBodyLen bytes, so that what a
// visitor submits cannot make a message larger than that.
//
// link, when given, returns the download link of a file, which the
// notification writes beside the file's name and size. When the form's
// Notify.AttachFilesMaxBytes is above 0 and the submission's files sum to
// at most that, the notification attaches them instead (by blob key: the
// dispatcher streams them when it sends) and says so beside each name.
func (f Form) Mail(s Submission, from string, now time.Time, link ...func(SubmissionFile) string) ([]Message, []string, error) {
	if s.IsSpam() {
		return nil, nil, nil
	}
	data := map[string]any{"FormName": f.def.Name, "SubmissionID": string(s.id), "CreatedAt": s.createdAt}
	fields := map[string]string{}
	for _, v := range s.values {
		fields[v.Field] = joinValues(v.Values)
	}
	data["Fields"] = fields
	var msgs []Message
	var kinds []string
	submitter := ""
	for _, fd := range f.def.Fields {
		if fd.Type == FieldEmail {
			if submitter = s.Get(fd.Name); submitter != "" {
				break
			}
		}
	}
	if len(f.def.Notify.Recipients) > 0 {
		tpl := f.subject
		if tpl == nil { // set aside: see RehydrateForm
			tpl = defaultSubject
		}
		subj, err := tpl.render(data)
		if err != nil {
			return nil, nil, Invalid(FieldError{"notify.subject", "template_failed", "The subject template failed: " + err.Error()})
		}
		files := attachments(f, s)
		m, err := NewMessage(MessageInput{
			From: from, To: f.def.Notify.Recipients, ReplyTo: submitter,
			Subject: oneLine(subj), Text: notificationText(f, s, files != nil, link...), Attachments: files,
		}, now)
		if err != nil {
			return nil, nil, err
		}
		msgs, kinds = append(msgs, m), append(kinds, KindNotification)
	}
	ar := f.def.Autoresponder
	if to := s.Get(ar.EmailField); ar.Enabled && to != "" && f.arSubj != nil && f.arText != nil && f.arHTML != nil {
		var parts [3]string
		for i, t := range []*mailTemplate{f.arSubj, f.arText, f.arHTML} {
			var err error
			if parts[i], err = t.render(data); err != nil {
				return nil, nil, Invalid(FieldError{"autoresponder", "template_failed", "An autoresponder template failed: " + err.Error()})
			}
		}
		m, err := NewMessage(MessageInput{From: from, To: []string{to}, Subject: oneLine(parts[0]), Text: parts[1], HTML: parts[2]}, now)
		if err != nil {
			return nil, nil, err
		}
		msgs, kinds = append(msgs, m), append(kinds, KindAutoresponder)
	}
	return msgs, kinds, nil
}

// defaultSubject is the notification subject of a form whose own was set
// aside.
var defaultSubject, _ = parseMailTemplate("notify.subject", defaultNotifySubject, false, MaxSubjectTemplateLen, maxSubjectBytes)

func joinValues(vs []string) string {
	var b bytes.Buffer
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v)
	}
	return b.String()
}

// oneLine keeps a rendered subject to one line of at most MaxSubjectLen
// characters: submitted values may hold line breaks, which in a header
// would be an injection.
func oneLine(s string) string {
	s = TruncateRunes(s, MaxSubjectLen)
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// attachments returns the submission's files to attach to its
// notification, or nil when the form attaches none or they sum to more
// than it allows.
func attachments(f Form, s Submission) []MessageAttachment {
	limit := f.def.Notify.AttachFilesMaxBytes
	if limit <= 0 {
		return nil
	}
	var out []MessageAttachment
	var total int64
	for _, file := range s.Files() {
		total += file.Size
		out = append(out, MessageAttachment(file))
	}
	if total > limit {
		return nil
	}
	return out
}

// notificationText lists every field of the submission, in form order;
// a file is named with its size and either "attached" or its link.
func notificationText(f Form, s Submission, attached bool, link ...func(SubmissionFile) string) string {
	var b bytes.Buffer
	b.WriteString("New submission to " + f.def.Name + "\n\n")
	for _, fd := range f.def.Fields {
		label := fd.Label
		if label == "" {
			label = fd.Name
		}
		for _, v := range s.values {
			switch {
			case v.Field != fd.Name:
			case len(v.Files) > 0:
				b.WriteString(label + ":\n")
				for _, file := range v.Files {
					b.WriteString("- " + file.Name + " (" + FormatBytes(file.Size) + ")")
					if attached {
						b.WriteString(", attached")
					} else if len(link) > 0 {
						b.WriteString(" " + link[0](file))
					}
					b.WriteString("\n")
				}
			default:
				b.WriteString(label + ": " + joinValues(v.Values) + "\n")
			}
		}
	}
	b.WriteString("\nSubmission " + string(s.id) + " at " + s.createdAt.Format(time.RFC3339) + "\n")
	return b.String()
}
