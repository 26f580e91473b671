package porttest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// SentMail is a message as the receiving side of a Mailer saw it, decoded:
// headers without RFC 2047 encoding, bodies without transfer encoding.
type SentMail struct {
	// MessageID is the Message-ID header value as sent, angle brackets
	// included ("<msg_…@keel>"), so it compares equal to
	// domain.Message.MessageIDHeader.
	MessageID string
	// From, To and ReplyTo hold bare addresses ("alice@example.com"): display
	// names are a presentation detail that receivers render differently.
	From    string
	To      []string
	ReplyTo string // "" when the message had none
	Subject string
	Text    string // "" when the message had no text part
	HTML    string // "" when the message had no HTML part
	// Files holds the attached files by name (decoded from RFC 2231 or
	// 2047) and their bytes (decoded from base64); nil without any.
	Files map[string][]byte
}

// MailerHarness is one Mailer under test and a way to look at what it
// delivered.
type MailerHarness struct {
	Mailer ports.Mailer
	// Received returns the delivered message whose Message-ID header is
	// messageID (angle brackets included), and false if none arrived. The
	// suite calls it only after Send returned nil, so an implementation that
	// delivers asynchronously may wait a few seconds; it calls t.Fatal when
	// it cannot look (a container died, a file is corrupt).
	Received func(t *testing.T, messageID string) (SentMail, bool)
}

// Mailer checks that a ports.Mailer delivers messages intact: sender,
// recipients, UTF-8 subject and bodies, both alternatives, and the
// Message-ID that lets a receiver recognise a resend. open returns a fresh
// harness per case; cases run in parallel, so harnesses may share a backend
// (one Mailpit container) as long as Received looks messages up by ID.
func Mailer(t *testing.T, open func(t *testing.T) MailerHarness) {
	t.Run("TextOnly", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		m := newMessage(t, domain.MessageInput{
			From:    "Keel <noreply@example.com>",
			To:      []string{"alice@example.com"},
			Subject: "Welcome to Keel",
			Text:    "Hello Alice,\n\nyour workspace is ready.\n-- \nKeel",
		})
		got := send(t, h, m)
		if got.From != "noreply@example.com" {
			t.Errorf("From = %q, want noreply@example.com", got.From)
		}
		if !slices.Equal(got.To, []string{"alice@example.com"}) {
			t.Errorf("To = %q, want [alice@example.com]", got.To)
		}
		if got.ReplyTo != "" {
			t.Errorf("ReplyTo = %q, want none", got.ReplyTo)
		}
		if got.Subject != m.Subject() {
			t.Errorf("Subject = %q, want %q", got.Subject, m.Subject())
		}
		checkBody(t, "Text", got.Text, m.Text())
		checkBody(t, "HTML", got.HTML, "")
	})

	t.Run("HTMLAndText", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		m := newMessage(t, domain.MessageInput{
			From:    "noreply@example.com",
			To:      []string{"bob@example.com"},
			Subject: "New submission",
			Text:    "A new submission arrived: https://example.com/s/1",
			HTML:    `<p>A new submission <a href="https://example.com/s/1">arrived</a>.</p>`,
		})
		got := send(t, h, m)
		checkBody(t, "Text", got.Text, m.Text())
		checkBody(t, "HTML", got.HTML, m.HTML())
	})

	t.Run("SeveralRecipients", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		to := []string{"carol@example.com", "dave@example.org", "Erin <erin@example.net>"}
		m := newMessage(t, domain.MessageInput{
			From:    "noreply@example.com",
			To:      to,
			Subject: "Team update",
			Text:    "Three of you get this.",
		})
		got := send(t, h, m)
		want := []string{"carol@example.com", "dave@example.org", "erin@example.net"}
		gotTo := slices.Sorted(slices.Values(got.To)) // header order is not part of the contract
		if !slices.Equal(gotTo, want) {
			t.Errorf("To = %q, want %q", gotTo, want)
		}
	})

	t.Run("NonASCIIAndReplyTo", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		// The long line forces quoted-printable soft line breaks, which a
		// careless encoder or decoder turns into visible "=" or lost bytes.
		long := strings.Repeat("Grüße aus 日本 – ", 12)
		m := newMessage(t, domain.MessageInput{
			From:    "Jörg Müller <joerg@example.com>",
			To:      []string{"Zoë <zoe@example.com>"},
			ReplyTo: "Support – 日本 <support@example.com>",
			Subject: "Grüße – 日本 and a subject long enough to be folded across several header lines",
			Text:    "Grüße – 日本\n\n" + long,
			HTML:    "<p>Grüße – 日本</p><p>" + long + "</p>",
		})
		got := send(t, h, m)
		if got.Subject != m.Subject() {
			t.Errorf("Subject = %q, want %q", got.Subject, m.Subject())
		}
		if got.From != "joerg@example.com" {
			t.Errorf("From = %q, want joerg@example.com", got.From)
		}
		if got.ReplyTo != "support@example.com" {
			t.Errorf("ReplyTo = %q, want support@example.com", got.ReplyTo)
		}
		checkBody(t, "Text", got.Text, m.Text())
		checkBody(t, "HTML", got.HTML, m.HTML())
	})

	t.Run("ResendKeepsMessageID", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		m := newMessage(t, domain.MessageInput{
			From:    "noreply@example.com",
			To:      []string{"frank@example.com"},
			Subject: "Sent twice",
			Text:    "The dispatcher may send a message again after a lost acknowledgement.",
		})
		// send checks the Message-ID; the port allows Send again with the
		// same message, and the resend must carry the same ID.
		send(t, h, m)
		send(t, h, m)
	})

	t.Run("ConcurrentSends", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		// The dispatcher shares one Mailer between its workers.
		msgs := make([]domain.Message, 8)
		errs := make(chan error, len(msgs))
		for i := range msgs {
			msgs[i] = newMessage(t, domain.MessageInput{
				From:    "noreply@example.com",
				To:      []string{"heidi@example.com"},
				Subject: "Concurrent " + strconv.Itoa(i),
				Text:    "One of several sent at once.",
			})
			go func() { errs <- h.Mailer.Send(t.Context(), msgs[i]) }()
		}
		for range msgs {
			if err := <-errs; err != nil {
				t.Errorf("concurrent Send: %v", err)
			}
		}
		if t.Failed() {
			return
		}
		for _, m := range msgs {
			if got, ok := h.Received(t, m.MessageIDHeader()); !ok || got.Subject != m.Subject() {
				t.Errorf("message %s: received %v with subject %q, want %q", m.MessageIDHeader(), ok, got.Subject, m.Subject())
			}
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		m := newMessage(t, domain.MessageInput{
			From:    "noreply@example.com",
			To:      []string{"grace@example.com"},
			Subject: "Never sent",
			Text:    "The context was cancelled before Send.",
		})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := h.Mailer.Send(ctx, m)
		if err == nil {
			t.Fatal("Send with a cancelled context: err = nil, want an error")
		}
		// A cancelled send says nothing about the message, so the
		// dispatcher must keep it for a later attempt rather than drop it.
		if k := domain.KindOf(err); k != domain.KindUnavailable {
			t.Errorf("Send with a cancelled context: kind = %v, want unavailable (err = %v)", k, err)
		}
	})
}

// newMessage builds a valid message; its ID makes it unique per case.
// AttachmentMailer checks that a ports.AttachmentMailer delivers files
// with a message: names outside ASCII and bytes of every value arrive
// intact beside the text, and a file that cannot be read fails the send
// as temporary and delivers nothing, not a message cut short. Harness
// Mailers must be ports.AttachmentMailers.
func AttachmentMailer(t *testing.T, open func(t *testing.T) MailerHarness) {
	file := func(name string, b []byte) ports.MailAttachment {
		return ports.MailAttachment{Name: name, ContentType: "application/octet-stream", Size: int64(len(b)),
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
	}
	t.Run("FilesArriveIntact", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		am := h.Mailer.(ports.AttachmentMailer)
		every := make([]byte, 0, 3*256)
		for i := range 3 * 256 {
			every = append(every, byte(i))
		}
		files := map[string][]byte{"report.pdf": []byte("%PDF-1.4\n" + strings.Repeat("x", 5000)), "Jürgen 履歴書.bin": every}
		m := newMessage(t, domain.MessageInput{From: "keel@example.com", To: []string{"team@example.com"}, Subject: "Files", Text: "Two files."})
		if err := am.SendWithAttachments(t.Context(), m, []ports.MailAttachment{file("report.pdf", files["report.pdf"]), file("Jürgen 履歴書.bin", every)}); err != nil {
			t.Fatalf("SendWithAttachments: %v", err)
		}
		got, ok := h.Received(t, m.MessageIDHeader())
		if !ok {
			t.Fatal("not received")
		}
		checkBody(t, "text", got.Text, "Two files.")
		if len(got.Files) != len(files) {
			t.Fatalf("received %d files, want %d", len(got.Files), len(files))
		}
		for name, want := range files {
			if b, ok := got.Files[name]; !ok || !bytes.Equal(b, want) {
				t.Errorf("file %q: received %v, %d bytes; want %d", name, ok, len(b), len(want))
			}
		}
	})
	t.Run("UnreadableFileFailsTemporarily", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		am := h.Mailer.(ports.AttachmentMailer)
		broken := ports.MailAttachment{Name: "gone.pdf", ContentType: "application/pdf", Size: 10,
			Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(io.MultiReader(strings.NewReader("%PDF-1.4\n"), iotestErr{})), nil
			}}
		m := newMessage(t, domain.MessageInput{From: "keel@example.com", To: []string{"team@example.com"}, Subject: "Broken", Text: "One file."})
		err := am.SendWithAttachments(t.Context(), m, []ports.MailAttachment{broken})
		if err == nil || domain.KindOf(err) != domain.KindUnavailable {
			t.Fatalf("SendWithAttachments = %v, want a temporary error", err)
		}
		if _, ok := h.Received(t, m.MessageIDHeader()); ok {
			t.Fatal("a message whose file failed was delivered")
		}
	})
}

// iotestErr is a read that fails, as a blob store's connection can.
type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) {
	return 0, errors.New("connection reset while reading the file")
}

func newMessage(t *testing.T, in domain.MessageInput) domain.Message {
	t.Helper()
	m, err := domain.NewMessage(in, time.Now())
	if err != nil {
		t.Fatalf("NewMessage: %v", err)
	}
	return m
}

// send delivers m, fetches it back by its Message-ID and checks the ID.
func send(t *testing.T, h MailerHarness, m domain.Message) SentMail {
	t.Helper()
	if err := h.Mailer.Send(t.Context(), m); err != nil {
		t.Fatalf("Send %s: %v", m.ID(), err)
	}
	got, ok := h.Received(t, m.MessageIDHeader())
	if !ok {
		t.Fatalf("message %s was not received", m.MessageIDHeader())
	}
	if got.MessageID != m.MessageIDHeader() {
		t.Errorf("MessageID = %q, want %q", got.MessageID, m.MessageIDHeader())
	}
	return got
}

// checkBody compares bodies up to line endings and trailing newlines, which
// SMTP and MIME encoders legitimately change (LF becomes CRLF, a final
// newline is added).
func checkBody(t *testing.T, part, got, want string) {
	t.Helper()
	if normalize(got) != normalize(want) {
		t.Errorf("%s body = %q, want %q", part, got, want)
	}
}

func normalize(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}
