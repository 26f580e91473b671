package mimemail_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/internal/mimemail"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func file(name, ct string, b []byte) ports.MailAttachment {
	return ports.MailAttachment{Name: name, ContentType: ct, Size: int64(len(b)),
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// TestComposeWithFilesParsesBack: a message with a text body and two
// files, one with a name outside ASCII, is multipart/mixed that Go's
// mime/multipart reads back: the body first, then each file as a base64
// attachment whose Content-Disposition names it (RFC 2231 for the
// non-ASCII one), whose Content-Type's name is the same name (RFC 2047),
// and whose bytes are the file's.
func TestComposeWithFilesParsesBack(t *testing.T) {
	m, err := domain.NewMessage(domain.MessageInput{From: "Keel <keel@example.com>", To: []string{"team@example.com"},
		Subject: "New submission", Text: "See the files."}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{0, 0xff, '\n', 'x'}, 300)...)
	png := []byte("\x89PNG\r\n\x1a\nbinary")
	names := []string{`cv "final".pdf`, "résumé 日本語 – a long name that an encoder folds or splits.png"}
	var out bytes.Buffer
	msg := mimemail.ComposeWithFiles(t.Context(), m, nil, []ports.MailAttachment{file(names[0], "application/pdf", pdf), file(names[1], "image/png", png)})
	if _, err := msg.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	parsed, err := mail.ReadMessage(&out)
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type = %q, %v", parsed.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(parsed.Body, params["boundary"])
	body, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if text, _ := io.ReadAll(body); !strings.Contains(string(text), "See the files.") {
		t.Errorf("body = %q", text)
	}
	want := [][]byte{pdf, png}
	var dec mime.WordDecoder
	for i := range want {
		p, err := r.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		for _, h := range []string{"Content-Disposition", "Content-Type"} {
			if v := p.Header.Get(h); strings.ContainsFunc(v, func(r rune) bool { return r > 0x7e }) {
				t.Errorf("part %d: %s holds raw non-ASCII: %q", i, h, v)
			}
		}
		disp, dp, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		if err != nil || disp != "attachment" || dp["filename"] != names[i] || p.FileName() != names[i] {
			t.Errorf("part %d: Content-Disposition %q: %s %v, %v", i, p.Header.Get("Content-Disposition"), disp, dp, err)
		}
		_, cp, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("part %d: Content-Type %q: %v", i, p.Header.Get("Content-Type"), err)
		}
		if name, err := dec.DecodeHeader(cp["name"]); err != nil || name != names[i] {
			t.Errorf("part %d: Content-Type name %q decodes to %q, %v", i, cp["name"], name, err)
		}
		if p.Header.Get("Content-Transfer-Encoding") != "base64" {
			t.Errorf("part %d: Content-Transfer-Encoding %q", i, p.Header.Get("Content-Transfer-Encoding"))
		}
		got, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil || !bytes.Equal(got, want[i]) {
			t.Errorf("part %d: %d bytes, %v; want the file's %d", i, len(got), err, len(want[i]))
		}
	}
	if _, err := r.NextPart(); !errors.Is(err, io.EOF) {
		t.Errorf("after the files: %v", err)
	}
}

// TestComposeWithFilesFailsOnAFileThatCannotBeRead: a file whose bytes
// cannot be opened fails the writing of the message, so that no mailer
// sends it without saying so.
func TestComposeWithFilesFailsOnAFileThatCannotBeRead(t *testing.T) {
	m, _ := domain.NewMessage(domain.MessageInput{From: "keel@example.com", To: []string{"team@example.com"}, Subject: "S", Text: "T"}, time.Now())
	gone := ports.MailAttachment{Name: "a.pdf", ContentType: "application/pdf", Open: func(context.Context) (io.ReadCloser, error) {
		return nil, domain.ErrNotFound
	}}
	if _, err := mimemail.ComposeWithFiles(t.Context(), m, nil, []ports.MailAttachment{gone}).WriteTo(io.Discard); err == nil {
		t.Fatal("a message with an unreadable file was written")
	}
}
