package domain_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/keelhq/keel/domain"
)

// TestNotificationAttachesFilesWithinTheFormsLimit: a form whose
// notify.attach_files_max_bytes is at least the sum of a submission's
// files attaches them (by blob key) and says "attached" beside each name;
// one file more than that, or a form at 0, attaches none and links each.
func TestNotificationAttachesFilesWithinTheFormsLimit(t *testing.T) {
	t.Parallel()
	files := []domain.SubmissionFile{
		{Name: "cv.pdf", ContentType: "application/pdf", Size: 600, Key: "submissions/ws_x/sub_1/1"},
		{Name: "photo.png", ContentType: "image/png", Size: 400, Key: "submissions/ws_x/sub_1/2"},
	}
	link := func(f domain.SubmissionFile) string { return "https://keel.example/" + f.Key }
	for _, c := range []struct {
		name   string
		limit  int64
		attach bool
	}{{"within", 1000, true}, {"over", 999, false}, {"never", 0, false}} {
		t.Run(c.name, func(t *testing.T) {
			in := contactForm()
			in.Fields = append(in.Fields, domain.Field{Name: "cv", Type: domain.FieldFile, MaxFiles: 2})
			in.Notify.AttachFilesMaxBytes = c.limit
			f, err := domain.NewForm("ws_x", in, now)
			if err != nil {
				t.Fatal(err)
			}
			raw := domain.RawSubmission{Fields: map[string][]string{"name": {"Ada"}, "email": {"ada@example.com"}}, Order: []string{"name", "email"},
				Files: map[string][]domain.SubmissionFile{"cv": files}}
			s, err := f.Accept(raw, domain.SubmissionMeta{}, domain.SpamRules{}, now)
			if err != nil {
				t.Fatal(err)
			}
			msgs, _, err := f.Mail(s, "keel@example.com", now, link)
			if err != nil {
				t.Fatal(err)
			}
			n := msgs[0]
			if got := n.Attachments(); c.attach != (len(got) == 2) || (!c.attach && len(got) != 0) {
				t.Fatalf("attachments = %+v", got)
			}
			for i, file := range files {
				attached := strings.Contains(n.Text(), file.Name+" ("+domain.FormatBytes(file.Size)+"), attached\n")
				linked := strings.Contains(n.Text(), file.Name+" ("+domain.FormatBytes(file.Size)+") "+link(file)+"\n")
				if attached != c.attach || linked == c.attach {
					t.Errorf("file %d: attached %v, linked %v in\n%s", i, attached, linked, n.Text())
				}
				if c.attach && n.Attachments()[i] != domain.MessageAttachment(file) {
					t.Errorf("attachment %d = %+v", i, n.Attachments()[i])
				}
			}
		})
	}
}

// TestAttachFilesMaxBytesIsBounded: the setting takes 0 to
// MaxAttachFilesBytes.
func TestAttachFilesMaxBytesIsBounded(t *testing.T) {
	t.Parallel()
	for _, n := range []int64{-1, domain.MaxAttachFilesBytes + 1} {
		in := contactForm()
		in.Notify.AttachFilesMaxBytes = n
		if _, err := domain.NewForm("ws_x", in, now); !slices.Contains(fieldsOf(err), "notify.attach_files_max_bytes:out_of_range") {
			t.Errorf("%d: %v", n, err)
		}
	}
	in := contactForm()
	in.Notify.AttachFilesMaxBytes = domain.MaxAttachFilesBytes
	if _, err := domain.NewForm("ws_x", in, now); err != nil {
		t.Errorf("the maximum: %v", err)
	}
}

// TestWithNoteAddsAParagraph: WithNote ends the text with the note, and
// an HTML body with it escaped.
func TestWithNoteAddsAParagraph(t *testing.T) {
	t.Parallel()
	m, err := domain.NewMessage(domain.MessageInput{From: "keel@example.com", To: []string{"a@example.com"}, Subject: "S", Text: "Body\n", HTML: "<p>Body</p>"}, now)
	if err != nil {
		t.Fatal(err)
	}
	m = m.WithNote("a<b.pdf was deleted.")
	if m.Text() != "Body\n\na<b.pdf was deleted.\n" || !strings.HasSuffix(m.HTML(), "<p>a&lt;b.pdf was deleted.</p>\n") {
		t.Fatalf("text %q, html %q", m.Text(), m.HTML())
	}
}
