package ports

import (
	"context"

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
