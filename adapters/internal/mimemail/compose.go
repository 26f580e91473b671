// Package mimemail builds the MIME form of a domain.Message. It is shared by
// the mail adapters (SMTP and console), which must produce the same bytes:
// the console's .eml files show what a relay would receive. It is a
// building block, not an adapter, so adapters may import it.
package mimemail

import (
	netmail "net/mail"
	"strings"

	"github.com/wneessen/go-mail"

	"github.com/keelhq/keel/domain"
)

// Compose builds the message: UTF-8, quoted-printable bodies, RFC 2047
// headers, multipart/alternative when there is both text and HTML. The
// Message-ID and Date come from m, so a resend is the same message apart
// from the MIME boundary. envelope, when not nil, is the SMTP envelope
// sender (MAIL FROM, where bounces go).
func Compose(m domain.Message, envelope *netmail.Address) *mail.Msg {
	// No User-Agent: it would only advertise library versions.
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	from := m.From()
	msg.SetAddrHeaderFromMailAddress(mail.HeaderFrom, &from)
	if envelope != nil {
		msg.EnvelopeFromMailAddress(envelope)
	}
	to := m.To()
	rcpts := make([]*netmail.Address, len(to))
	for i := range to {
		rcpts[i] = &to[i]
	}
	msg.SetAddrHeaderFromMailAddress(mail.HeaderTo, rcpts...)
	if r, ok := m.ReplyTo(); ok {
		msg.SetAddrHeaderFromMailAddress(mail.HeaderReplyTo, &r)
	}
	msg.Subject(m.Subject())
	msg.SetMessageIDWithValue(strings.TrimSuffix(strings.TrimPrefix(m.MessageIDHeader(), "<"), ">"))
	msg.SetDateWithValue(m.CreatedAt())
	switch {
	case m.Text() != "" && m.HTML() != "":
		msg.SetBodyString(mail.TypeTextPlain, m.Text())
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML())
	case m.HTML() != "":
		msg.SetBodyString(mail.TypeTextHTML, m.HTML())
	default:
		msg.SetBodyString(mail.TypeTextPlain, m.Text())
	}
	return msg
}
