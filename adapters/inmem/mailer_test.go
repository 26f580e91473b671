package inmem_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/inmem"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports/porttest"
)

func TestMailer(t *testing.T) {
	porttest.Mailer(t, func(t *testing.T) porttest.MailerHarness {
		m := inmem.NewMailer()
		return porttest.MailerHarness{Mailer: m, Received: func(t *testing.T, id string) (porttest.SentMail, bool) {
			for _, msg := range m.Sent() {
				if msg.MessageIDHeader() == id {
					return toSentMail(msg), true
				}
			}
			return porttest.SentMail{}, false
		}}
	})
}

func TestMailerFailNext(t *testing.T) {
	t.Parallel()
	f := inmem.NewMailer()
	m, err := domain.NewMessage(domain.MessageInput{From: "a@example.com", To: []string{"b@example.com"}, Text: "hi"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.FailNext(2)
	for i := range 2 {
		err := f.Send(t.Context(), m)
		if domain.KindOf(err) != domain.KindUnavailable {
			t.Fatalf("send %d: err = %v, want kind unavailable", i+1, err)
		}
		if !errors.Is(err, &domain.Error{Kind: domain.KindUnavailable, Code: "mail_relay_unavailable"}) {
			t.Errorf("send %d: err = %v, want code mail_relay_unavailable", i+1, err)
		}
	}
	if err := f.Send(t.Context(), m); err != nil {
		t.Fatalf("third send: %v", err)
	}
	if got := len(f.Sent()); got != 1 {
		t.Errorf("len(Sent()) = %d, want 1: failed sends must not be recorded", got)
	}
}

// toSentMail reports a message as a receiver would see it. The fake keeps
// the domain value, so this is a straight copy.
func toSentMail(m domain.Message) porttest.SentMail {
	s := porttest.SentMail{MessageID: m.MessageIDHeader(), From: m.From().Address, Subject: m.Subject(), Text: m.Text(), HTML: m.HTML()}
	for _, a := range m.To() {
		s.To = append(s.To, a.Address)
	}
	if r, ok := m.ReplyTo(); ok {
		s.ReplyTo = r.Address
	}
	return s
}
