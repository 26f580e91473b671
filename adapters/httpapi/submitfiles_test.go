package httpapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/ports"
)

// pngBytes is the start of a PNG: its signature and an IHDR chunk, which
// is what sniffing reads.
var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"), bytes.Repeat([]byte{0}, 64)...)

// fileForm has a file field taking up to two images or PDFs of at most
// 1,000 bytes each, beside a required e-mail.
func fileForm() map[string]any {
	return map[string]any{
		"name": "Jobs",
		"fields": []map[string]any{
			{"name": "email", "type": "email", "required": true},
			{"name": "cv", "type": "file", "max_files": 2, "max_file_size": 1000, "accept": []string{"image", "pdf"}},
		},
	}
}

type filePart struct{ field, name, content string }

func multipartFiles(t testing.TB, fields [][2]string, files []filePart) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, kv := range fields {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		w, err := mw.CreateFormFile(f.field, f.name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(f.content))
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), &buf
}

func blobKeys(t testing.TB, s ports.BlobStore) []string {
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

func newFileFixture(t *testing.T) (*formsFixture, ports.BlobStore, string) {
	t.Helper()
	store, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFormsFixture(t, fixtureOptions{blobs: store, publicURL: "https://api.example.com"})
	return f, store, f.createForm(t, fileForm())
}

// TestSubmitFiles: a file part streams to the blob store; the submission
// lists the file with a signed link that serves it as an attachment until
// it expires, and a tampered link is refused.
func TestSubmitFiles(t *testing.T) {
	t.Parallel()
	f, store, id := newFileFixture(t)
	ct, body := multipartFiles(t, [][2]string{{"email", "ada@example.com"}}, []filePart{
		{"cv", `..\C:/x/"my cv"<b>.png`, string(pngBytes)}, {"cv", "scan.pdf", "%PDF-1.7\n%âãÏÓ\n"},
	})
	sub := decodeBody[submittedResponse](t, f.post(t, id, ct, body), http.StatusCreated)
	if keys := blobKeys(t, store); len(keys) != 2 || !strings.Contains(keys[0], sub.ID) {
		t.Fatalf("blobs = %v", keys)
	}
	got := decodeBody[submissionResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/submissions/"+sub.ID, nil), http.StatusOK)
	if len(got.Files) != 2 || got.Files[0].Name != "_my cv__b_.png" || got.Files[0].ContentType != "image/png" ||
		got.Files[0].Size != int64(len(pngBytes)) || got.Files[1].ContentType != "application/pdf" || got.Files[0].Field != "cv" {
		t.Fatalf("files = %+v", got.Files)
	}
	if names, _ := got.Values["cv"].([]any); len(names) != 2 || names[0] != "_my cv__b_.png" {
		t.Fatalf("values = %v", got.Values)
	}
	link, err := url.Parse(got.Files[0].URL)
	if err != nil || link.Host != "api.example.com" {
		t.Fatalf("url = %q", got.Files[0].URL)
	}
	w := f.get(t, link.RequestURI())
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), pngBytes) ||
		w.Header().Get("Content-Disposition") != `attachment; filename="_my cv__b_.png"` ||
		w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("download: %d %v", w.Code, w.Header())
	}
	q := link.Query()
	q.Set("sig", strings.Repeat("A", len(q.Get("sig"))))
	decodeProblem(t, f.get(t, link.Path+"?"+q.Encode()), http.StatusForbidden, "invalid_file_link")
	f.clock.Add(16 * time.Minute)
	decodeProblem(t, f.get(t, link.RequestURI()), http.StatusForbidden, "invalid_file_link")
}

// TestSubmitFilesRefusedLeaveNoBlob: a file the field refuses, and a
// submission refused after its files were stored (invalid values, a closed
// form), leave nothing in the blob store.
func TestSubmitFilesRefusedLeaveNoBlob(t *testing.T) {
	t.Parallel()
	f, store, id := newFileFixture(t)
	for _, c := range []struct {
		name   string
		fields [][2]string
		files  []filePart
		code   string
		field  string
	}{
		{"invalid email after a stored file", [][2]string{{"email", "nope"}}, []filePart{{"cv", "a.png", string(pngBytes)}}, "validation_failed", "email"},
		{"html posing as an image", [][2]string{{"email", "a@example.com"}}, []filePart{{"cv", "a.png", "<html><script>alert(1)</script>"}}, "validation_failed", "cv"},
		{"too large", [][2]string{{"email", "a@example.com"}}, []filePart{{"cv", "a.png", string(pngBytes) + strings.Repeat("x", 1000)}}, "validation_failed", "cv"},
		{"too many", [][2]string{{"email", "a@example.com"}}, []filePart{{"cv", "a.png", string(pngBytes)}, {"cv", "b.png", string(pngBytes)}, {"cv", "c.png", string(pngBytes)}}, "validation_failed", "cv"},
		{"a text field's file", [][2]string{}, []filePart{{"cv", "a.png", string(pngBytes)}, {"email", "b.png", string(pngBytes)}}, "unknown_field", "email"},
	} {
		ct, body := multipartFiles(t, c.fields, c.files)
		p := decodeProblem(t, f.invalid().post(t, id, ct, body), http.StatusUnprocessableEntity, c.code)
		if len(p.Errors) == 0 || p.Errors[0].Field != c.field {
			t.Errorf("%s: errors = %+v", c.name, p.Errors)
		}
		if keys := blobKeys(t, store); len(keys) != 0 {
			t.Fatalf("%s: blobs left = %v", c.name, keys)
		}
	}
	f.api(t, http.MethodPatch, "/v1/workspaces/acme/forms/"+id, map[string]any{"status": "closed"})
	ct, body := multipartFiles(t, [][2]string{{"email", "a@example.com"}}, []filePart{{"cv", "a.png", string(pngBytes)}})
	decodeProblem(t, f.post(t, id, ct, body), http.StatusGone, "form_closed")
	if keys := blobKeys(t, store); len(keys) != 0 {
		t.Fatalf("closed form: blobs left = %v", keys)
	}
}

// TestSubmissionFilesErasedAndExported: an export names each file with
// its link; erasing the submitter's data deletes the files too.
func TestSubmissionFilesErasedAndExported(t *testing.T) {
	t.Parallel()
	f, store, id := newFileFixture(t)
	ct, body := multipartFiles(t, [][2]string{{"email", "ada@example.com"}}, []filePart{{"cv", "cv.pdf", "%PDF-1.4\n"}})
	decodeBody[submittedResponse](t, f.post(t, id, ct, body), http.StatusCreated)
	ct, body = multipartFiles(t, [][2]string{{"email", "bob@example.com"}}, []filePart{{"cv", "b.pdf", "%PDF-1.4\n"}})
	decodeBody[submittedResponse](t, f.post(t, id, ct, body), http.StatusCreated)

	w := f.api(t, http.MethodGet, "/v1/workspaces/acme/forms/"+id+"/submissions/export?format=csv", nil)
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][4] != "cv" || !strings.HasPrefix(rows[2][4], "cv.pdf <https://api.example.com/v1/submission-files/") {
		t.Fatalf("export = %q, %v", rows, err)
	}
	decodeBody[map[string]int](t, f.api(t, http.MethodPost, "/v1/workspaces/acme/erasure", map[string]string{"email": "ada@example.com"}), http.StatusOK)
	if keys := blobKeys(t, store); len(keys) != 1 {
		t.Fatalf("blobs after erasure = %v", keys)
	}
}
