package mailpit_test

import (
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/mailpit"
)

func TestMain(m *testing.M) {
	containers.Main(m, mailpit.Stop)
}

// send delivers a small multipart message the way an adapter would.
func send(t *testing.T, srv *mailpit.Server, auth smtp.Auth, to, subject, id string) {
	t.Helper()
	msg := strings.Join([]string{
		"From: Keel <noreply@keel.test>",
		"To: " + to,
		"Subject: " + subject,
		"Message-ID: <" + id + ">",
		"MIME-Version: 1.0",
		`Content-Type: multipart/alternative; boundary="b"`,
		"",
		"--b",
		"Content-Type: text/plain; charset=utf-8",
		"",
		"Hello from Keel.",
		"--b",
		"Content-Type: text/html; charset=utf-8",
		"",
		"<p>Hello from <b>Keel</b>.</p>",
		"--b--",
		"",
	}, "\r\n")
	if err := smtp.SendMail(srv.SMTPAddr, auth, "noreply@keel.test", []string{to}, []byte(msg)); err != nil {
		t.Fatalf("send over SMTP to %s: %v", srv.SMTPAddr, err)
	}
}

func TestSentMailComesBackThroughTheAPI(t *testing.T) {
	srv := mailpit.Start(t)
	srv.DeleteAll(t)

	send(t, srv, nil, "ann@example.com", "Welcome", "welcome-1@keel.test")

	got := srv.WaitFor(t, 1, 5*time.Second)
	if len(got) != 1 {
		t.Fatalf("got %d messages, want 1", len(got))
	}
	m := srv.Message(t, got[0].ID)
	if m.Subject != "Welcome" || m.MessageID != "welcome-1@keel.test" {
		t.Errorf("subject, Message-ID = %q, %q; want Welcome, welcome-1@keel.test", m.Subject, m.MessageID)
	}
	if m.From == nil || m.From.Address != "noreply@keel.test" || m.From.Name != "Keel" {
		t.Errorf("From = %v, want Keel <noreply@keel.test>", m.From)
	}
	if len(m.To) != 1 || m.To[0].Address != "ann@example.com" {
		t.Errorf("To = %v, want ann@example.com", m.To)
	}
	if !strings.Contains(m.Text, "Hello from Keel.") || !strings.Contains(m.HTML, "<b>Keel</b>") {
		t.Errorf("Text = %q, HTML = %q: missing the body", m.Text, m.HTML)
	}
	if h := m.Headers["Message-Id"]; len(h) != 1 || h[0] != "<welcome-1@keel.test>" {
		t.Errorf("Message-Id header = %q, want <welcome-1@keel.test>", h)
	}

	srv.DeleteAll(t)
	if n := len(srv.Messages(t)); n != 0 {
		t.Errorf("%d messages after DeleteAll, want 0", n)
	}
}

// Adapters configured with SMTP credentials must be able to send as well.
func TestSearchFindsMailSentWithCredentials(t *testing.T) {
	srv := mailpit.Start(t)
	host, _, err := net.SplitHostPort(srv.SMTPAddr)
	if err != nil {
		t.Fatalf("split %s: %v", srv.SMTPAddr, err)
	}
	// PlainAuth sends credentials without TLS only to a loopback host.
	auth := smtp.PlainAuth("", "keel", "secret", host)

	send(t, srv, auth, "bob@example.com", "Your receipt", "receipt-1@keel.test")

	got := srv.WaitForSearch(t, `to:"bob@example.com"`, 1, 5*time.Second)
	if len(got) != 1 || got[0].Subject != "Your receipt" {
		t.Fatalf("search found %+v, want one message titled Your receipt", got)
	}
}
