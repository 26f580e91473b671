package ports

import (
	"context"
	"io"

	"github.com/keelhq/keel/domain"
)

// Mailer delivers one message. A nil error means the receiving side accepted
// it. Errors of kind domain.KindUnavailable are temporary (network failure,
// a 4xx SMTP reply) and worth retrying; any other error is permanent for
// this message. Send may be called again with the same message after an
// error; the message keeps its Message-ID.
type Mailer interface {
	Send(ctx context.Context, m domain.Message) error
}

// MailAttachment is a file a message carries. Open streams its bytes; a
// mailer calls it each time it writes the message (a resend on another
// connection writes it again) and closes what it returns.
type MailAttachment struct {
	Name        string // the file's name as the mail shows it, any Unicode
	ContentType string
	Size        int64
	Open        func(ctx context.Context) (io.ReadCloser, error)
}

// AttachmentMailer is a Mailer that can send files with a message. The
// dispatcher uses it for a message with domain.Message.Attachments; with a
// Mailer that is not one, such a message goes with a note instead of its
// files. Its errors follow Send's; a failing Open is temporary.
type AttachmentMailer interface {
	Mailer
	SendWithAttachments(ctx context.Context, m domain.Message, files []MailAttachment) error
}
