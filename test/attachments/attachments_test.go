// Package attachments runs keel serve on SQLite with its mail going to
// Mailpit over SMTP, and checks what a form's notification carries of a
// submission's files: the files themselves, byte for byte, when the
// form's notify.attach_files_max_bytes holds them, and links otherwise.
package attachments

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/mailpit"
)

func TestMain(m *testing.M) {
	containers.Main(m, mailpit.Stop, keelproc.RemoveBinary)
}

// pdf is a PDF with bytes of every value, so that a transfer encoding that
// mangled any of them would show.
var pdf = func() []byte {
	b := []byte("%PDF-1.4\n")
	for i := range 2048 {
		b = append(b, byte(i))
	}
	return append(b, "\n%%EOF\n"...)
}()

// name is outside ASCII, as RFC 2231 and 2047 must carry it.
const name = "Lebenslauf Jürgen été 履歴書.pdf"

// TestNotificationAttachesFilesThatFit: a form that attaches up to 8 KiB
// sends its notification with the submitted PDF attached, under its name
// and with identical bytes, as Mailpit reads it; a form that attaches up
// to 1 KiB gets the same PDF as a link, and nothing attached.
func TestNotificationAttachesFilesThatFit(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t)
	p := keelproc.Serve(t, "serve", []string{
		"KEEL_DATA_DIR=" + t.TempDir(), "KEEL_IP_HASH_KEY=0123456789abcdef0123456789abcdef",
		"KEEL_SMTP_URL=smtp://" + mp.SMTPAddr + "?starttls=none",
	})
	var s struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}, 201, &s)
	p.MustCall(t, "POST", "/v1/workspaces", s.Token, map[string]any{"name": "Harbour Site", "slug": "site"}, 201, nil)
	tag := fmt.Sprint(time.Now().UnixNano())

	submit := func(to string, attachMax int64) {
		t.Helper()
		var f struct{ ID string }
		p.MustCall(t, "POST", "/v1/workspaces/site/forms", s.Token, map[string]any{
			"name": "Jobs",
			"fields": []map[string]any{
				{"name": "email", "type": "email", "required": true},
				{"name": "cv", "type": "file", "required": true, "accept": []string{"pdf"}},
			},
			"notify": map[string]any{"recipients": []string{to}, "subject": "Application " + tag, "attach_files_max_bytes": attachMax},
		}, 201, &f)
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("email", "applicant@example.com")
		fw, _ := mw.CreateFormFile("cv", name)
		_, _ = fw.Write(pdf)
		_ = mw.Close()
		req, err := http.NewRequestWithContext(t.Context(), "POST", p.URL+"/v1/forms/"+f.ID+"/submissions", &body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Accept", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("submit to %s: %s", to, res.Status)
		}
	}
	attachTo, linkTo := "attach-"+tag+"@example.com", "links-"+tag+"@example.com"
	submit(attachTo, 8<<10)
	submit(linkTo, 1<<10)

	got := mp.WaitForSearch(t, "to:"+attachTo, 1, 30*time.Second)
	m := mp.Message(t, got[0].ID)
	if len(m.Attachments) != 1 {
		t.Fatalf("attachments = %+v\n%s", m.Attachments, m.Text)
	}
	a := m.Attachments[0]
	if a.FileName != name || a.ContentType != "application/pdf" {
		t.Errorf("attachment = %q (%s), want %q (application/pdf)", a.FileName, a.ContentType, name)
	}
	if b := mp.Part(t, m.ID, a.PartID); !bytes.Equal(b, pdf) {
		t.Errorf("attached %d bytes that differ from the %d sent", len(b), len(pdf))
	}
	if !strings.Contains(m.Text, name+" (") || !strings.Contains(m.Text, "attached") || strings.Contains(m.Text, "/v1/submission-files/") {
		t.Errorf("attaching notification's text:\n%s", m.Text)
	}

	got = mp.WaitForSearch(t, "to:"+linkTo, 1, 30*time.Second)
	m = mp.Message(t, got[0].ID)
	if len(m.Attachments) != 0 || !strings.Contains(m.Text, name+" (") || !strings.Contains(m.Text, "/v1/submission-files/") {
		t.Errorf("over the limit: %d attachments, text:\n%s", len(m.Attachments), m.Text)
	}
}
