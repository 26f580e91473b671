// Package formfiles posts a form with a file field to the keel binary
// from a real browser (Debian's Chromium, driven by chromedp), as a
// website's visitor does with <input type="file">, and kills keel serve
// with SIGKILL in the middle of uploads: no submission may then lack its
// files, and no file without a submission may outlive the sweep.
package formfiles

import (
	"bytes"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keelhq/keel/adapters/blobs3"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/browser"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/s3server"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	containers.Main(m, testdb.Stop, s3server.Stop, keelproc.RemoveBinary)
}

// pdf is a small PDF; sniffing needs its first bytes only.
var pdf = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// png is the start of a PNG: its signature and IHDR chunk.
var png = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"), bytes.Repeat([]byte{7}, 100)...)

type submission struct {
	ID     string         `json:"id"`
	Values map[string]any `json:"values"`
	Files  []struct {
		Field, Name, URL string
		ContentType      string `json:"content_type"`
		Size             int64
	} `json:"files"`
}

type env struct {
	p     *keelproc.Proc
	token string
	dir   string          // the data directory, whose blobs/ holds the files
	s3    ports.BlobStore // the bucket, when the files are in S3
}

func setup(t *testing.T, extra ...string) env {
	dir := t.TempDir()
	return setupIn(t, dir, nil, extra...)
}

// setupS3 runs keel serve on PostgreSQL with its files in a bucket of the
// S3-compatible server.
func setupS3(t *testing.T) env {
	srv := s3server.Start(t)
	bucket := srv.NewBucket(t)
	u := "s3://" + bucket + "/keel?endpoint=" + srv.Endpoint + "&region=" + s3server.Region
	cfg, err := blobs3.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AccessKeyID, cfg.SecretAccessKey = s3server.AccessKey, s3server.SecretKey
	store, err := blobs3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return setupIn(t, t.TempDir(), store, "KEEL_BLOB_URL="+u, "AWS_ACCESS_KEY_ID="+s3server.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3server.SecretKey, "KEEL_DATABASE_URL="+testdb.EmptyPostgres(t))
}

func setupIn(t *testing.T, dir string, s3 ports.BlobStore, extra ...string) env {
	p := keelproc.Serve(t, "serve", append([]string{"KEEL_DATA_DIR=" + dir, "KEEL_IP_HASH_KEY=0123456789abcdef0123456789abcdef"}, extra...))
	var s struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, 201, &s)
	p.MustCall(t, "POST", "/v1/workspaces", s.Token, map[string]any{"name": "Harbour Site", "slug": "site"}, 201, nil)
	return env{p: p, token: s.Token, dir: dir, s3: s3}
}

func (e env) fileForm(t *testing.T, success string) string {
	t.Helper()
	def := map[string]any{
		"name": "Jobs",
		"fields": []map[string]any{
			{"name": "email", "type": "email", "required": true},
			{"name": "cv", "type": "file", "required": true, "max_files": 2, "max_file_size": 5 << 20, "accept": []string{"pdf", "image"}},
		},
	}
	if success != "" {
		def["redirects"] = map[string]string{"success": success}
	}
	var f struct{ ID string }
	e.p.MustCall(t, "POST", "/v1/workspaces/site/forms", e.token, def, 201, &f)
	return f.ID
}

func (e env) submissions(t *testing.T, form string) []submission {
	t.Helper()
	var page struct{ Data []submission }
	e.p.MustCall(t, "GET", "/v1/workspaces/site/forms/"+form+"/submissions?limit=200", e.token, nil, 200, &page)
	return page.Data
}

// blobs lists the stored files of submissions, leaving out the blob
// store's own temporary files.
func (e env) blobs(t *testing.T) []string {
	t.Helper()
	var keys []string
	if e.s3 != nil {
		blobs, _, err := e.s3.List(t.Context(), "submissions/", "", ports.MaxBlobListLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs {
			keys = append(keys, b.Key)
		}
		return keys
	}
	root := filepath.Join(e.dir, "blobs")
	err := filepath.WalkDir(filepath.Join(root, "submissions"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			rel, _ := filepath.Rel(root, path)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// download fetches a file's signed link without credentials.
func (e env) download(t *testing.T, link string) (*http.Response, []byte) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	status, body, err := e.p.Call(t.Context(), "GET", u.RequestURI(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Response{StatusCode: status}, body
}

// TestFileFieldInABrowser: Chromium posts a site's form with two files in
// one file input; the submission lists both with the sniffed types, their
// links serve the same bytes, and erasing the visitor's data deletes them:
// on SQLite with the files on disk, and on PostgreSQL with them in S3.
func TestFileFieldInABrowser(t *testing.T) {
	t.Parallel()
	t.Run("sqlite+fs", func(t *testing.T) {
		t.Parallel()
		postInBrowser(t, setup(t))
	})
	t.Run("postgres+s3", func(t *testing.T) {
		t.Parallel()
		postInBrowser(t, setupS3(t))
	})
}

func postInBrowser(t *testing.T, e env) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/form":
			fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>Jobs</title></head><body><main>
<form method="post" enctype="multipart/form-data" action="%s">
<label>E-mail <input id="email" name="email"></label>
<label>CV <input id="cv" type="file" name="cv" multiple></label>
<button id="send">Send</button>
</form></main></body></html>`, html.EscapeString(r.URL.Query().Get("action")))
		case "/thanks":
			fmt.Fprint(w, `<!doctype html><html lang="en"><head><title>Thanks</title></head><body><h1>Thanks</h1></body></html>`)
		}
	}))
	t.Cleanup(site.Close)
	form := e.fileForm(t, site.URL+"/thanks")
	files := t.TempDir()
	for name, b := range map[string][]byte{"cv.pdf": pdf, "photo.png": png} {
		if err := os.WriteFile(filepath.Join(files, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := browser.New(t, 60*time.Second)
	page := site.URL + "/form?" + url.Values{"action": {e.p.URL + "/v1/forms/" + form + "/submissions"}}.Encode()
	err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("send")),
		chromedp.SetValue(chromedp.ID("email"), "grace@example.com"),
		chromedp.SetUploadFiles(chromedp.ID("cv"), []string{filepath.Join(files, "cv.pdf"), filepath.Join(files, "photo.png")}),
		chromedp.Click(chromedp.ID("send")), chromedp.WaitVisible(chromedp.CSS("h1")))
	if err != nil {
		t.Fatalf("post the form in Chromium: %v", err)
	}
	if at, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasPrefix(at, site.URL+"/thanks") {
		t.Fatalf("the browser is at %q (%v), want the thanks page", at, err)
	}
	subs := e.submissions(t, form)
	if len(subs) != 1 || len(subs[0].Files) != 2 {
		t.Fatalf("submissions = %+v", subs)
	}
	want := map[string][]byte{"cv.pdf": pdf, "photo.png": png}
	types := map[string]string{"cv.pdf": "application/pdf", "photo.png": "image/png"}
	for _, f := range subs[0].Files {
		if f.ContentType != types[f.Name] || f.Size != int64(len(want[f.Name])) {
			t.Errorf("file %+v", f)
		}
		res, body := e.download(t, f.URL)
		if res.StatusCode != 200 || !bytes.Equal(body, want[f.Name]) {
			t.Errorf("download of %s: %d, %d bytes", f.Name, res.StatusCode, len(body))
		}
	}
	if keys := e.blobs(t); len(keys) != 2 {
		t.Fatalf("blobs = %v", keys)
	}
	e.p.MustCall(t, "POST", "/v1/workspaces/site/erasure", e.token, map[string]string{"email": "grace@example.com"}, 200, nil)
	if keys := e.blobs(t); len(keys) != 0 {
		t.Fatalf("blobs after erasure = %v", keys)
	}
	if res, _ := e.download(t, subs[0].Files[0].URL); res.StatusCode != 404 {
		t.Fatalf("an erased submission's link answers %d", res.StatusCode)
	}
}
