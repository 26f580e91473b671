package domain

import (
	"encoding/json"
	"slices"
	"time"
)

// EventID names a domain event.
type EventID string

// PrefixEvent starts every event ID.
const PrefixEvent = "evt"

// Event is something that happened in a workspace that partners may want
// to hear about. It is written to the outbox in the transaction that made
// it happen, so an event exists exactly when its change was committed;
// the webhooks dispatcher delivers it.
type Event struct {
	ID        EventID
	Workspace WorkspaceID
	Type      string // "post.published", "page.unpublished", ...
	// Subject is the ID of the resource the event is about, so that the
	// events about a person's data can be found when it is erased.
	Subject   string
	Data      []byte // JSON object
	CreatedAt time.Time
}

// EntryEvent is the event that reports a publication change of e:
// "<kind>.published" or "<kind>.unpublished".
func EntryEvent(e Entry, published bool, now time.Time) Event {
	verb := "unpublished"
	if published {
		verb = "published"
	}
	return entryEvent(e, verb, now)
}

// EntryUpdatedEvent reports a change of e's content: "<kind>.updated".
func EntryUpdatedEvent(e Entry, now time.Time) Event { return entryEvent(e, "updated", now) }

// EntryDeletedEvent reports that e is gone: "<kind>.deleted", with its ID,
// kind and slug.
func EntryDeletedEvent(e Entry, now time.Time) Event {
	return NewEvent(e.workspace, e.kind.s+".deleted", string(e.id), map[string]any{"id": string(e.id), "kind": e.kind.s, "slug": e.content.Slug}, now)
}

func entryEvent(e Entry, verb string, now time.Time) Event {
	data, _ := json.Marshal(struct { // a struct of strings: cannot fail
		ID          EntryID `json:"id"`
		Kind        string  `json:"kind"`
		Slug        string  `json:"slug"`
		Title       string  `json:"title"`
		Status      string  `json:"status"`
		Version     int     `json:"version"`
		PublishedAt *Stamp  `json:"published_at,omitempty"`
	}{e.id, e.kind.s, e.content.Slug, e.content.Title, e.status.s, e.version, StampOf(e.publishedAt)})
	now = Timestamp(now)
	return Event{ID: EventID(NewID(PrefixEvent, now)), Workspace: e.workspace, Type: e.kind.s + "." + verb, Subject: string(e.id), Data: data, CreatedAt: now}
}

// ErrCursorExpired refuses a change-feed cursor that names no event the
// workspace still keeps: retention deleted it, so events after it may be
// gone too, and the reader must start again rather than skip them unseen.
var ErrCursorExpired = E(KindConflict, "cursor_expired", "This cursor is older than the oldest event kept; read the feed again from the start.")

// The submission event types. Spam writes none: partners hear of what a
// person sent, not of what the filter kept out.
const (
	EventSubmissionCreated = "submission.created"
	EventSubmissionUpdated = "submission.updated"
	EventSubmissionDeleted = "submission.deleted"
)

// NewEvent is an event of type typ about the resource subject in ws,
// created now, whose data is the JSON encoding of data: maps, slices,
// strings, numbers, booleans and stamps only, so that encoding cannot fail
// and every time in it has StampLayout's width.
func NewEvent(ws WorkspaceID, typ, subject string, data map[string]any, now time.Time) Event {
	b, err := json.Marshal(data)
	if err != nil {
		panic("domain: event data of " + typ + " is not JSON: " + err.Error()) // a programming error
	}
	now = Timestamp(now)
	return Event{ID: EventID(NewID(PrefixEvent, now)), Workspace: ws, Type: typ, Subject: subject, Data: b, CreatedAt: now}
}

// SubmissionData is a submission as the API shows it: a value reads as a
// list when it was submitted as one, as a string otherwise.
func SubmissionData(s Submission) map[string]any {
	values := make(map[string]any, len(s.values))
	for _, v := range s.values {
		if v.IsList() {
			values[v.Field] = nonNilStrings(v.Values)
		} else if len(v.Values) > 0 {
			values[v.Field] = v.Values[0]
		}
	}
	return map[string]any{
		"id": string(s.id), "form_id": string(s.form), "status": s.status.s, "values": values,
		"created_at": Stamp{s.createdAt}, "updated_at": Stamp{s.updatedAt},
		"user_agent": s.meta.UserAgent, "referrer": s.meta.Referrer, "origin": s.meta.Origin, "ip_hash": s.meta.IPHash,
		"spam": spamData(s),
	}
}

// spamData is why s is spam as the API shows it: nil when it is not
// spam, the reason unknown for spam stored before reasons were kept.
func spamData(s Submission) any {
	if !s.IsSpam() {
		return nil
	}
	reason := s.spam.Cause.s
	if reason == "" {
		reason = "unknown"
	}
	return map[string]any{"reason": reason, "detail": s.spam.Detail}
}

// SubmissionEvent reports the creation or a change of s; see SubmissionData.
func SubmissionEvent(typ string, s Submission, now time.Time) Event {
	return NewEvent(s.workspace, typ, string(s.id), SubmissionData(s), now)
}

// SubmissionDeletedEvent reports that a submission is gone, by deletion,
// erasure or retention. It keeps only what holds no personal data: the
// IDs and when the submission was made.
func SubmissionDeletedEvent(r SubmissionRef, now time.Time) Event {
	return NewEvent(r.Workspace, EventSubmissionDeleted, string(r.ID), RedactedSubmissionData(r), now)
}

// RedactedSubmissionData is what the events of a deleted submission keep:
// its IDs and when it was made, never what the person sent.
func RedactedSubmissionData(r SubmissionRef) map[string]any {
	return map[string]any{"id": string(r.ID), "form_id": string(r.Form), "created_at": Stamp{r.CreatedAt}}
}

// SubmissionRef is what stays known of a deleted submission. Spam marks
// one partners never heard of, spam the filter caught on arrival and
// nobody marked not spam (Submission.MailHeld): its deletion writes no
// event either. Spam filed by hand had its submission.created event, so
// its deletion has one too.
type SubmissionRef struct {
	ID        SubmissionID
	Workspace WorkspaceID
	Form      FormID
	CreatedAt time.Time
	Spam      bool
}

func nonNilStrings(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// Ref is what stays known of s once it is deleted.
func (s Submission) Ref() SubmissionRef {
	return SubmissionRef{ID: s.id, Workspace: s.workspace, Form: s.form, CreatedAt: s.createdAt, Spam: s.mailHeld}
}

// EventTypes lists every event type the feed can hold, for filters to
// check against.
var EventTypes = []string{
	EventSubmissionCreated, EventSubmissionUpdated, EventSubmissionDeleted,
	"post.published", "post.unpublished", "post.updated", "post.deleted",
	"page.published", "page.unpublished", "page.updated", "page.deleted",
	EventFormCreated, EventFormUpdated, EventFormDeleted,
	EventMemberAdded, EventMemberRemoved, EventMemberRoleChanged,
	EventAPIKeyCreated, EventAPIKeyUpdated, EventAPIKeyRevoked,
}

// The member and API key event types.
const (
	EventMemberAdded       = "member.added"
	EventMemberRemoved     = "member.removed"
	EventMemberRoleChanged = "member.role_changed"
	EventAPIKeyCreated     = "api_key.created"
	EventAPIKeyUpdated     = "api_key.updated"
	EventAPIKeyRevoked     = "api_key.revoked"
)

// The form event types.
const (
	EventFormCreated = "form.created"
	EventFormUpdated = "form.updated"
	EventFormDeleted = "form.deleted"
)

// ParseEventType accepts one of EventTypes.
func ParseEventType(s string) (string, error) {
	if slices.Contains(EventTypes, s) {
		return s, nil
	}
	return "", Invalid(FieldError{"type", "unknown_event_type", "Unknown event type " + quote(s) + "."})
}

// FormData is a form as the API shows it.
func FormData(f Form) map[string]any {
	d := f.Definition()
	fields := make([]any, 0, len(d.Fields))
	for _, fd := range d.Fields {
		fields = append(fields, map[string]any{
			"name": fd.Name, "label": fd.Label, "type": fd.Type.String(), "required": fd.Required,
			"min_length": fd.MinLength, "max_length": fd.MaxLength, "min": fd.Min, "max": fd.Max,
			"pattern": fd.Pattern, "options": nonNilStrings(fd.Options),
		})
	}
	return map[string]any{
		"id": string(f.ID()), "name": d.Name, "status": f.Status().String(), "fields": fields,
		"notify": map[string]any{"recipients": nonNilStrings(d.Notify.Recipients), "subject": d.Notify.Subject, "attach_files_max_bytes": d.Notify.AttachFilesMaxBytes},
		"autoresponder": map[string]any{
			"enabled": d.Autoresponder.Enabled, "email_field": d.Autoresponder.EmailField,
			"subject": d.Autoresponder.Subject, "text": d.Autoresponder.Text, "html": d.Autoresponder.HTML,
		},
		"redirects":       map[string]any{"success": d.Redirects.Success, "error": d.Redirects.Error},
		"allowed_origins": nonNilStrings(d.AllowedOrigins),
		"honeypot":        d.Honeypot,
		"retention_days":  d.RetentionDays,
		"max_links":       d.MaxLinks,
		"created_at":      Stamp{f.CreatedAt()}, "updated_at": Stamp{f.UpdatedAt()},
	}
}

// FormEvent reports the creation or a change of f; see FormData.
func FormEvent(typ string, f Form, now time.Time) Event {
	return NewEvent(f.Workspace(), typ, string(f.ID()), FormData(f), now)
}

// FormDeletedEvent reports that the form id of ws is gone, with its
// submissions: their deletion writes no event of its own.
func FormDeletedEvent(ws WorkspaceID, id FormID, now time.Time) Event {
	return NewEvent(ws, EventFormDeleted, string(id), map[string]any{"id": string(id)}, now)
}

// MemberEvent reports that u joined ws or changed role there: the member
// as the API shows it.
func MemberEvent(typ string, ws WorkspaceID, u User, role Role, now time.Time) Event {
	return NewEvent(ws, typ, string(u.ID()), map[string]any{
		"user_id": string(u.ID()), "email": u.Email().String(), "name": u.Name(), "role": role.s,
	}, now)
}

// MemberRemovedEvent reports that user left ws; it keeps the user's ID and
// the role they held, not their address or name.
func MemberRemovedEvent(ws WorkspaceID, user UserID, role Role, now time.Time) Event {
	return NewEvent(ws, EventMemberRemoved, string(user), map[string]any{"user_id": string(user), "role": role.s}, now)
}

// APIKeyEvent reports that k was created, updated or revoked: the key as the API
// lists it, which never includes its secret.
func APIKeyEvent(typ string, k APIKey, now time.Time) Event {
	scopes := make([]string, 0, len(k.scopes))
	for _, p := range k.scopes {
		scopes = append(scopes, p.String())
	}
	return NewEvent(k.workspace, typ, string(k.id), map[string]any{
		"id": string(k.id), "name": k.name, "scopes": scopes, "prefix": k.prefix, "expires_at": StampOf(k.expiresAt),
		"created_by": string(k.createdBy), "created_at": Stamp{k.createdAt}, "last_used_at": StampOf(k.lastUsedAt), "revoked_at": StampOf(k.revokedAt),
	}, now)
}
