package messaging_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/adapters/inmem"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// filesMailer is the in-memory mailer that also takes files, keeping each
// file's bytes as its Open streamed them.
type filesMailer struct {
	*inmem.Mailer
	mu    sync.Mutex
	files map[string][]byte // by name
}

func (m *filesMailer) SendWithAttachments(ctx context.Context, msg domain.Message, files []ports.MailAttachment) error {
	for _, f := range files {
		rc, err := f.Open(ctx)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return err
		}
		m.mu.Lock()
		m.files[f.Name] = b
		m.mu.Unlock()
	}
	return m.Send(ctx, msg)
}

// queueWithFiles stores a notification that attaches a file in the blob
// store and one that was erased before the dispatcher came to it.
func queueWithFiles(t *testing.T, f *fixture, blobs ports.BlobStore, body []byte) string {
	t.Helper()
	if _, err := blobs.Put(t.Context(), "submissions/ws_x/sub_x/1", "application/pdf", int64(len(body)), bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	m, err := domain.NewMessage(domain.MessageInput{From: "keel@example.com", To: []string{"team@example.com"}, Subject: "New submission", Text: "Files:\n",
		Attachments: []domain.MessageAttachment{
			{Name: "kept.pdf", ContentType: "application/pdf", Size: int64(len(body)), Key: "submissions/ws_x/sub_x/1"},
			{Name: "erased.pdf", ContentType: "application/pdf", Size: 10, Key: "submissions/ws_x/sub_x/2"},
		}}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.tx(t, func(ctx context.Context, st ports.Stores) error {
		return st.Outbox().Add(ctx, domain.NewOutboxMessage(m, f.ws.ID(), "", domain.KindNotification, "", f.clock.Now()))
	})
	if got := f.message(t, m.ID()).Message.Attachments(); len(got) != 2 || got[1].Key != "submissions/ws_x/sub_x/2" {
		t.Fatalf("stored attachments = %+v", got)
	}
	return m.ID()
}

// TestDispatcherAttachesFilesAndNotesErasedOnes: the dispatcher streams a
// message's files from the blob store to the mailer; a file erased since
// the message was queued is left out and the message says so, and the
// message is sent at the first attempt rather than failing.
func TestDispatcherAttachesFilesAndNotesErasedOnes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	blobs, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("%PDF-1.4\n\x00\xff"), 1000)
	id := queueWithFiles(t, f, blobs, body)
	mailer := &filesMailer{Mailer: inmem.NewMailer(), files: map[string][]byte{}}
	dispatch(t, f.dispatcher(t, messaging.DispatcherConfig{Mailer: mailer, Blobs: blobs}), 1)
	if m := f.message(t, id); m.Status != domain.OutboxSent || len(m.Attempts) != 1 {
		t.Fatalf("status %s after %d attempts", m.Status, len(m.Attempts))
	}
	if got, ok := mailer.files["kept.pdf"]; !ok || !bytes.Equal(got, body) || len(mailer.files) != 1 {
		t.Fatalf("attached %d files; kept.pdf %d bytes, want %d", len(mailer.files), len(got), len(body))
	}
	sent := mailer.Sent()
	if len(sent) != 1 || len(sent[0].Attachments()) != 1 || !strings.Contains(sent[0].Text(), "deleted before this message was sent, so they are not attached: erased.pdf.") {
		t.Fatalf("sent = %+v", sent)
	}
}

// TestDispatcherWithoutFilesNotesThem: a mailer that cannot attach, or a
// dispatcher without a blob store, sends the message with a note naming
// its files instead.
func TestDispatcherWithoutFilesNotesThem(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	blobs, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := queueWithFiles(t, f, blobs, []byte("%PDF-1.4\n"))
	dispatch(t, f.dispatcher(t, messaging.DispatcherConfig{Blobs: blobs}), 1)
	if m := f.message(t, id); m.Status != domain.OutboxSent {
		t.Fatalf("status %s", m.Status)
	}
	sent := f.mailer.Sent()
	if len(sent) != 1 || len(sent[0].Attachments()) != 0 || !strings.Contains(sent[0].Text(), "could not be attached to this message: kept.pdf, erased.pdf.") {
		t.Fatalf("sent = %+v", sent)
	}
}
