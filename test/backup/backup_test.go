// Package backup proves keel backup, restore and backup verify: a
// database with rows in every table and files in its blob store, made
// through the real binary's API, round-trips between every pair of engines
// with every row and every file's bytes equal, and from a directory into
// S3 and back; a backup
// taken while submissions pour in restores to a state that existed; a
// damaged archive is refused before anything is written; and a backup of
// an older schema restores into the current Keel and is migrated.
package backup

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	pngenc "image/png"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/keelhq/keel/adapters/backuparchive"
	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/adapters/blobs3"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/cmd/keel/bootstrap"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/s3server"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	containers.Main(m, testdb.Stop, s3server.Stop, keelproc.RemoveBinary)
}

// secretKey is every instance's KEEL_SECRET_KEY, so that two-factor
// secrets sealed on the source open on the target.
const secretKey = "backup-test-secret-key-0123456789abcdef"

// target is a database a test backs up or restores into, and its blob
// store: blobs in the data directory, or the S3 bucket blobURL names.
type target struct {
	url, dataDir string
	blobURL      string
}

func newTarget(t *testing.T, engine string) target {
	t.Helper()
	dir := t.TempDir()
	if engine == "postgres" {
		return target{url: testdb.EmptyPostgres(t), dataDir: dir}
	}
	return target{url: "sqlite:" + filepath.Join(dir, "keel.db"), dataDir: dir}
}

func (d target) env() map[string]string {
	env := map[string]string{"KEEL_DATABASE_URL": d.url, "KEEL_DATA_DIR": d.dataDir, "KEEL_SECRET_KEY": secretKey, "KEEL_LOG_LEVEL": "warn"}
	if d.blobURL != "" {
		env["KEEL_BLOB_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = d.blobURL, s3server.AccessKey, s3server.SecretKey
	}
	return env
}

// blobs reads every file of d's blob store but the scheduled backups,
// through the store's adapter: key → bytes.
func (d target) blobs(t *testing.T) map[string]string {
	t.Helper()
	var store ports.BlobStore
	if d.blobURL != "" {
		cfg, err := blobs3.ParseURL(d.blobURL)
		if err != nil {
			t.Fatal(err)
		}
		cfg.AccessKeyID, cfg.SecretAccessKey = s3server.AccessKey, s3server.SecretKey
		if store, err = blobs3.New(cfg); err != nil {
			t.Fatal(err)
		}
	} else {
		dir := filepath.Join(d.dataDir, "blobs")
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return map[string]string{}
		}
		fsStore, err := blobfs.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		store = fsStore
	}
	out := map[string]string{}
	for after := ""; ; {
		page, next, err := store.List(t.Context(), "", after, ports.MaxBlobListLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page {
			if strings.HasPrefix(b.Key, "backups/") {
				continue
			}
			rc, _, err := store.Get(t.Context(), b.Key, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[b.Key] = string(data)
		}
		if next == "" {
			return out
		}
		after = next
	}
}

// s3Target is a target whose blob store is a fresh bucket of the test's
// S3 server.
func s3Target(t *testing.T, engine string) target {
	t.Helper()
	d := newTarget(t, engine)
	srv := s3server.Start(t)
	d.blobURL = "s3://" + srv.NewBucket(t) + "/keel?endpoint=" + srv.Endpoint + "&region=" + s3server.Region
	return d
}

// keel runs the keel command in process against d and returns its
// standard output and error.
func (d target) keel(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	env := d.env()
	var out, errb bytes.Buffer
	err := bootstrap.Run(t.Context(), args, func(k string) string { return env[k] }, nil, &out, &errb)
	return out.String(), errb.String(), err
}

func (d target) mustKeel(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := d.keel(t, args...)
	if err != nil {
		t.Fatalf("keel %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// fill makes rows in every table through the API of a keel serve on d:
// an administrator with a session, a workspace, a form and submissions
// (with their mail and events, one under an Idempotency-Key), an API
// key, a post with tags and two revisions, published, the site's settings
// and locales, a preview link, a media file with a variant, a submission
// with a file, an imported post, a webhook with a
// delivery, an invitation, a password reset, an e-mail change, and
// two-factor authentication with a login challenge, and a scheduled
// backup.
func fill(t *testing.T, d target) {
	t.Helper()
	env := []string{"KEEL_DATABASE_URL=" + d.url, "KEEL_DATA_DIR=" + d.dataDir, "KEEL_SECRET_KEY=" + secretKey,
		"KEEL_DISPATCHER=off", "KEEL_WEBHOOK_ALLOW_HTTP=true", "KEEL_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8", "KEEL_BACKUP_SCHEDULE=@every 1s"}
	p := keelproc.Serve(t, "fill", env)
	defer p.Stop(t)
	// A scheduled backup fills backup_runs.
	defer p.WaitLog(t, "scheduled backup written", time.Minute)
	s := keelproc.NewSite(t, p, "backup", "")
	ctx := t.Context()
	for i := range 3 {
		p.MustCall(t, "POST", "/v1/forms/"+s.Form+"/submissions", "", map[string]any{"n": fmt.Sprintf("order <%d> & \"ünïcode\"\n", i)}, 201, nil)
	}
	if st, body, err := p.Call(ctx, "POST", "/v1/forms/"+s.Form+"/submissions", "", map[string]any{"n": "idempotent"}, "Idempotency-Key", "backup-key-1"); err != nil || st != 201 {
		t.Fatalf("idempotent submission: %d %s %v", st, body, err)
	}
	p.MustCall(t, "POST", "/v1/workspaces/site/api-keys", s.Token, map[string]any{"name": "build", "scopes": []string{"content:read"}}, 201, nil)
	var entry struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/site/entries", s.Token, map[string]any{"kind": "post", "title": "Crème brûlée", "body": "# Hello\n\nFirst *post*.", "tags": []string{"News", "Food"}}, 201, &entry)
	p.MustCall(t, "PATCH", "/v1/workspaces/site/entries/"+entry.ID, s.Token, map[string]any{"body": "# Hello again"}, 200, nil)
	p.MustCall(t, "POST", "/v1/workspaces/site/entries/"+entry.ID+"/publish", s.Token, nil, 200, nil)
	for _, title := range []string{"About us", "Zebra crossing", "Aardvark"} {
		p.MustCall(t, "POST", "/v1/workspaces/site/entries", s.Token, map[string]any{"kind": "page", "title": title, "body": "Text."}, 201, nil)
	}
	// The site's settings and locales, a preview link, a media file with
	// a variant, a submission with a file, and an imported post with its
	// source.
	p.MustCall(t, "PATCH", "/v1/workspaces/site/site", s.Token, map[string]any{"site_url": "https://site.test"}, 200, nil)
	p.MustCall(t, "PUT", "/v1/workspaces/site/locales", s.Token, map[string]any{"default_locale": "en", "fallbacks": map[string][]string{"fr-CA": {"fr"}}}, 200, nil)
	p.MustCall(t, "POST", "/v1/workspaces/site/entries/"+entry.ID+"/preview-links", s.Token, map[string]any{"expires_in": 3600}, 201, nil)
	uploadMedia(t, p, s.Token, 640)
	submitFile(t, p, s.Token)
	d.mustKeel(t, "import", "wordpress", filepath.Join("..", "..", "adapters", "siteimport", "testdata", "wordpress.xml"), "--workspace", "site")
	var hook struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/site/webhooks", s.Token, map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"submission.created"}}, 201, &hook)
	p.MustCall(t, "POST", "/v1/workspaces/site/webhooks/"+hook.ID+"/test", s.Token, nil, 202, nil)
	p.MustCall(t, "POST", "/v1/workspaces/site/invitations", s.Token, map[string]any{"email": "new@site.test", "role": "editor"}, 201, nil)
	p.MustCall(t, "POST", "/v1/auth/password-reset", "", map[string]any{"email": "owner@site.test"}, 202, nil)
	p.MustCall(t, "POST", "/v1/me/email", s.Token, map[string]any{"email": "owner2@site.test", "password": "correct horse battery"}, 202, nil)
	var enrol struct{ Secret string }
	p.MustCall(t, "POST", "/v1/me/two-factor", s.Token, map[string]any{"password": "correct horse battery"}, 201, &enrol)
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enrol.Secret)
	if err != nil {
		t.Fatalf("two-factor secret %q: %v", enrol.Secret, err)
	}
	p.MustCall(t, "POST", "/v1/me/two-factor/confirm", s.Token, map[string]any{"code": domain.TOTPCode(secret, time.Now())}, 200, nil)
	if st, body, err := p.Call(ctx, "POST", "/v1/auth/login", "", map[string]any{"email": "owner@site.test", "password": "correct horse battery"}); err != nil || st != 401 || !strings.Contains(string(body), "second_factor_required") {
		t.Fatalf("login with two factors: %d %s %v", st, body, err)
	}
}

// uploadMedia uploads a PNG width pixels wide to the media library and,
// when it is wider than 320, asks for its 320 pixels wide variant, which
// Keel then makes and stores beside it.
func uploadMedia(t *testing.T, p *keelproc.Proc, token string, width int) {
	t.Helper()
	var png bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, width, width/2))
	for x := range width {
		for y := range width / 2 {
			img.Set(x, y, color.RGBA{R: uint8(x), G: uint8(y), B: uint8(x * y), A: 255})
		}
	}
	if err := pngenc.Encode(&png, img); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", p.URL+"/v1/workspaces/site/media?name=dot.png", &png)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload media: %d %s", resp.StatusCode, body)
	}
	if width <= 320 {
		return
	}
	var m struct {
		Variants []struct {
			Width int
			URL   string
		}
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Variants {
		if v.Width != 320 {
			continue
		}
		u, err := url.Parse(v.URL)
		if err != nil {
			t.Fatal(err)
		}
		if st, body, err := p.Call(t.Context(), "GET", u.RequestURI(), "", nil); err != nil || st != 200 {
			t.Fatalf("variant %s: %d %.200s %v", v.URL, st, body, err)
		}
		return
	}
	t.Fatalf("the media file has no 320 pixels wide variant: %s", body)
}

// submitFile makes a form with a file field and posts a submission with
// a text file to it.
func submitFile(t *testing.T, p *keelproc.Proc, token string) {
	t.Helper()
	var form struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/site/forms", token, map[string]any{
		"name":   "Files",
		"fields": []map[string]any{{"name": "note", "type": "file", "required": true, "accept": []string{"text"}}},
	}, 201, &form)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("note", "note.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(fw, strings.Repeat("A note sent with the form, ünïcode and all.\n", 200))
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", p.URL+"/v1/forms/"+form.ID+"/submissions", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit a file: %d %s", resp.StatusCode, b)
	}
}

// sources holds one filled database per engine, made once.
var sources = map[string]*source{}

type source struct {
	archive []byte            // the backup; each test writes its own copy
	tables  map[string]string // table file name → content
	blobs   map[string]string // the blob store's files: key → bytes
}

// path writes the source's archive into t's temporary directory: the
// test that made it may have removed its own.
func (s *source) path(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "backup.zip")
	if err := os.WriteFile(p, s.archive, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sourceFor(t *testing.T, engine string) *source {
	t.Helper()
	if s := sources[engine]; s != nil {
		return s
	}
	db := newTarget(t, engine)
	fill(t, db)
	path := filepath.Join(t.TempDir(), engine+".zip")
	db.mustKeel(t, "backup", "--out", path)
	s := &source{tables: tableFiles(t, path), blobs: db.blobs(t)}
	var err error
	if s.archive, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	for name, data := range s.tables {
		if len(data) == 0 {
			t.Errorf("the fixture leaves %s empty: make fill write a row there so that the round trip covers it", name)
		}
	}
	var original, variant, file bool
	for key := range s.blobs {
		original = original || strings.HasPrefix(key, "media/") && strings.HasSuffix(key, "/original")
		variant = variant || strings.HasPrefix(key, "media/") && strings.HasSuffix(key, "/w320")
		file = file || strings.HasPrefix(key, "submissions/")
	}
	if !original || !variant || !file {
		t.Fatalf("the fixture's blob store lacks a media original (%v), a variant (%v) or a submission's file (%v): %v", original, variant, file, slices.Sorted(maps.Keys(s.blobs)))
	}
	sameBlobs(t, "the source's backup", s.blobs, archiveBlobs(t, path))
	if t.Failed() {
		t.FailNow()
	}
	sources[engine] = s
	return s
}

// tableFiles reads every table file of an archive: table → JSON lines.
func tableFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	files := archiveFiles(t, path, "tables/")
	out := make(map[string]string, len(files))
	for name, b := range files {
		out[strings.TrimSuffix(name, ".jsonl")] = b
	}
	return out
}

// archiveBlobs reads every blob file of an archive: key → bytes.
func archiveBlobs(t *testing.T, path string) map[string]string {
	t.Helper()
	return archiveFiles(t, path, "blobs/")
}

// archiveFiles reads the files of an archive under dir, by their names
// without it.
func archiveFiles(t *testing.T, path, dir string) map[string]string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]string{}
	for _, f := range zr.File {
		name, ok := strings.CutPrefix(f.Name, dir)
		if !ok {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out[name] = string(b)
	}
	return out
}

// sameBlobs reports every file that differs between two blob stores.
func sameBlobs(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for key, data := range want {
		if g, ok := got[key]; !ok {
			t.Errorf("%s: file %s is missing", what, key)
		} else if g != data {
			t.Errorf("%s: file %s differs: %d bytes, want %d", what, key, len(g), len(data))
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("%s: file %s was not in the source", what, key)
		}
	}
}

// TestRoundTrip restores each engine's backup into each engine, then
// backs the restored database up again and compares every row of every
// table, and every file of the blob store byte for byte, with the
// original's, and signs in with the password and a two-factor code sealed
// on the source.
func TestRoundTrip(t *testing.T) {
	for _, from := range []string{"sqlite", "postgres"} {
		for _, to := range []string{"sqlite", "postgres"} {
			t.Run(from+"_to_"+to, func(t *testing.T) {
				src := sourceFor(t, from)
				dst := newTarget(t, to)
				out := dst.mustKeel(t, "restore", src.path(t))
				if !strings.Contains(out, "submissions") {
					t.Errorf("restore's report lacks the tables' counts:\n%s", out)
				}
				again := filepath.Join(t.TempDir(), "again.zip")
				dst.mustKeel(t, "backup", "--out", again)
				got := tableFiles(t, again)
				if len(got) != len(src.tables) {
					t.Errorf("restored database has %d tables, the source %d", len(got), len(src.tables))
				}
				for name, want := range src.tables {
					if got[name] != want {
						t.Errorf("table %s differs after %s → %s:\n%s", name, from, to, firstDiff(want, got[name]))
					}
				}
				sameBlobs(t, "the restored blob store", src.blobs, dst.blobs(t))
				sameBlobs(t, "the restored instance's backup", src.blobs, archiveBlobs(t, again))
				signIn(t, dst)
			})
		}
	}
}

// signIn serves the restored database and logs in: the password hash,
// the sealed two-factor secret and the login path all came across.
func signIn(t *testing.T, d target) {
	t.Helper()
	p := keelproc.Serve(t, "restored", []string{"KEEL_DATABASE_URL=" + d.url, "KEEL_DATA_DIR=" + d.dataDir, "KEEL_SECRET_KEY=" + secretKey, "KEEL_DISPATCHER=off"})
	defer p.Stop(t)
	st, body, err := p.Call(t.Context(), "POST", "/v1/auth/login", "", map[string]any{"email": "owner@site.test", "password": "correct horse battery"})
	if err != nil || st != 401 || !strings.Contains(string(body), "second_factor_required") {
		t.Fatalf("login on the restored database: %d %s %v", st, body, err)
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\nwant %s\ngot  %s", i+1, a, b)
		}
	}
	return "(equal)"
}

// TestRestoreRefusesNonEmpty checks that a database with data is kept
// unless --force, which replaces it.
func TestRestoreRefusesNonEmpty(t *testing.T) {
	src := sourceFor(t, "sqlite")
	dst := newTarget(t, "sqlite")
	archive := src.path(t)
	dst.mustKeel(t, "restore", archive)
	_, _, err := dst.keel(t, "restore", archive)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore over data: err = %v, want a refusal", err)
	}
	dst.mustKeel(t, "restore", "--force", archive)
}

// TestRestoreWarnsOfAnotherKey restores the two-factor secrets under a
// different secret key and expects the warning that names the mismatch,
// and none under the same key.
func TestRestoreWarnsOfAnotherKey(t *testing.T) {
	src := sourceFor(t, "sqlite")
	archive := src.path(t)
	same := newTarget(t, "sqlite")
	if _, errOut, err := same.keel(t, "restore", archive); err != nil || strings.Contains(errOut, "warning") {
		t.Fatalf("restore under the same key: err %v, stderr %q", err, errOut)
	}
	other := newTarget(t, "sqlite")
	env := other.env()
	env["KEEL_SECRET_KEY"] = "another-secret-key-0123456789abcdefghij"
	var out, errOut bytes.Buffer
	if err := bootstrap.Run(t.Context(), []string{"restore", archive}, func(k string) string { return env[k] }, nil, &out, &errOut); err != nil {
		t.Fatalf("restore under another key: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "warning: 1 sealed two-factor secrets") {
		t.Errorf("restore under another key did not warn:\n%s", errOut.String())
	}
}

// TestBlobsBetweenDirectoryAndS3 restores a backup made with the files in
// a directory into an instance whose blob store is an S3 bucket, compares
// every file, backs that instance up and restores it into a directory
// again, and compares every file and row once more.
func TestBlobsBetweenDirectoryAndS3(t *testing.T) {
	src := sourceFor(t, "sqlite")
	bucket := s3Target(t, "sqlite")
	bucket.mustKeel(t, "restore", src.path(t))
	sameBlobs(t, "the S3 bucket", src.blobs, bucket.blobs(t))
	fromS3 := filepath.Join(t.TempDir(), "from-s3.zip")
	bucket.mustKeel(t, "backup", "--out", fromS3)
	sameBlobs(t, "the backup of the S3 instance", src.blobs, archiveBlobs(t, fromS3))
	dir := newTarget(t, "postgres")
	dir.mustKeel(t, "restore", fromS3)
	sameBlobs(t, "the directory restored from S3", src.blobs, dir.blobs(t))
	again := filepath.Join(t.TempDir(), "again.zip")
	dir.mustKeel(t, "backup", "--out", again)
	for name, want := range src.tables {
		if got := tableFiles(t, again)[name]; got != want {
			t.Errorf("table %s differs after sqlite+directory → sqlite+S3 → postgres+directory:\n%s", name, firstDiff(want, got))
		}
	}
}

// TestRestoreRefusesNonEmptyBlobStore restores into an empty database
// whose blob store already holds a file: refused, nothing written, unless
// --force, which writes the archive's files and leaves the other one.
func TestRestoreRefusesNonEmptyBlobStore(t *testing.T) {
	src := sourceFor(t, "sqlite")
	dst := newTarget(t, "sqlite")
	store, err := blobfs.New(filepath.Join(dst.dataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(t.Context(), "media/stray", "text/plain", 9, strings.NewReader("left here")); err != nil {
		t.Fatal(err)
	}
	_, _, err = dst.keel(t, "restore", src.path(t))
	if err == nil || !strings.Contains(err.Error(), "blob store") || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("restore over a blob store with a file: err = %v, want a refusal", err)
	}
	if n := countTables(t, dst); n != 0 {
		t.Errorf("the refused restore left %d tables", n)
	}
	if got := dst.blobs(t); len(got) != 1 {
		t.Errorf("the refused restore wrote files: %v", slices.Sorted(maps.Keys(got)))
	}
	dst.mustKeel(t, "restore", "--force", src.path(t))
	want := maps.Clone(src.blobs)
	want["media/stray"] = "left here"
	sameBlobs(t, "the blob store restored with --force", want, dst.blobs(t))
}

// TestBackupListsMissingBlobs deletes a media file's original from the
// blob store behind its row's back, as a delete that commits after the
// snapshot began would, and expects the backup to list it as missing and
// say so, and the archive to verify and restore without it.
func TestBackupListsMissingBlobs(t *testing.T) {
	src := newTarget(t, "sqlite")
	p := keelproc.Serve(t, "missing", []string{"KEEL_DATABASE_URL=" + src.url, "KEEL_DATA_DIR=" + src.dataDir, "KEEL_DISPATCHER=off"})
	s := keelproc.NewSite(t, p, "missing", "")
	uploadMedia(t, p, s.Token, 8)
	uploadMedia(t, p, s.Token, 16)
	p.Stop(t)
	blobs := src.blobs(t)
	if len(blobs) != 2 {
		t.Fatalf("two uploads left the files %v", slices.Sorted(maps.Keys(blobs)))
	}
	gone := slices.Sorted(maps.Keys(blobs))[0]
	if err := os.Remove(filepath.Join(src.dataDir, "blobs", filepath.FromSlash(gone))); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "missing.zip")
	_, errOut, err := src.keel(t, "backup", "--out", archive)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "warning: 1 blobs") || !strings.Contains(errOut, gone) {
		t.Errorf("backup did not warn of the missing file %s:\n%s", gone, errOut)
	}
	r, err := backuparchive.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	m := r.Manifest
	r.Close()
	if len(m.Blobs) != 1 || !slices.Equal(m.MissingBlobs, []string{gone}) {
		t.Fatalf("manifest: %d blobs, missing %v; want 1 and [%s]", len(m.Blobs), m.MissingBlobs, gone)
	}
	dst := newTarget(t, "sqlite")
	dst.mustKeel(t, "backup", "verify", archive)
	dst.mustKeel(t, "restore", archive)
	delete(blobs, gone)
	sameBlobs(t, "the restored blob store", blobs, dst.blobs(t))
}

// TestCorruptArchiveRefused damages an archive four ways and checks
// that verify and restore refuse each, and that restore wrote nothing,
// neither a table nor a file.
func TestCorruptArchiveRefused(t *testing.T) {
	src := sourceFor(t, "sqlite")
	archive, good := src.path(t), src.archive
	cases := map[string][]byte{
		"flipped byte in a table": flipTableByte(t, archive, good, "tables/submissions.jsonl"),
		"flipped byte in a file":  flipTableByte(t, archive, good, "blobs/"+mediaOriginal(t, src)),
		"truncated":               good[:len(good)*2/3],
		"edited manifest":         editManifest(t, archive),
	}
	for name, damaged := range cases {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "damaged.zip")
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, engine := range []string{"sqlite", "postgres"} {
				dst := newTarget(t, engine)
				if _, _, err := dst.keel(t, "backup", "verify", path); err == nil {
					t.Errorf("verify accepted an archive with a %s", name)
				}
				_, _, err := dst.keel(t, "restore", path)
				if err == nil {
					t.Fatalf("restore accepted an archive with a %s", name)
				}
				if n := countTables(t, dst); n != 0 {
					t.Errorf("restore of a damaged archive (%v) left %d tables in the %s database", err, n, engine)
				}
				if got := dst.blobs(t); len(got) != 0 {
					t.Errorf("restore of a damaged archive (%v) wrote files: %v", err, slices.Sorted(maps.Keys(got)))
				}
			}
		})
	}
}

// mediaOriginal is the key of the source's media original.
func mediaOriginal(t *testing.T, src *source) string {
	t.Helper()
	for key := range src.blobs {
		if strings.HasPrefix(key, "media/") && strings.HasSuffix(key, "/original") {
			return key
		}
	}
	t.Fatal("no media original")
	return ""
}

// flipTableByte flips one byte in the middle of the archive file name's
// stored (compressed) data.
func flipTableByte(t *testing.T, path string, good []byte, name string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name == name {
			off, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			b := bytes.Clone(good)
			b[off+int64(f.CompressedSize64)/2] ^= 0x20
			return b
		}
	}
	t.Fatalf("no file %s", name)
	return nil
}

// editManifest rewrites the archive with one more submission in the
// manifest than in the file.
func editManifest(t *testing.T, path string) []byte {
	t.Helper()
	r, err := backuparchive.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == "manifest.json" {
			m := r.Manifest
			for i := range m.Tables {
				if m.Tables[i].Name == "submissions" {
					m.Tables[i].Rows++
				}
			}
			if err := json.NewEncoder(w).Encode(m); err != nil {
				t.Fatal(err)
			}
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(w, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// countTables counts the tables in d's database; a SQLite file that does
// not exist has none.
func countTables(t *testing.T, d target) int {
	t.Helper()
	db := openSQL(t, d)
	var n int
	q := `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()`
	if !strings.HasPrefix(d.url, "postgres") {
		if _, err := os.Stat(strings.TrimPrefix(d.url, "sqlite:")); os.IsNotExist(err) {
			return 0
		}
		q = `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'`
	}
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func openSQL(t *testing.T, d target) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", d.url
	if !strings.HasPrefix(d.url, "postgres") {
		driver, dsn = "sqlite", "file:"+strings.TrimPrefix(d.url, "sqlite:")+"?mode=ro"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestUpgrade builds a database as Keel left it at schema version 19,
// before submissions had mail_held, with a spam submission whose mail
// was never queued; backs it up; restores it into the current Keel on
// each engine, and checks that the newer migrations ran over the
// restored data: the submission's mail is held, as 00020 decides.
func TestUpgrade(t *testing.T) {
	const old = 19
	src := newTarget(t, "sqlite")
	db, err := sqlstore.Open(t.Context(), src.url)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateTo(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(src.url, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	at := "2026-01-02 03:04:05.123456+00:00"
	for _, q := range []string{
		`INSERT INTO users (id, email, name, password_hash, status, instance_admin, created_at) VALUES ('usr_1', 'old@site.test', 'Old', 'x', 'active', 1, '` + at + `')`,
		`INSERT INTO workspaces (id, name, slug, created_at) VALUES ('wsp_1', 'Old', 'old', '` + at + `')`,
		`INSERT INTO forms (id, workspace_id, name, status, definition, created_at, updated_at) VALUES ('frm_1', 'wsp_1', 'Old', 'open', '{}', '` + at + `', '` + at + `')`,
		`INSERT INTO submissions (id, form_id, workspace_id, status, field_values, search_text, ip_hash, user_agent, referrer, origin, created_at, updated_at)
			VALUES ('sub_1', 'frm_1', 'wsp_1', 'spam', '{}', '', '', '', '', '', '` + at + `', '` + at + `')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	archive := filepath.Join(t.TempDir(), "old.zip")
	src.mustKeel(t, "backup", "--out", archive)
	r, err := backuparchive.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	if r.Manifest.SchemaVersion != old {
		t.Fatalf("backup's schema version = %d, want %d", r.Manifest.SchemaVersion, old)
	}
	r.Close()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dst := newTarget(t, engine)
			dst.mustKeel(t, "restore", archive)
			conn := openSQL(t, dst)
			var held bool
			if err := conn.QueryRow(`SELECT mail_held FROM submissions WHERE id = 'sub_1'`).Scan(&held); err != nil {
				t.Fatal(err)
			}
			if !held {
				t.Error("the restored spam submission's mail is not held: the migrations after the backup's version did not run over its data")
			}
			var n int
			if err := conn.QueryRow(`SELECT COUNT(*) FROM two_factor`).Scan(&n); err != nil {
				t.Errorf("two_factor, made by a migration newer than the backup: %v", err)
			}
		})
	}
}

// TestBackupDuringIngest backs up while clients submit as fast as they
// can and checks that the restored state is one that existed: every
// submission has its notification and every notification its
// submission.
func TestBackupDuringIngest(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			src := newTarget(t, engine)
			p := keelproc.Serve(t, "ingest", []string{"KEEL_DATABASE_URL=" + src.url, "KEEL_DATA_DIR=" + src.dataDir, "KEEL_DISPATCHER=off",
				"KEEL_SUBMIT_PER_IP=0", "KEEL_SUBMIT_PER_FORM=0", "KEEL_RATE_LIMIT_ANONYMOUS=0"})
			defer p.Stop(t)
			s := keelproc.NewSite(t, p, "ingest", "")
			ctx, cancel := context.WithCancel(t.Context())
			// The backup starts once 300 submissions are in and the load
			// goes on while it reads.
			var count atomic.Int64
			submitted := make(chan struct{})
			done := make(chan error, 8)
			for w := range 8 {
				go func() {
					for i := 0; ctx.Err() == nil; i++ {
						st, body, err := p.Call(ctx, "POST", "/v1/forms/"+s.Form+"/submissions", "", map[string]any{"n": fmt.Sprintf("%d-%d", w, i)})
						if ctx.Err() != nil {
							break
						}
						if err != nil || st != 201 {
							done <- fmt.Errorf("submit: %d %s %v", st, body, err)
							return
						}
						if count.Add(1) == 300 {
							close(submitted)
						}
					}
					done <- nil
				}()
			}
			<-submitted
			archive := filepath.Join(t.TempDir(), "live.zip")
			src.mustKeel(t, "backup", "--out", archive)
			during := count.Load()
			cancel()
			for range 8 {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			dst := newTarget(t, "sqlite")
			dst.mustKeel(t, "restore", archive)
			conn := openSQL(t, dst)
			var subs, orphans, unmailed int
			if err := conn.QueryRow(`SELECT COUNT(*) FROM submissions`).Scan(&subs); err != nil {
				t.Fatal(err)
			}
			if err := conn.QueryRow(`SELECT COUNT(*) FROM submissions s WHERE NOT EXISTS (SELECT 1 FROM outbox_messages m WHERE m.submission_id = s.id)`).Scan(&unmailed); err != nil {
				t.Fatal(err)
			}
			if err := conn.QueryRow(`SELECT COUNT(*) FROM outbox_messages m WHERE m.submission_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM submissions s WHERE s.id = m.submission_id)`).Scan(&orphans); err != nil {
				t.Fatal(err)
			}
			if subs == 0 || unmailed != 0 || orphans != 0 {
				t.Errorf("restored %d submissions, %d without their notification, %d notifications without their submission", subs, unmailed, orphans)
			}
			if total := count.Load(); during <= 300 || int64(subs) >= total {
				t.Errorf("the backup did not overlap the load: %d submissions when it ended, %d restored, %d in all", during, subs, total)
			}
			t.Logf("%s: the backup caught %d submissions mid-load", engine, subs)
		})
	}
}
