package smtpmail_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/smtpmail"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports/porttest"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/mailpit"
)

func TestMain(m *testing.M) {
	containers.SetDefaults()
	code := m.Run()
	if err := mailpit.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop mailpit:", err)
	}
	os.Exit(code)
}

// secret is the password in test URLs; no error may show it.
const secret = "s3cr3tpw"

func TestMailer(t *testing.T) {
	porttest.Mailer(t, func(t *testing.T) porttest.MailerHarness {
		srv := mailpit.Start(t)
		return porttest.MailerHarness{
			Mailer:   newMailer(t, "smtp://"+srv.SMTPAddr),
			Received: received(srv),
		}
	})
}

// TestAttachmentMailer: files reach Mailpit intact, and a file that
// cannot be read delivers nothing.
func TestAttachmentMailer(t *testing.T) {
	porttest.AttachmentMailer(t, func(t *testing.T) porttest.MailerHarness {
		srv := mailpit.Start(t)
		return porttest.MailerHarness{
			Mailer:   newMailer(t, "smtp://"+srv.SMTPAddr),
			Received: received(srv),
		}
	})
}

// TestEnvelopeSender checks that from= sets MAIL FROM, which receivers
// record as Return-Path, and leaves the From header alone.
func TestEnvelopeSender(t *testing.T) {
	t.Parallel()
	srv := mailpit.Start(t)
	m := message(t)
	if err := newMailer(t, "smtp://"+srv.SMTPAddr+"?from=bounces@example.com").Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, ok := find(t, srv, m.MessageIDHeader())
	if !ok {
		t.Fatal("message not received")
	}
	if got.From == nil || got.From.Address != "noreply@example.com" {
		t.Errorf("From = %v, want noreply@example.com", got.From)
	}
	if rp := got.Headers["Return-Path"]; len(rp) != 1 || rp[0] != "<bounces@example.com>" {
		t.Errorf("Return-Path = %q, want <bounces@example.com>", rp)
	}
}

// TestPasswordNeverSentInClear: Mailpit without TLS offers only mechanisms
// that put the password on the wire (PLAIN, LOGIN), so Send must refuse to
// log in rather than fall back to them.
func TestPasswordNeverSentInClear(t *testing.T) {
	t.Parallel()
	srv := mailpit.Start(t)
	err := newMailer(t, "smtp://keel:"+secret+"@"+srv.SMTPAddr).Send(t.Context(), message(t))
	checkUnavailable(t, err)
}

func TestSendToClosedPortIsUnavailable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	err = newMailer(t, "smtp://keel:"+secret+"@"+addr).Send(t.Context(), message(t))
	checkUnavailable(t, err)
}

func TestSendRejection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		script    map[string]string
		permanent bool
	}{
		{"RecipientRefused", map[string]string{"RCPT": "550 5.1.1 No such user here"}, true},
		{"SenderRefused", map[string]string{"MAIL": "553 5.7.1 Sender address rejected"}, true},
		{"MessageRefused", map[string]string{"END": "554 5.6.0 Message looks like spam"}, true},
		{"RecipientDeferred", map[string]string{"RCPT": "451 4.3.0 Mailbox temporarily unavailable"}, false},
		{"MessageDeferred", map[string]string{"END": "452 4.3.1 Insufficient system storage"}, false},
		{"GreetingDeferred", map[string]string{"GREETING": "421 4.3.2 Too busy, try later"}, false},
		// A dropped connection is not a refusal, though go-mail reports
		// it as a permanent SendError.
		{"HangUpAfterData", map[string]string{"END": hangUp}, false},
		// A rejected login is the operator's to fix; the message is fine.
		{"LoginRejected", map[string]string{"AUTH": "535 5.7.8 Authentication credentials invalid"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := fakeRelay(t, tc.script)
			m := message(t)
			err := newMailer(t, "smtp://keel:"+secret+"@"+addr+"?tls=none").Send(t.Context(), m)
			if err == nil {
				t.Fatal("Send: err = nil, want an error")
			}
			t.Logf("err = %v", err)
			if strings.Contains(err.Error(), secret) {
				t.Errorf("err = %q shows the password", err)
			}
			if !strings.Contains(err.Error(), "send message "+m.ID()) {
				t.Errorf("err = %q, want it to name the message", err)
			}
			if !tc.permanent {
				checkUnavailable(t, err)
				return
			}
			if k := domain.KindOf(err); k != domain.KindInternal {
				t.Errorf("kind = %v, want internal: a 5xx reply is final (err = %v)", k, err)
			}
		})
	}
}

func newMailer(t *testing.T, url string) *smtpmail.Mailer {
	t.Helper()
	m, err := smtpmail.New(url)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func message(t *testing.T) domain.Message {
	t.Helper()
	m, err := domain.NewMessage(domain.MessageInput{
		From:    "Keel <noreply@example.com>",
		To:      []string{"ops@example.com"},
		Subject: "Disk almost full",
		Text:    "Only 1% left.",
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func checkUnavailable(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("Send: err = nil, want an error")
	}
	if !errors.Is(err, &domain.Error{Kind: domain.KindUnavailable, Code: "mail_relay_unavailable"}) || domain.KindOf(err) != domain.KindUnavailable {
		t.Errorf("err = %v, want mail_relay_unavailable of kind unavailable", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("err = %q shows the password", err)
	}
}

// received adapts Mailpit to the contract suite's view of a message.
func received(srv *mailpit.Server) func(t *testing.T, messageID string) (porttest.SentMail, bool) {
	return func(t *testing.T, messageID string) (porttest.SentMail, bool) {
		t.Helper()
		m, ok := find(t, srv, messageID)
		if !ok {
			return porttest.SentMail{}, false
		}
		got := porttest.SentMail{Subject: m.Subject, Text: m.Text, HTML: m.HTML}
		if h := m.Headers["Message-Id"]; len(h) > 0 {
			got.MessageID = h[0]
		}
		if m.From != nil {
			got.From = m.From.Address
		}
		for _, a := range m.To {
			got.To = append(got.To, a.Address)
		}
		if len(m.ReplyTo) > 0 {
			got.ReplyTo = m.ReplyTo[0].Address
		}
		for _, a := range m.Attachments {
			if got.Files == nil {
				got.Files = map[string][]byte{}
			}
			got.Files[a.FileName] = srv.Part(t, m.ID, a.PartID)
		}
		return got, true
	}
}

// find looks a message up in Mailpit by its Message-ID header. Mailpit
// stores a message before it acknowledges DATA, but its listing may lag a
// little, so find polls briefly.
func find(t *testing.T, srv *mailpit.Server, messageID string) (mailpit.Message, bool) {
	t.Helper()
	want := strings.TrimSuffix(strings.TrimPrefix(messageID, "<"), ">") // Mailpit drops the brackets
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		for _, s := range srv.Messages(t) {
			if s.MessageID == want {
				return srv.Message(t, s.ID), true
			}
		}
		if time.Now().After(deadline) {
			return mailpit.Message{}, false
		}
	}
}

// In a relay script, hangUp closes the connection instead of replying and
// stall stops answering, as a relay that hangs does.
const (
	hangUp = "hang up"
	stall  = "stall"
)

// relay is a fake SMTP server on loopback for what Mailpit cannot be made
// to do: fail at a given stage, drop idle sessions, count connections.
type relay struct {
	// script maps a stage (GREETING, EHLO's verb and the others, END for
	// the end of DATA) to the reply that replaces the happy one; "STAGE n"
	// applies to the nth transaction (MAIL command) only.
	script map[string]string
	// idle, when set, is how long a session may wait for a command before
	// the relay sends idleReply (or hangs up, for hangUp) and closes it.
	idle      time.Duration
	idleReply string

	addr  string
	conns atomic.Int32 // connections accepted
	open  atomic.Int32 // connections not yet closed
	mails atomic.Int32 // transactions begun (MAIL commands)
	ends  atomic.Int32 // messages transmitted to the end of DATA
	quits atomic.Int32 // QUIT commands
}

// fakeRelay starts a relay that follows script and returns its address.
func fakeRelay(t *testing.T, script map[string]string) string {
	t.Helper()
	r := &relay{script: script}
	r.start(t)
	return r.addr
}

// start serves SMTP until the test ends. It offers AUTH CRAM-MD5, the one
// mechanism go-mail uses without TLS.
func (r *relay) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	r.addr = l.Addr().String()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return // the listener closed
			}
			r.conns.Add(1)
			r.open.Add(1)
			go func() {
				defer r.open.Add(-1)
				r.serve(conn)
			}()
		}
	}()
}

func (r *relay) serve(conn net.Conn) {
	defer conn.Close()
	tp := textproto.NewConn(conn)
	txn := 0
	reply := func(stage, happy string) bool {
		line := happy
		if l, ok := r.script[stage]; ok {
			line = l
		}
		if l, ok := r.script[fmt.Sprintf("%s %d", stage, txn)]; ok {
			line = l
		}
		switch line {
		case hangUp:
			return false
		case stall:
			_, _ = io.Copy(io.Discard, conn) // until the client gives up
			return false
		}
		// 421 means the server is closing the connection (RFC 5321 4.2.2).
		return tp.PrintfLine("%s", line) == nil && !strings.HasPrefix(line, "421")
	}
	if !reply("GREETING", "220 fake ESMTP") {
		return
	}
	for {
		deadline := time.Now().Add(10 * time.Second)
		if r.idle > 0 {
			deadline = time.Now().Add(r.idle)
		}
		_ = conn.SetDeadline(deadline)
		line, err := tp.ReadLine()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && r.idle > 0 {
			if r.idleReply != hangUp {
				_ = conn.SetDeadline(time.Now().Add(time.Second))
				_ = tp.PrintfLine("%s", r.idleReply)
			}
			return
		}
		if err != nil {
			return
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		verb, _, _ := strings.Cut(line, " ")
		var ok bool
		switch verb = strings.ToUpper(verb); verb {
		case "EHLO":
			ok = reply("EHLO", "250-fake\r\n250-AUTH CRAM-MD5\r\n250 8BITMIME")
		case "AUTH":
			// The challenge; the client answers with one line.
			if tp.PrintfLine("334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+") != nil {
				return
			}
			if _, err := tp.ReadLine(); err != nil {
				return
			}
			ok = reply("AUTH", "235 2.7.0 Authentication successful")
		case "MAIL":
			txn = int(r.mails.Add(1))
			ok = reply("MAIL", "250 2.0.0 Ok")
		case "DATA":
			if ok = reply("DATA", "354 End data with <CR><LF>.<CR><LF>"); ok {
				if _, err := tp.ReadDotBytes(); err != nil {
					return
				}
				r.ends.Add(1)
				ok = reply("END", "250 2.0.0 Ok: queued")
			}
		case "QUIT":
			r.quits.Add(1)
			_ = tp.PrintfLine("221 2.0.0 Bye")
			return
		default: // RCPT, RSET, NOOP
			ok = reply(verb, "250 2.0.0 Ok")
		}
		if !ok {
			return
		}
	}
}

// eventually fails t unless cond holds within a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: want %s", what)
		}
	}
}
