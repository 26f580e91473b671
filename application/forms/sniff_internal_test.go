package forms

import (
	"strings"
	"testing"
)

// TestSniffFile: a file's kind comes from its bytes and, for office
// documents, its container and extension together; markup is never text.
func TestSniffFile(t *testing.T) {
	t.Parallel()
	cut := strings.Repeat("a", sniffLen-1) + "é" // the head ends inside "é"
	for _, c := range []struct {
		name, head, kind string
	}{
		{"a.jpg", "\xFF\xD8\xFF\xE0rest", "image"},
		{"a.png", "\x89PNG\r\n\x1a\nrest", "image"},
		{"a.gif", "GIF89a....", "image"},
		{"a.webp", "RIFF\x00\x00\x00\x00WEBPVP8 ", "image"},
		{"a.pdf", "%PDF-1.7\n", "pdf"},
		{"notes.txt", "Dear team,\n\tthe plan:\r\n- ünïcode\n", "text"},
		{"notes.txt", cut[:sniffLen], "text"},
		{"page.txt", "  <html><script>alert(1)</script>", ""},
		{"a.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", ""},
		{"a.png", "<html>a PNG that is HTML", ""},
		{"bin.txt", "text\x00with a NUL", ""},
		{"latin1.txt", "caf\xe9", ""},
		{"a.docx", "PK\x03\x04rest", "office"},
		{"a.zip", "PK\x03\x04rest", ""},
		{"a.doc", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "office"},
		{"a.docx", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", ""},
		{"a.exe", "MZ\x90\x00", ""},
		{"empty.txt", "", ""},
	} {
		if _, kind := sniffFile([]byte(c.head), c.name); kind != c.kind {
			t.Errorf("sniffFile(%q, %q) kind = %q, want %q", truncate(c.head), c.name, kind, c.kind)
		}
	}
}

func truncate(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}
