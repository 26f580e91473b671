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
		{"a manifest of a newer format", map[string][]byte{"manifest.json": manifest(func(m map[string]any) { m["format"] = 2 })}, "format 2"},
		{"a manifest naming a missing file", map[string][]byte{"manifest.json": manifest(func(m map[string]any) {
			m["tables"].([]any)[0].(map[string]any)["name"] = "forms"
		})}, "not in the archive"},
		{"a manifest with blobs", map[string][]byte{"manifest.json": manifest(func(m map[string]any) {
			m["blobs"] = []any{map[string]any{"key": "k", "file": "f", "bytes": 1, "sha256": strings.Repeat("0", 64)}}
		})}, "blobs"},
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
