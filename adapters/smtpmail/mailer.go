// Package smtpmail implements ports.Mailer over SMTP with go-mail, for
// production relays (Postfix, SES, Mailgun...) and for Mailpit in tests.
package smtpmail

import (
	"context"
	"errors"
	"fmt"
	"io"
	netmail "net/mail"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/keelhq/keel/adapters/internal/mimemail"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var (
	_ ports.Mailer           = (*Mailer)(nil)
	_ ports.AttachmentMailer = (*Mailer)(nil)
	_ io.Closer              = (*Mailer)(nil)
)

// errRelayUnavailable is every failure worth retrying: the relay is
// unreachable, answered 4xx, or rejected our configuration.
var errRelayUnavailable = domain.E(domain.KindUnavailable, "mail_relay_unavailable", "The mail relay is unavailable; try again later.")

// Mailer sends messages to one relay over a few SMTP sessions that it
// keeps open between Sends, so a message costs MAIL, RCPT and DATA rather
// than a TCP connection, EHLO, STARTTLS and AUTH too. It is safe for
// concurrent use; Close ends the idle sessions.
type Mailer struct {
	client   *mail.Client // settings and dialing; the sessions are in pool
	pool     *pool
	envelope *netmail.Address // MAIL FROM; nil means the message's From
	redacted string           // the URL without its password
	security security         // how the connection is protected
}

// Send delivers m in one SMTP transaction, keeping m's Message-ID so that a
// resend after a lost acknowledgement is recognisably the same message.
//
// Only a 5xx reply to the message (MAIL FROM, RCPT TO, DATA) is permanent
// and returned as an internal error. Everything else returns a
// domain.KindUnavailable error that the dispatcher retries: network
// failures, a done ctx, 4xx replies, and failures before the message is
// offered (TLS, a rejected login), which are the relay's or the operator's
// to fix, not the message's.
//
// Send uses an idle session when there is one. A relay may close a session
// that waited, so when a reused session fails before the relay took
// responsibility for the message, Send tries once more on a new one; after
// the end of DATA it never does, as the relay may have accepted it.
func (s *Mailer) Send(ctx context.Context, m domain.Message) error {
	return s.deliver(ctx, m, mimemail.Compose(m, s.envelope))
}

// SendWithAttachments delivers m as Send does, with files attached
// (mimemail.ComposeWithFiles): their bytes stream from the blob store into
// the DATA command. A file that cannot be opened or read fails the send
// before the end of DATA, so the relay delivers nothing, and the error is
// temporary: the dispatcher looks at the files again before its retry.
func (s *Mailer) SendWithAttachments(ctx context.Context, m domain.Message, files []ports.MailAttachment) error {
	return s.deliver(ctx, m, mimemail.ComposeWithFiles(ctx, m, s.envelope, files))
}

func (s *Mailer) deliver(ctx context.Context, m domain.Message, msg *mail.Msg) error {
	err := s.send(ctx, msg)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("send message %s: %w", m.ID(), err)
	if refused(err) {
		return err
	}
	return errRelayUnavailable.WithCause(err)
}

func (s *Mailer) send(ctx context.Context, msg *mail.Msg) error {
	// A session from the pool does not look at ctx until the send is
	// under way, so a done ctx must stop it here.
	if err := ctx.Err(); err != nil {
		return err
	}
	if c := s.pool.get(); c != nil {
		err := s.sendOn(ctx, c, msg)
		if err == nil || !lostSession(err) || ctx.Err() != nil {
			return err
		}
	}
	c, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("dial failed: %w", err)
	}
	return s.sendOn(ctx, c, msg)
}

// sendOn sends msg over session c, then returns c to the pool or, after
// any failure, closes it: its state is unknown.
func (s *Mailer) sendOn(ctx context.Context, c *smtp.Client, msg *mail.Msg) error {
	// The session's deadline bounds the send; a done ctx cuts it short
	// by closing the connection under it.
	cut := context.AfterFunc(ctx, func() { _ = c.Text.Close() })
	err := s.client.SendWithSMTPClient(c, msg)
	interrupted := !cut()
	if err == nil && !interrupted {
		s.pool.put(c)
		return nil
	}
	_ = c.Close()
	if err == nil || msg.IsDelivered() {
		// The relay acknowledged the end of DATA; whatever failed after
		// that, sending the message again would deliver it twice.
		return nil
	}
	if interrupted {
		err = errors.Join(err, ctx.Err())
	}
	return fmt.Errorf("send failed: %w", err)
}

// lostSession reports whether err is a reused session failing before the
// end of DATA in a way that says the session is gone rather than the
// message unwelcome: no reply at all (a closed or reset connection), or
// 421, the reply with which a server closes a session (RFC 5321 3.8). Up
// to there the relay has not accepted the message, so it may go again.
func lostSession(err error) bool {
	var se *mail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case mail.ErrConnCheck, mail.ErrSMTPMailFrom, mail.ErrSMTPRcptTo, mail.ErrSMTPData, mail.ErrWriteContent:
		return se.ErrorCode() == 0 || se.ErrorCode() == 421
	}
	return false
}

// Close ends the idle sessions with QUIT. Sends in flight finish and close
// their sessions; Sends after Close still work, each on a new session.
func (s *Mailer) Close() error {
	s.pool.close()
	return nil
}

// refused reports whether the relay refused the message with a 5xx reply.
// It checks the reply code rather than only SendError.IsTemp, which is
// also false for a connection dropped mid-message: that is a network
// failure and must be retried, not dropped.
func refused(err error) bool {
	var se *mail.SendError
	return errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 && se.ErrorCode() < 600
}

// String returns the relay's URL with the password replaced by "xxxxx", so
// the composition root can log which relay it uses.
func (s *Mailer) String() string { return s.redacted }
