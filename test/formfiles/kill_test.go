package formfiles

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
)

// bigPDF is a PDF of 3 MB: its upload takes long enough to be cut off.
var bigPDF = append(append([]byte{}, pdf...), bytes.Repeat([]byte("0123456789abcdef"), 3<<16)...)

// upload posts a submission whose file part comes first, writing the body
// through a pipe: held says where to stop and wait, until the test ends
// (mid-file: the blob is half written; after the file: it is stored but
// its submission not yet made). It reports the request's error when the
// request ends.
func upload(t *testing.T, e env, form string, held string) <-chan error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	done := make(chan error, 1)
	req, err := http.NewRequestWithContext(t.Context(), "POST", e.p.URL+"/v1/forms/"+form+"/submissions", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			err = res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				err = &statusError{res.StatusCode}
			}
		}
		_ = pr.CloseWithError(err)
		done <- err
	}()
	go func() {
		fw, _ := mw.CreateFormFile("cv", "cv.pdf")
		switch held {
		case "mid-file":
			_, _ = fw.Write(bigPDF[:len(bigPDF)/2])
			<-t.Context().Done()
		case "after-file":
			_, _ = fw.Write(bigPDF)
			tw, _ := mw.CreateFormField("email")
			_, _ = tw.Write([]byte("held@"))
			<-t.Context().Done()
		default:
			_, _ = fw.Write(bigPDF)
			_ = mw.WriteField("email", "done@example.com")
			_ = mw.Close()
		}
		_ = pw.Close()
	}()
	return done
}

type statusError struct{ status int }

func (e *statusError) Error() string { return http.StatusText(e.status) }

// TestKillDuringUploads: keel serve is killed with SIGKILL while some
// uploads are half sent and others have their file stored but not yet
// their submission. Started again on the same data directory, every
// submission serves its file, and the sweep (KEEL_UPLOAD_SWEEP_AGE=1s
// here, an hour by default) deletes every file no submission holds once
// it is that old, and nothing else.
func TestKillDuringUploads(t *testing.T) {
	t.Parallel()
	e := setup(t)
	form := e.fileForm(t, "")
	for range 3 {
		if err := <-upload(t, e, form, ""); err != nil {
			t.Fatalf("a whole upload: %v", err)
		}
	}
	for range 2 {
		upload(t, e, form, "mid-file")
		upload(t, e, form, "after-file")
	}
	// Wait until the held uploads' files are in the store: 3 committed
	// and 2 stored without their submissions.
	deadline := time.Now().Add(30 * time.Second)
	for len(e.blobs(t)) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("the held uploads' files never arrived: %v", e.blobs(t))
		}
		time.Sleep(20 * time.Millisecond) // polling the directory, not synchronising
	}
	e.p.Kill(t)
	// The sweep runs as serve starts: it must find the orphans older
	// than KEEL_UPLOAD_SWEEP_AGE (1s) by then, so serve starts once they
	// are, whatever the machine's load.
	for killed := time.Now(); time.Since(killed) < 1500*time.Millisecond; {
		time.Sleep(50 * time.Millisecond) // waiting out the age the setting names
	}

	e.p = keelproc.Serve(t, "serve again", []string{"KEEL_DATA_DIR=" + e.dir, "KEEL_IP_HASH_KEY=0123456789abcdef0123456789abcdef", "KEEL_UPLOAD_SWEEP_AGE=1s"})
	var login struct{ Token string }
	e.p.MustCall(t, "POST", "/v1/auth/login", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery"}, 200, &login)
	e.token = login.Token
	subs := e.submissions(t, form)
	if len(subs) != 3 {
		t.Fatalf("%d submissions after the kill, want the 3 whole ones", len(subs))
	}
	held := map[string]bool{}
	for _, s := range subs {
		if len(s.Files) != 1 {
			t.Fatalf("submission %s has files %+v", s.ID, s.Files)
		}
		res, body := e.download(t, s.Files[0].URL)
		if res.StatusCode != 200 || !bytes.Equal(body, bigPDF) {
			t.Fatalf("submission %s's file: %d, %d bytes", s.ID, res.StatusCode, len(body))
		}
		held["submissions/"+wsOf(t, s.Files[0].URL)+"/"+s.ID+"/1"] = true
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		keys := e.blobs(t)
		orphans := 0
		for _, k := range keys {
			if !held[k] {
				orphans++
			}
		}
		if orphans == 0 && len(keys) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("blobs %v, want only %v", keys, held)
		}
		time.Sleep(50 * time.Millisecond) // polling the directory
	}
	if _, err := os.Stat(filepath.Join(e.dir, "blobs")); err != nil {
		t.Fatal(err)
	}
}

// wsOf returns the workspace ID in a file's link.
func wsOf(t *testing.T, link string) string {
	t.Helper()
	const p = "/v1/submission-files/"
	i := bytes.Index([]byte(link), []byte(p))
	if i < 0 {
		t.Fatalf("link %q", link)
	}
	rest := link[i+len(p):]
	return rest[:bytes.IndexByte([]byte(rest), '/')]
}
