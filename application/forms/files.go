package forms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// fileKeyPrefix holds every submission's files in the blob store, under
// submissions/<workspace>/<submission>/<n>: the key names the submission,
// so that the sweep can tell an orphan (a crash between the upload and the
// submission's commit) from a file a submission holds, and deleting a
// submission's files needs nothing but its IDs.
const fileKeyPrefix = "submissions/"

// FileLinkTTL is how long a download link of a submission's file works.
const FileLinkTTL = 15 * time.Minute

// ExportFileLinkTTL is how long the file links of an export work: an
// export is read long after it is made, but not forever.
const ExportFileLinkTTL = 7 * 24 * time.Hour

// NotificationFileLinkTTL is how long the file links of a notification
// work: mail is read days later, not minutes.
const NotificationFileLinkTTL = 7 * 24 * time.Hour

// SetLinkBase sets the absolute base URL of the API (KEEL_PUBLIC_URL or
// the address serve listens on) that notifications' file links start
// with; without one they carry paths. Call it before serving.
func (s *Service) SetLinkBase(base string) { s.linkBase = strings.TrimSuffix(base, "/") }

// notificationLink is the link a notification gives a file.
func (s *Service) notificationLink(f domain.SubmissionFile) string {
	return s.linkBase + s.FileLink(f, NotificationFileLinkTTL)
}

// OrphanFileAge is how old a stored file that no submission holds must be
// before SweepOrphanFiles deletes it. A submission's transaction commits
// within seconds of its last upload; an hour leaves any upload still under
// way alone.
const OrphanFileAge = time.Hour

// Errors of file uploads and downloads.
var (
	ErrUploadsUnavailable = domain.E(domain.KindInvalid, "unsupported_media_type", "This Keel stores no files; send text fields only.")
	errFileLink           = domain.E(domain.KindForbidden, "invalid_file_link", "The link is invalid or has expired; open the submission again for a new one.")
	errNotFileField       = domain.ErrUnknownField
	errStoreFile          = domain.E(domain.KindInternal, "file_store_failed", "The file could not be stored.")
)

func fileKey(ws domain.WorkspaceID, id domain.SubmissionID, n int) string {
	return fileKeyPrefix + string(ws) + "/" + string(id) + "/" + strconv.Itoa(n)
}

func filePrefix(ws domain.WorkspaceID, id domain.SubmissionID) string {
	return fileKeyPrefix + string(ws) + "/" + string(id) + "/"
}

// parseFileKey splits a key fileKey made; ok is false for any other key.
func parseFileKey(key string) (ws domain.WorkspaceID, id domain.SubmissionID, ok bool) {
	parts := strings.Split(strings.TrimPrefix(key, fileKeyPrefix), "/")
	if !strings.HasPrefix(key, fileKeyPrefix) || len(parts) != 3 ||
		!domain.ValidID(domain.PrefixSubmission, parts[1]) {
		return "", "", false
	}
	return domain.WorkspaceID(parts[0]), domain.SubmissionID(parts[1]), true
}

// Uploads stores the files of one submission as its request streams them
// in, before the submission's transaction: the files go to the blob store
// under the ID the submission will take, and Submit (or Discard, when the
// request fails first) deletes them again unless the submission commits.
type Uploads struct {
	s     *Service
	form  domain.Form
	id    domain.SubmissionID
	files map[string][]domain.SubmissionFile
	keys  []string
}

// StartUploads begins a submission's uploads to form. A closed or unknown
// form is refused here, before any byte is stored.
func (s *Service) StartUploads(ctx context.Context, form domain.FormID) (_ *Uploads, err error) {
	ctx, end := usecase.Start(ctx, "forms.StartUploads")
	defer end(&err)
	if s.blobs == nil {
		return nil, ErrUploadsUnavailable
	}
	if !domain.ValidID(domain.PrefixForm, string(form)) {
		return nil, errNoSuchForm
	}
	f, _, hit := s.formCache.get(form, s.now())
	if !hit {
		if f, _, err = s.readForm(ctx, form); err != nil {
			return nil, err
		}
	}
	if f.Status() == domain.FormClosed {
		return nil, domain.ErrFormClosed
	}
	return &Uploads{s: s, form: f, id: domain.SubmissionID(domain.NewID(domain.PrefixSubmission, s.now())), files: map[string][]domain.SubmissionFile{}}, nil
}

// sniffLen is how many bytes the type of a file is told from.
const sniffLen = 512

// Put streams one file of field to the blob store, never holding it whole
// in memory. name is the name the browser sent, which is sanitised; the
// type is sniffed from the first bytes, and a file of a kind the field
// does not accept, over its size, or one too many is refused with the
// field named, and nothing of it is kept. A part with no name and no
// bytes is a file input left empty, which browsers still send: it is
// skipped.
func (u *Uploads) Put(ctx context.Context, field, name string, r io.Reader) (err error) {
	ctx, end := usecase.Start(ctx, "forms.PutUpload")
	defer end(&err)
	fd, ok := u.form.FileField(field)
	if !ok {
		return errNotFileField.WithFields(domain.FieldError{Field: field, Code: "unknown_field", Message: "The form has no file field with this name."})
	}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	head = head[:n]
	if n == 0 && name == "" {
		return nil
	}
	if len(u.files[field]) >= fd.FileCount() {
		return fd.FileError("too_many_files", "Send at most "+strconv.Itoa(fd.FileCount())+" files.")
	}
	if n == 0 {
		return fd.FileError("empty_file", "The file is empty.")
	}
	name = domain.SanitizeFileName(name)
	contentType, kind := sniffFile(head, name)
	if !fd.AcceptsKind(kind) {
		return fd.FileError("file_type", "Send a file of these kinds: "+strings.Join(acceptedKinds(fd), ", ")+".")
	}
	key := fileKey(u.form.Workspace(), u.id, len(u.keys)+1)
	lr := &limitedReader{r: io.MultiReader(bytes.NewReader(head), r), left: fd.FileSize()}
	info, err := u.s.blobs.Put(ctx, key, contentType, -1, lr)
	if lr.over {
		return fd.FileError("file_too_large", "Send files of at most "+domain.FormatBytes(fd.FileSize())+".")
	}
	if lr.readErr != nil {
		// The request's body failed (cut short, over the body limit): the
		// caller answers that, not the store.
		return lr.readErr
	}
	if err != nil {
		var de *domain.Error
		if errors.As(err, &de) {
			return fmt.Errorf("store file of %s: %w", field, err)
		}
		return errStoreFile.WithCause(err)
	}
	u.keys = append(u.keys, key)
	u.files[field] = append(u.files[field], domain.SubmissionFile{Name: name, ContentType: contentType, Size: info.Size, Key: key})
	return nil
}

func acceptedKinds(fd domain.Field) []string {
	if len(fd.Accept) == 0 {
		return domain.FileKinds
	}
	return fd.Accept
}

// errFileOverLimit ends a Put whose reader passed the field's size.
var errFileOverLimit = errors.New("file over its field's limit")

// limitedReader fails once more than left bytes were read, so that the
// blob store's Put fails and keeps nothing.
type limitedReader struct {
	r       io.Reader
	left    int64
	over    bool
	readErr error // the reader's own failure, io.EOF aside
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		l.over = true
		return 0, errFileOverLimit
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		l.readErr = err
	}
	l.left -= int64(n)
	if l.left < 0 {
		l.over = true
		return n, errFileOverLimit
	}
	return n, err
}

// Discard deletes every file stored so far: the submission failed. It
// runs even after the request's context ended (a client that went away);
// what it cannot delete the sweep deletes later.
func (u *Uploads) Discard(ctx context.Context) {
	if u == nil || len(u.keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, k := range u.keys {
		if err := u.s.blobs.Delete(ctx, k); err != nil {
			u.s.log.WarnContext(ctx, "a failed submission's file stays for the sweep", "key", k, "err", err)
		}
	}
	u.keys = nil
}

// raw adds the uploads to raw, which Accept then checks against the form.
func (u *Uploads) raw(raw domain.RawSubmission) domain.RawSubmission {
	if u == nil {
		return raw
	}
	raw.ID, raw.Files = u.id, u.files
	return raw
}

// officeTypes maps the extensions of office documents to their types.
// Their bytes say only "a zip archive" (OOXML, OpenDocument) or "an OLE2
// compound file" (the older formats); the extension says which.
var officeTypes = map[string]string{
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".odt":  "application/vnd.oasis.opendocument.text",
	".ods":  "application/vnd.oasis.opendocument.spreadsheet",
	".odp":  "application/vnd.oasis.opendocument.presentation",
	".doc":  "application/msword",
	".xls":  "application/vnd.ms-excel",
	".ppt":  "application/vnd.ms-powerpoint",
}

var ole2Magic = []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}

// sniffFile tells a file's type and kind (domain.FileKinds) from its first
// bytes, never from what the client said: JPEG, PNG, GIF and WebP
// (domain.SniffMedia) are images, a PDF a pdf, UTF-8 text that does not
// start with markup text, and a zip or OLE2 file whose name ends in an
// office extension an office document. Anything else is
// application/octet-stream of no kind, which no field accepts.
func sniffFile(head []byte, name string) (contentType, kind string) {
	ext := strings.ToLower(path.Ext(name))
	switch ct, err := domain.SniffMedia(head); {
	case err == nil && (ct == domain.MediaJPEG || ct == domain.MediaPNG || ct == domain.MediaGIF || ct == domain.MediaWebP):
		return ct, "image"
	case err == nil && ct == domain.MediaPDF:
		return ct, "pdf"
	case bytes.HasPrefix(head, zipMagic) && officeTypes[ext] != "" && ext != ".doc" && ext != ".xls" && ext != ".ppt":
		return officeTypes[ext], "office"
	case bytes.HasPrefix(head, ole2Magic) && (ext == ".doc" || ext == ".xls" || ext == ".ppt"):
		return officeTypes[ext], "office"
	case isPlainText(head):
		return "text/plain; charset=utf-8", "text"
	}
	return ports.DefaultBlobContentType, ""
}

var zipMagic = []byte("PK\x03\x04")

// isPlainText reports whether head, a file's first bytes, is UTF-8 text
// without control characters other than tab, line feed, form feed,
// carriage return and escape, and does not start, after blank space, with
// "<": HTML, XML and SVG, which a browser could be made to run, are not
// plain text, and neither is a plain text that starts so. head may end in
// the middle of a character, which is not held against it.
func isPlainText(head []byte) bool {
	if len(head) == 0 {
		return false
	}
	if t := bytes.TrimLeft(head, " \t\r\n\f"); len(t) > 0 && t[0] == '<' {
		return false
	}
	for cut := 0; cut < utf8.UTFMax && !utf8.Valid(head); cut++ {
		if len(head) < sniffLen {
			return false // the whole file, not a cut: invalid
		}
		head = head[:len(head)-1]
	}
	if !utf8.Valid(head) {
		return false
	}
	for _, c := range head {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r' && c != 0x1b || c == 0x7f {
			return false
		}
	}
	return true
}

// fileKeyMAC keys the signatures of download links, derived from the key
// of IP hashes so that nodes sharing one share the other.
func (s *Service) fileKeyMAC() []byte {
	m := hmac.New(sha256.New, s.ipKey)
	m.Write([]byte("keel submission file links"))
	return m.Sum(nil)
}

func (s *Service) signFile(key string, expires int64) string {
	m := hmac.New(sha256.New, s.fileKeyMAC())
	m.Write([]byte(key + "\n" + strconv.FormatInt(expires, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// FileLink returns the path, with its query, of a download link of file
// that works for ttl: /v1/submission-files/<workspace>/<submission>/<n>.
func (s *Service) FileLink(file domain.SubmissionFile, ttl time.Duration) string {
	exp := s.now().Add(ttl).Unix()
	return "/v1/submission-files/" + strings.TrimPrefix(file.Key, fileKeyPrefix) +
		"?expires=" + strconv.FormatInt(exp, 10) + "&sig=" + s.signFile(file.Key, exp)
}

// OpenFile returns a submission's file for a download link FileLink made:
// its signature must match and its time must not have passed. The
// submission must still hold the file, so a link dies with an erased
// submission. The caller closes the reader.
func (s *Service) OpenFile(ctx context.Context, ws domain.WorkspaceID, id domain.SubmissionID, n, expires, sig string) (_ io.ReadCloser, _ domain.SubmissionFile, err error) {
	ctx, end := usecase.Start(ctx, "forms.OpenFile")
	defer end(&err)
	if s.blobs == nil || !domain.ValidID(domain.PrefixSubmission, string(id)) || !domain.ValidID(domain.PrefixWorkspace, string(ws)) {
		return nil, domain.SubmissionFile{}, errFileLink
	}
	idx, err := strconv.Atoi(n)
	exp, err2 := strconv.ParseInt(expires, 10, 64)
	if err != nil || err2 != nil || idx < 1 {
		return nil, domain.SubmissionFile{}, errFileLink
	}
	key := fileKey(ws, id, idx)
	if !hmac.Equal([]byte(sig), []byte(s.signFile(key, exp))) || s.now().Unix() > exp {
		return nil, domain.SubmissionFile{}, errFileLink
	}
	var file domain.SubmissionFile
	err = s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
		sub, err := st.Submissions().Get(ctx, ws, id)
		if err != nil {
			return err
		}
		for _, f := range sub.Files() {
			if f.Key == key {
				file = f
				return nil
			}
		}
		return domain.ErrNotFound
	})
	if err != nil {
		return nil, domain.SubmissionFile{}, err
	}
	rc, _, err := s.blobs.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, domain.SubmissionFile{}, err
	}
	return rc, file, nil
}

// deleteFiles deletes the files of deleted submissions, after their
// transaction committed: a file must never outlive its submission's
// erasure, and a rolled-back deletion must keep its files. What fails
// here is logged and left to the sweep, which finds no submission.
func (s *Service) deleteFiles(ctx context.Context, refs []domain.SubmissionRef) {
	if s.blobs == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, r := range refs {
		if err := s.deletePrefix(ctx, filePrefix(r.Workspace, r.ID)); err != nil {
			s.log.WarnContext(ctx, "a deleted submission's files stay for the sweep", "submission", string(r.ID), "err", err)
		}
	}
}

func (s *Service) deletePrefix(ctx context.Context, prefix string) error {
	for {
		blobs, _, err := s.blobs.List(ctx, prefix, "", ports.MaxBlobListLimit)
		if err != nil {
			return err
		}
		for _, b := range blobs {
			if err := s.blobs.Delete(ctx, b.Key); err != nil {
				return err
			}
		}
		if len(blobs) < ports.MaxBlobListLimit {
			return nil
		}
	}
}

// SweepOrphanFiles deletes the stored files older than olderThan whose
// submission does not exist: a crash (kill -9, power loss) between a
// submission's uploads and its commit leaves them, and so does a failed
// clean-up. It returns how many it deleted. serve runs it hourly.
func (s *Service) SweepOrphanFiles(ctx context.Context, olderThan time.Duration) (deleted int, err error) {
	ctx, end := usecase.Start(ctx, "forms.SweepOrphanFiles")
	defer end(&err)
	if s.blobs == nil {
		return 0, nil
	}
	cutoff := s.now().Add(-olderThan)
	exists := map[domain.SubmissionID]bool{}
	after := ""
	for {
		blobs, next, err := s.blobs.List(ctx, fileKeyPrefix, after, ports.MaxBlobListLimit)
		if err != nil {
			return deleted, err
		}
		for _, b := range blobs {
			ws, id, ok := parseFileKey(b.Key)
			if !ok || !b.ModTime.Before(cutoff) {
				continue
			}
			held, seen := exists[id]
			if !seen {
				err := s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
					_, err := st.Submissions().Get(ctx, ws, id)
					return err
				})
				switch {
				case err == nil:
					held = true
				case errors.Is(err, domain.ErrNotFound):
					held = false
				default:
					return deleted, err
				}
				exists[id] = held
			}
			if held {
				continue
			}
			if err := s.blobs.Delete(ctx, b.Key); err != nil {
				return deleted, err
			}
			deleted++
		}
		if next == "" {
			return deleted, nil
		}
		after = next
	}
}
