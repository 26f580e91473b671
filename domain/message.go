package domain

import (
	"fmt"
	"html"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// Message is one e-mail Keel sends. It is built by NewMessage, which rejects
// what no mail server should ever see: no recipient, malformed addresses, or
// header values with line breaks (header injection).
type Message struct {
	id        string
	from      mail.Address
	to        []mail.Address
	replyTo   *mail.Address
	subject   string
	text      string
	html      string
	createdAt time.Time
	files     []MessageAttachment
}

// MessageAttachment names a file a message carries: the blob that the
// dispatcher streams into the mail when it sends it. A message holds the
// key, never the bytes, so that its outbox row stays small.
type MessageAttachment struct {
	Name        string // as the mail shows it
	ContentType string
	Size        int64
	Key         string // in the blob store
}

// MessageInput carries the raw parts of a message to NewMessage.
type MessageInput struct {
	From    string   // "Keel <noreply@example.com>" or a bare address
	To      []string // at least one
	ReplyTo string   // optional
	Subject string
	Text    string // at least one of Text and HTML
	HTML    string
	// Attachments are files sent with the message (none: links only).
	Attachments []MessageAttachment
}

// NewMessage validates in and returns a message created at now. Every
// problem is reported at once, one FieldError each, as a validation_failed
// error.
func NewMessage(in MessageInput, now time.Time) (Message, error) {
	var errs []FieldError
	m := Message{id: NewID("msg", now), subject: in.Subject, text: in.Text, html: in.HTML, createdAt: Timestamp(now), files: slices.Clone(in.Attachments)}
	if a, err := mail.ParseAddress(in.From); err != nil {
		errs = append(errs, FieldError{"from", "invalid_address", "The sender is not a valid e-mail address."})
	} else {
		m.from = *a
	}
	if len(in.To) == 0 {
		errs = append(errs, FieldError{"to", "required", "At least one recipient is required."})
	}
	for _, s := range in.To {
		a, err := mail.ParseAddress(s)
		if err != nil {
			errs = append(errs, FieldError{"to", "invalid_address", "A recipient is not a valid e-mail address."})
			continue
		}
		m.to = append(m.to, *a)
	}
	if in.ReplyTo != "" {
		if a, err := mail.ParseAddress(in.ReplyTo); err != nil {
			errs = append(errs, FieldError{"reply_to", "invalid_address", "The reply-to is not a valid e-mail address."})
		} else {
			m.replyTo = a
		}
	}
	if strings.ContainsAny(in.Subject, "\r\n") {
		errs = append(errs, FieldError{"subject", "invalid_header", "The subject must be one line."})
	}
	if strings.TrimSpace(in.Text) == "" && strings.TrimSpace(in.HTML) == "" {
		errs = append(errs, FieldError{"body", "required", "A text or HTML body is required."})
	}
	if len(errs) > 0 {
		return Message{}, Invalid(errs...)
	}
	return m, nil
}

func (m Message) ID() string                    { return m.id }
func (m Message) From() mail.Address            { return m.from }
func (m Message) To() []mail.Address            { return append([]mail.Address(nil), m.to...) }
func (m Message) ReplyTo() (mail.Address, bool) { return deref(m.replyTo) }
func (m Message) Subject() string               { return m.subject }
func (m Message) Text() string                  { return m.text }
func (m Message) HTML() string                  { return m.html }
func (m Message) CreatedAt() time.Time          { return m.createdAt }

// Attachments returns the files the message carries.
func (m Message) Attachments() []MessageAttachment { return slices.Clone(m.files) }

// WithAttachments returns m carrying files instead of the ones it had: a
// store rebuilds a message with it, and the dispatcher drops the files
// that were erased before the message went.
func (m Message) WithAttachments(files []MessageAttachment) Message {
	m.files = slices.Clone(files)
	return m
}

// WithNote returns m with note added as a last paragraph of its text (and
// of its HTML, escaped, when it has one): the dispatcher says so in the
// message when a file it should carry is gone.
func (m Message) WithNote(note string) Message {
	if m.text != "" {
		m.text = strings.TrimRight(m.text, "\n") + "\n\n" + note + "\n"
	}
	if m.html != "" {
		m.html += "\n<p>" + html.EscapeString(note) + "</p>\n"
	}
	return m
}

// MessageIDHeader is the RFC 5322 Message-ID every delivery attempt of m
// carries, so that a resend after a lost acknowledgement is recognisably the
// same message to the receiving side.
func (m Message) MessageIDHeader() string {
	return "<" + m.id + "@keel>"
}

func deref(a *mail.Address) (mail.Address, bool) {
	if a == nil {
		return mail.Address{}, false
	}
	return *a, true
}

// RehydrateMessage rebuilds a stored message. Its parts were valid when it
// was made, so only the addresses are parsed again.
func RehydrateMessage(id, from string, to []string, replyTo, subject, text, html string, createdAt time.Time) (Message, error) {
	m := Message{id: id, subject: subject, text: text, html: html, createdAt: createdAt.UTC()}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return Message{}, fmt.Errorf("stored sender of %s: %w", id, err)
	}
	m.from = *a
	for _, s := range to {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return Message{}, fmt.Errorf("stored recipient of %s: %w", id, err)
		}
		m.to = append(m.to, *a)
	}
	if replyTo != "" {
		if m.replyTo, err = mail.ParseAddress(replyTo); err != nil {
			return Message{}, fmt.Errorf("stored reply-to of %s: %w", id, err)
		}
	}
	return m, nil
}
