package backuparchive_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/backuparchive"
)

// write makes an archive at a new path with the given tables, each written
// as its lines, and returns the path.
func write(t *testing.T, tables map[string][]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "b.zip")
	w, err := backuparchive.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, lines := range tables {
		err := w.AddTable(name, func(out io.Writer) (int64, error) {
			for _, l := range lines {
				if _, err := io.WriteString(out, l+"\n"); err != nil {
					return 0, err
				}
			}
			return int64(len(lines)), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(backuparchive.Manifest{KeelVersion: "test", Engine: "sqlite", SchemaVersion: 3, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRoundTrip(t *testing.T) {
	path := write(t, map[string][]string{"users": {`{"id":1}`, `{"id":2}`}, "forms": {}})
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("archive mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	r, err := backuparchive.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got := strings.Join(r.TableNames(), ","); got != "forms,users" {
		t.Errorf("tables %s, want forms,users", got)
	}
	var read []byte
	if err := r.Table("users", func(in io.Reader) error {
		var err error
		read, err = io.ReadAll(in)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if string(read) != "{\"id\":1}\n{\"id\":2}\n" {
		t.Errorf("users read back as %q", read)
	}
}

// rewrite copies the archive at path, replacing the named files' contents,
// and returns the copy's path.
func rewrite(t *testing.T, path string, replace map[string][]byte) string {
	t.Helper()
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
		if b, ok := replace[f.Name]; ok {
			_, err = w.Write(b)
		} else {
			var rc io.ReadCloser
			if rc, err = f.Open(); err == nil {
				_, err = io.Copy(w, rc)
				rc.Close()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "edited.zip")
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDamageIsRefused(t *testing.T) {
	path := write(t, map[string][]string{"users": {`{"id":1}`, `{"id":2}`}})
	manifest := func(edit func(m map[string]any)) []byte {
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		rc, err := zr.Open("manifest.json")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var m map[string]any
		if err := json.NewDecoder(rc).Decode(&m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name    string
		replace map[string][]byte
		want    string
	}{
		{"a changed row", map[string][]byte{"tables/users.jsonl": []byte("{\"id\":1}\n{\"id\":3}\n")}, "SHA-256"},
		{"a manifest of a newer format", map[string][]byte{"manifest.json": manifest(func(m map[string]any) { m["format"] = 3 })}, "format 3"},
		{"a manifest naming a missing file", map[string][]byte{"manifest.json": manifest(func(m map[string]any) {
			m["tables"].([]any)[0].(map[string]any)["name"] = "forms"
		})}, "not in the archive"},
		{"a manifest naming a blob not in the archive", map[string][]byte{"manifest.json": manifest(func(m map[string]any) {
			m["blobs"] = []any{map[string]any{"key": "k", "file": "blobs/k", "bytes": 1, "sha256": strings.Repeat("0", 64)}}
		})}, "not in the archive"},
		{"a manifest naming a blob with a key that climbs out of the store", map[string][]byte{"manifest.json": manifest(func(m map[string]any) {
			m["blobs"] = []any{map[string]any{"key": "../k", "file": "blobs/../k", "bytes": 1, "sha256": strings.Repeat("0", 64)}}
		})}, "not a valid key"},
		{"a format 1 manifest listing blobs", map[string][]byte{"manifest.json": manifest(func(m map[string]any) {
			m["format"] = 1
			m["blobs"] = []any{map[string]any{"key": "k", "file": "blobs/k", "bytes": 1, "sha256": strings.Repeat("0", 64)}}
		})}, "format 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := backuparchive.Open(rewrite(t, path, tc.replace))
			if err == nil {
				defer r.Close()
				err = r.Verify()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}

	truncated := filepath.Join(t.TempDir(), "truncated.zip")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(truncated, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backuparchive.Open(truncated); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("a truncated archive opened: %v", err)
	}
}

// A file that inflates to far more than its manifest says is refused after
// reading one byte past that size, not after inflating all of it.
func TestAnInflatedFileIsReadNoFurther(t *testing.T) {
	path := write(t, map[string][]string{"users": {`{"id":1}`}})
	bomb := rewrite(t, path, map[string][]byte{"tables/users.jsonl": bytes.Repeat([]byte("{}\n"), 1<<20)})
	r, err := backuparchive.Open(bomb)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var read int64
	r.Bytes = func(n int64) { read += n }
	if err := r.Verify(); err == nil || !strings.Contains(err.Error(), "users is damaged") {
		t.Fatalf("Verify: %v, want users is damaged", err)
	}
	if read > 1<<10 {
		t.Errorf("read %d bytes of a file whose manifest says 9", read)
	}
}

// writeBlobs makes an archive with one table and the given blobs and
// returns its path.
func writeBlobs(t *testing.T, blobs map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "b.zip")
	w, err := backuparchive.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddTable("media", func(out io.Writer) (int64, error) {
		_, err := io.WriteString(out, "{}\n")
		return 1, err
	}); err != nil {
		t.Fatal(err)
	}
	for key, body := range blobs {
		ct := "text/plain"
		if strings.HasSuffix(key, ".png") {
			ct = "image/png"
		}
		if err := w.AddBlob(key, ct, int64(len(body)), strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(backuparchive.Manifest{KeelVersion: "test", Engine: "sqlite", SchemaVersion: 3, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBlobsRoundTrip(t *testing.T) {
	blobs := map[string]string{"media/ws/m1/original.png": "\x89PNG not really", "submissions/ws/s1/0": strings.Repeat("a line\n", 1000)}
	r, err := backuparchive.Open(writeBlobs(t, blobs))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if r.Manifest.Format != backuparchive.FormatVersion || len(r.Manifest.Blobs) != 2 {
		t.Fatalf("manifest format %d with %d blobs, want %d with 2", r.Manifest.Format, len(r.Manifest.Blobs), backuparchive.FormatVersion)
	}
	for _, b := range r.Manifest.Blobs {
		var read []byte
		if err := r.Blob(b.Key, func(in io.Reader) error {
			var err error
			read, err = io.ReadAll(in)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if string(read) != blobs[b.Key] || b.Bytes != int64(len(blobs[b.Key])) {
			t.Errorf("blob %s read back as %d bytes (manifest: %d), want %d", b.Key, len(read), b.Bytes, len(blobs[b.Key]))
		}
	}
	if err := r.Blob("media/ws/m2/original", func(io.Reader) error { return nil }); err == nil {
		t.Error("a blob the archive lacks was read")
	}
}

// A blob whose bytes differ from what the manifest says, by one byte or by
// its size, fails Verify, and Blob reports it after its reader has been
// read to the end, before a caller keeps what it read.
func TestDamagedBlobIsRefused(t *testing.T) {
	const key = "submissions/ws/s1/0"
	body := strings.Repeat("x", 4096)
	path := writeBlobs(t, map[string]string{key: body})
	flipped := []byte(body)
	flipped[2000] = 'y'
	for name, b := range map[string][]byte{
		"a changed byte": flipped,
		"a shorter file": []byte(body[:4095]),
		"a longer file":  []byte(body + "x"),
	} {
		t.Run(name, func(t *testing.T) {
			r, err := backuparchive.Open(rewrite(t, path, map[string][]byte{"blobs/" + key: b}))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Verify(); err == nil || !strings.Contains(err.Error(), "blob "+key+" is damaged") {
				t.Fatalf("Verify: %v, want blob %s is damaged", err, key)
			}
			var kept bool
			err = r.Blob(key, func(in io.Reader) error {
				_, err := io.Copy(io.Discard, in)
				kept = err == nil
				return err
			})
			if err == nil || !kept {
				t.Fatalf("Blob: %v after reading it all (%v), want an error once it was read", err, kept)
			}
		})
	}
}

// A blob's reader that holds other than its declared size is refused as
// it is written.
func TestAddBlobChecksSize(t *testing.T) {
	w, err := backuparchive.Create(filepath.Join(t.TempDir(), "b.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.AddBlob("a/b", "", 5, strings.NewReader("four")); err == nil {
		t.Error("a short blob was written")
	}
	if err := w.AddBlob("a/c", "", 3, strings.NewReader("four")); err == nil {
		t.Error("a long blob was written")
	}
	if err := w.AddBlob("../c", "", 4, strings.NewReader("four")); err == nil {
		t.Error("a blob with an invalid key was written")
	}
}

// An archive of format 1, made before archives held blobs, still opens
// and verifies.
func TestFormat1StillReads(t *testing.T) {
	path := write(t, map[string][]string{"users": {`{"id":1}`}})
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.Open("manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	err = json.NewDecoder(rc).Decode(&m)
	rc.Close()
	zr.Close()
	if err != nil {
		t.Fatal(err)
	}
	m["format"] = 1
	b, _ := json.Marshal(m)
	r, err := backuparchive.Open(rewrite(t, path, map[string][]byte{"manifest.json": b}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Verify(); err != nil || r.Manifest.Format != 1 || len(r.Manifest.Blobs) != 0 {
		t.Fatalf("Verify: %v, format %d, %d blobs", err, r.Manifest.Format, len(r.Manifest.Blobs))
	}
}
