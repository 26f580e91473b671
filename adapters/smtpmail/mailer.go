// Package smtpmail implements ports.Mailer over SMTP with go-mail, for
// production relays (Postfix, SES, Mailgun...) and for Mailpit in tests.
package smtpmail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"

	"github.com/wneessen/go-mail"

	"github.com/keelhq/keel/adapters/internal/mimemail"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var _ ports.Mailer = (*Mailer)(nil)

// errRelayUnavailable is every failure worth retrying: the relay is
// unreachable, answered 4xx, or rejected our configuration.
var errRelayUnavailable = domain.E(domain.KindUnavailable, "mail_relay_unavailable", "The mail relay is unavailable; try again later.")

// Mailer sends each message over a new SMTP connection to one relay. It is
// safe for concurrent use.
type Mailer struct {
	client   *mail.Client
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
func (s *Mailer) Send(ctx context.Context, m domain.Message) error {
	err := s.client.DialAndSendWithContext(ctx, mimemail.Compose(m, s.envelope))
	if err == nil {
		return nil
	}
	err = fmt.Errorf("send message %s: %w", m.ID(), err)
	if refused(err) {
		return err
	}
	return errRelayUnavailable.WithCause(err)
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
