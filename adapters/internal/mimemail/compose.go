// Package mimemail builds the MIME form of a domain.Message. It is shared by
// the mail adapters (SMTP and console), which must produce the same bytes:
// the console's .eml files show what a relay would receive. It is a
// building block, not an adapter, so adapters may import it.
package mimemail

import (
	"context"
	"fmt"
	"io"
	"mime"
	netmail "net/mail"
	"strings"
	"unicode/utf8"

	"github.com/wneessen/go-mail"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
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

// ComposeWithFiles builds the message as Compose does, with files attached
// after the body: multipart/mixed, each file base64 in its own part whose
// Content-Disposition is attachment with its name. A name outside ASCII
// is written both ways mail clients read: RFC 2231 (a filename* in UTF-8)
// in Content-Disposition and RFC 2047 (an encoded word) in Content-Type's
// name, which older clients use. The files' bytes are read from Open only
// while the message is written, and streamed: never held whole in memory.
func ComposeWithFiles(ctx context.Context, m domain.Message, envelope *netmail.Address, files []ports.MailAttachment) *mail.Msg {
	msg := Compose(m, envelope)
	atts := make([]*mail.File, 0, len(files))
	for _, f := range files {
		open := f.Open
		ct := f.ContentType
		if _, _, err := mime.ParseMediaType(ct); err != nil || ct == "" {
			ct = ports.DefaultBlobContentType
		}
		atts = append(atts, &mail.File{
			Name: f.Name,
			Enc:  mail.EncodingB64,
			Header: map[string][]string{
				"Content-Type":        {contentType(ct, f.Name)},
				"Content-Disposition": {Disposition(f.Name)},
			},
			Writer: func(w io.Writer) (int64, error) {
				rc, err := open(ctx)
				if err != nil {
					return 0, fmt.Errorf("open attachment %q: %w", f.Name, err)
				}
				defer rc.Close()
				return io.Copy(w, rc)
			},
		})
	}
	msg.SetAttachments(atts)
	return msg
}

// Disposition is the Content-Disposition of an attachment named name:
// the name quoted when it is printable ASCII, else in RFC 2231's
// extended form, which mime.FormatMediaType writes (percent-encoded
// UTF-8). Control characters, which no name should carry, become "_".
func Disposition(name string) string {
	name = cleanName(name)
	if d := mime.FormatMediaType("attachment", map[string]string{"filename": name}); d != "" {
		return d
	}
	return "attachment"
}

// contentType is a file's Content-Type with its name: quoted when ASCII,
// else an RFC 2047 encoded word, since RFC 2231 parameters there are less
// widely read.
func contentType(ct, name string) string {
	name = cleanName(name)
	base, params, _ := mime.ParseMediaType(ct)
	delete(params, "name")
	out := mime.FormatMediaType(base, params)
	if out == "" {
		out = ports.DefaultBlobContentType
	}
	if isASCII(name) {
		return out + "; name=" + quote(name)
	}
	return out + "; name=\"" + mime.BEncoding.Encode("utf-8", name) + "\""
}

func cleanName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, name)
	if name == "" || !utf8.ValidString(name) {
		return "file"
	}
	return name
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func quote(s string) string {
	return "\"" + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + "\""
}
