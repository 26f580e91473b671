package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeMultipartWithFiles feeds the multipart decoder arbitrary
// bodies with file parts: it must never panic, must hand each file part to
// the sink (and nothing else), must keep the text parts within their
// limit, and what it returns must be valid UTF-8 within the field limit.
// go test runs the seeds; `go test -fuzz FuzzDecodeMultipartWithFiles`
// explores further.
func FuzzDecodeMultipartWithFiles(f *testing.F) {
	seeds := []string{
		"--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@example.com\r\n--b\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n",
		"--b\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"\"\r\n\r\n\r\n--b--\r\n",
		"--b\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"../../etc/passwd\"\r\n\r\nroot\r\n--b\r\nContent-Disposition: form-data; name=\"cv\"; filename*=UTF-8''%E2%82%AC.png\r\n\r\n\x89PNG\r\n--b--\r\n",
		"--b\r\nContent-Disposition: form-data; name=\"\xff\"; filename=\"x\"\r\n\r\nx\r\n--b--\r\n",
		"--b\r\nContent-Disposition: form-data; filename=\"nameless\"\r\n\r\nx\r\n--b--\r\n",
		"--b\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"x\"\r\n\r\nunterminated",
		"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n" + string(bytes.Repeat([]byte("x"), 200)) + "\r\n--b--\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	const textLimit = 100
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/forms/frm_x/submissions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		files := 0
		sink := func(field, name string, r io.Reader) error {
			if !utf8.ValidString(field) || field == "" {
				t.Fatalf("sink got field %q", field)
			}
			files++
			_, err := io.Copy(io.Discard, r)
			return err
		}
		raw, err := decodeMultipart(req, sink, textLimit)
		if err != nil {
			return
		}
		if len(raw.Order) > maxSubmissionFields || len(raw.Order) != len(raw.Fields) {
			t.Fatalf("%d names, %d fields", len(raw.Order), len(raw.Fields))
		}
		text := 0
		for name, vs := range raw.Fields {
			if !utf8.ValidString(name) {
				t.Fatalf("name %q", name)
			}
			for _, v := range vs {
				text += len(v)
				if !utf8.ValidString(v) {
					t.Fatalf("value %q", v)
				}
			}
		}
		if text > textLimit {
			t.Fatalf("%d bytes of text over the limit of %d", text, textLimit)
		}
	})
}
