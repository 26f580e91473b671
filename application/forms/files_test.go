package forms_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func newFileFixture(t *testing.T) (*fixture, ports.BlobStore, domain.Form) {
	t.Helper()
	store, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 100, func(c *forms.Config) { c.Blobs = store })
	in := contactInput()
	in.Fields = append(in.Fields, domain.Field{Name: "cv", Type: domain.FieldFile, Accept: []string{"pdf"}})
	form, err := f.svc.CreateForm(t.Context(), f.owner, "site", in)
	if err != nil {
		t.Fatal(err)
	}
	return f, store, form
}

func storedKeys(t *testing.T, s ports.BlobStore) []string {
	t.Helper()
	blobs, _, err := s.List(context.Background(), "submissions/", "", ports.MaxBlobListLimit)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, b := range blobs {
		keys = append(keys, b.Key)
	}
	return keys
}

// submitWithFile stores a PDF through Uploads and submits it for email.
func submitWithFile(t *testing.T, f *fixture, form domain.Form, email string) (domain.Submission, error) {
	t.Helper()
	up, err := f.svc.StartUploads(t.Context(), form.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Put(t.Context(), "cv", "cv.pdf", strings.NewReader("%PDF-1.4\n")); err != nil {
		t.Fatal(err)
	}
	in := submission(form.ID(), "name", "N", "email", email)
	in.Uploads = up
	out, err := f.svc.Submit(t.Context(), in)
	return out.Submission, err
}

// TestOrphanFilesAreSweptOnceOld: files stored for a submission that never
// committed (a crash between upload and commit) are deleted by the sweep
// once older than its age, never before, and a committed submission's
// file stays. The service's clock is moved past the files' real times.
func TestOrphanFilesAreSweptOnceOld(t *testing.T) {
	t.Parallel()
	f, store, form := newFileFixture(t)
	f.clock.Add(time.Since(f.clock.Now())) // the files' times are real
	kept, err := submitWithFile(t, f, form, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	crashed, err := f.svc.StartUploads(t.Context(), form.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := crashed.Put(t.Context(), "cv", "lost.pdf", strings.NewReader("%PDF-1.4\n")); err != nil {
		t.Fatal(err)
	}
	if keys := storedKeys(t, store); len(keys) != 2 {
		t.Fatalf("stored = %v", keys)
	}
	f.clock.Add(forms.OrphanFileAge - time.Minute)
	if n, err := f.svc.SweepOrphanFiles(t.Context(), forms.OrphanFileAge); err != nil || n != 0 {
		t.Fatalf("sweep before the age = %d, %v", n, err)
	}
	f.clock.Add(2 * time.Minute)
	if n, err := f.svc.SweepOrphanFiles(t.Context(), forms.OrphanFileAge); err != nil || n != 1 {
		t.Fatalf("sweep after the age = %d, %v", n, err)
	}
	if keys := storedKeys(t, store); len(keys) != 1 || !strings.Contains(keys[0], string(kept.ID())) {
		t.Fatalf("left = %v, want %s's file", keys, kept.ID())
	}
}

// TestRefusedSubmissionDeletesItsFiles: a submission refused after its file
// was stored (an invalid e-mail, the rate limit) leaves no file.
func TestRefusedSubmissionDeletesItsFiles(t *testing.T) {
	t.Parallel()
	f, store, form := newFileFixture(t)
	if _, err := submitWithFile(t, f, form, "not an address"); err == nil {
		t.Fatal("an invalid submission was accepted")
	}
	if keys := storedKeys(t, store); len(keys) != 0 {
		t.Fatalf("left = %v", keys)
	}
	up, err := f.svc.StartUploads(t.Context(), form.ID())
	if err != nil {
		t.Fatal(err)
	}
	err = up.Put(t.Context(), "cv", "page.pdf", strings.NewReader("<!doctype html><script>alert(1)</script>"))
	var de *domain.Error
	if !errors.As(err, &de) || len(de.Fields) != 1 || de.Fields[0].Code != "file_type" {
		t.Fatalf("an HTML file as a PDF: %v", err)
	}
	if keys := storedKeys(t, store); len(keys) != 0 {
		t.Fatalf("left = %v", keys)
	}
}

// TestErasureAndRetentionDeleteFiles: erasing a person's data and the
// form's retention delete the submissions' files with them.
func TestErasureAndRetentionDeleteFiles(t *testing.T) {
	t.Parallel()
	f, store, form := newFileFixture(t)
	for _, e := range []string{"bob@example.com", "ada@example.com"} {
		if _, err := submitWithFile(t, f, form, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.Erase(t.Context(), f.owner, "site", "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if keys := storedKeys(t, store); len(keys) != 1 {
		t.Fatalf("after erasure = %v", keys)
	}
	f.clock.Add(31 * 24 * time.Hour)
	if n, err := f.svc.ApplyRetention(t.Context()); err != nil || n != 1 {
		t.Fatalf("retention = %d, %v", n, err)
	}
	if keys := storedKeys(t, store); len(keys) != 0 {
		t.Fatalf("after retention = %v", keys)
	}
}

// TestNotificationNamesAndLinksFiles: the notification lists each file
// with its size and a signed link that opens it; nothing is attached.
func TestNotificationNamesAndLinksFiles(t *testing.T) {
	t.Parallel()
	f, _, form := newFileFixture(t)
	f.svc.SetLinkBase("https://api.example.com/")
	sub, err := submitWithFile(t, f, form, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for _, m := range f.outbox(t) {
		if m.Kind == domain.KindNotification {
			text = m.Message.Text()
		}
	}
	_, rest, ok := strings.Cut(text, "- cv.pdf (9 bytes) https://api.example.com/v1/submission-files/")
	if !ok {
		t.Fatalf("notification:\n%s", text)
	}
	link, _, _ := strings.Cut(rest, "\n")
	path, query, _ := strings.Cut(link, "?")
	parts := strings.Split(path, "/")
	q, _ := url.ParseQuery(query)
	rc, file, err := f.svc.OpenFile(t.Context(), domain.WorkspaceID(parts[0]), domain.SubmissionID(parts[1]), parts[2], q.Get("expires"), q.Get("sig"))
	if err != nil || file.Name != "cv.pdf" || parts[1] != string(sub.ID()) {
		t.Fatalf("the notification's link opens %+v, %v", file, err)
	}
	_ = rc.Close()
}

// TestFailedTransactionsAndFiles: a submission whose transaction fails
// deletes the files it stored; an erasure whose transaction fails keeps
// the files of the submissions it did not delete.
func TestFailedTransactionsAndFiles(t *testing.T) {
	t.Parallel()
	store, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	refuse := new(atomic.Bool)
	f := newFixture(t, 100, func(c *forms.Config) { c.Blobs, c.UoW = store, refusingEvents{c.UoW, refuse} })
	in := contactInput()
	in.Fields = append(in.Fields, domain.Field{Name: "cv", Type: domain.FieldFile})
	form, err := f.svc.CreateForm(t.Context(), f.owner, "site", in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := submitWithFile(t, f, form, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	refuse.Store(true)
	if _, err := submitWithFile(t, f, form, "bob@example.com"); !errors.Is(err, errEventRefused) {
		t.Fatalf("Submit = %v, want the refusal", err)
	}
	if keys := storedKeys(t, store); len(keys) != 1 {
		t.Fatalf("after the failed submission: %v", keys)
	}
	if _, err := f.svc.Erase(t.Context(), f.owner, "site", "ada@example.com"); !errors.Is(err, errEventRefused) {
		t.Fatalf("Erase = %v, want the refusal", err)
	}
	if keys := storedKeys(t, store); len(keys) != 1 {
		t.Fatalf("after the failed erasure: %v", keys)
	}
}
