package consolemail_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/consolemail"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports/porttest"
)

func TestMailer(t *testing.T) {
	porttest.Mailer(t, harness)
}

// TestAttachmentMailer: files go into the .eml file intact, and a file
// that cannot be read leaves no file.
func TestAttachmentMailer(t *testing.T) {
	porttest.AttachmentMailer(t, harness)
}

// harness writes into a directory of its own and reads the .eml files back.
func harness(t *testing.T) porttest.MailerHarness {
	dir := t.TempDir()
	return porttest.MailerHarness{
		Mailer: consolemail.New(dir, io.Discard),
		Received: func(t *testing.T, id string) (porttest.SentMail, bool) {
			t.Helper()
			all, err := consolemail.ReadDir(dir)
			if err != nil {
				t.Fatalf("ReadDir: %v", err)
			}
			for _, m := range all {
				if m.MessageID == id {
					return porttest.SentMail{MessageID: m.MessageID, From: m.From, To: m.To, ReplyTo: m.ReplyTo, Subject: m.Subject, Text: m.Text, HTML: m.HTML, Files: m.Files}, true
				}
			}
			return porttest.SentMail{}, false
		},
	}
}

func TestMailerWritesFileAndSummary(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "not", "yet")
	var out bytes.Buffer
	m := message(t)
	if err := consolemail.New(dir, &out).Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("mail directory: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("mail directory mode = %o, want 700", perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := m.ID() + ".eml"
	if len(entries) != 1 || entries[0].Name() != want {
		t.Fatalf("directory holds %v, want only %s (no temporary files left)", entries, want)
	}
	path := filepath.Join(dir, want)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mail file: %v, %v; want mode 600", fi, err)
	}
	line := out.String()
	for _, s := range []string{"ops@example.com", `"Disk almost full"`, path} {
		if !strings.Contains(line, s) {
			t.Errorf("summary %q lacks %q", line, s)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("summary %q is not one line", line)
	}
}

func TestMailerUnwritableDirectory(t *testing.T) {
	t.Parallel()
	// A regular file where the directory should be defeats even root,
	// unlike permission bits.
	dir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m := message(t)
	err := consolemail.New(dir, io.Discard).Send(t.Context(), m)
	if err == nil {
		t.Fatal("Send into a file: err = nil, want an error")
	}
	if k := domain.KindOf(err); k != domain.KindInternal {
		t.Errorf("kind = %v, want internal", k)
	}
	if !strings.Contains(err.Error(), m.ID()) || !strings.Contains(err.Error(), dir) {
		t.Errorf("err = %q, want the message ID and the directory in it", err)
	}
}

func TestMailerZeroMessage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := consolemail.New(dir, io.Discard).Send(t.Context(), domain.Message{}); err == nil {
		t.Fatal("Send(zero Message): err = nil, want an error")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("directory holds %v, want nothing", entries)
	}
}

func TestReadFileBase64(t *testing.T) {
	t.Parallel()
	// Other tools (a mail client's "save as") write base64 bodies; ReadFile
	// must not depend on the writer being this package.
	eml := "Message-ID: <x@keel>\r\nFrom: a@example.com\r\nTo: b@example.com\r\n" +
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nR3LDvMOfZQ==\r\n"
	path := filepath.Join(t.TempDir(), "x.eml")
	if err := os.WriteFile(path, []byte(eml), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := consolemail.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if m.Subject != "Grüße" || m.Text != "Grüße" || m.MessageID != "<x@keel>" {
		t.Errorf("ReadFile = %+v", m)
	}
}

func message(t *testing.T) domain.Message {
	t.Helper()
	m, err := domain.NewMessage(domain.MessageInput{
		From:    "keel@example.com",
		To:      []string{"ops@example.com"},
		Subject: "Disk almost full",
		Text:    "Only 1% left.",
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}
