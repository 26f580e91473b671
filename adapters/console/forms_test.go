package console

import (
	"context"
	"encoding/csv"
	"html"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// sameOrigin is the header a browser sends with a form posted from a
// console page.
var sameOrigin = []string{"Sec-Fetch-Site", "same-origin"}

// newForm creates the form "Contact us" in "site" with the given
// submissions (an e-mail address and a message each) and returns it with
// the submissions' IDs, oldest first.
func (f *fixture) newForm(t *testing.T, messages ...string) (domain.Form, []domain.SubmissionID) {
	t.Helper()
	form, err := f.forms.CreateForm(t.Context(), f.admin, "site", domain.FormInput{
		Name: "Contact us", Fields: []domain.Field{
			{Name: "email", Label: "E-mail", Type: domain.FieldEmail, Required: true},
			{Name: "message", Label: "Message", Type: domain.FieldText},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []domain.SubmissionID
	for _, m := range messages {
		raw := domain.RawSubmission{Fields: map[string][]string{"email": {"x@example.com"}, "message": {m}}, Order: []string{"email", "message"}}
		res, err := f.forms.Submit(t.Context(), forms.SubmitInput{Form: form.ID(), Raw: raw, ClientIP: "203.0.113.9"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Submission.ID())
	}
	return form, ids
}

func (f *fixture) status(t *testing.T, id domain.SubmissionID) domain.SubmissionStatus {
	t.Helper()
	s, err := f.forms.GetSubmission(t.Context(), f.admin, "site", id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Status()
}

func TestFormsListLinksToEachForm(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	form, _ := f.newForm(t)
	_, ck := f.signIn(t, "ada@example.com", "")
	if w := f.do(t, "GET", "/console/workspaces/site", ck.Value, nil); !strings.Contains(w.Body.String(), `href="/console/workspaces/site/forms"`) {
		t.Errorf("the overview does not link to the forms:\n%s", w.Body)
	}
	w := f.do(t, "GET", "/console/workspaces/site/forms", ck.Value, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<a href="/console/workspaces/site/forms/`+string(form.ID())+`">Contact us</a>`) {
		t.Fatalf("forms list: %d\n%s", w.Code, w.Body)
	}
	// Bob is not a member of "site": its forms are a 404 to him.
	_, bob := f.signIn(t, "bob@example.com", "")
	for _, path := range []string{"/console/workspaces/site/forms", "/console/workspaces/site/forms/" + string(form.ID())} {
		if w := f.do(t, "GET", path, bob.Value, nil); w.Code != http.StatusNotFound {
			t.Errorf("bob on %s: %d, want 404", path, w.Code)
		}
	}
}

func TestSubmissionsTableFiltersAndPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	messages := make([]string, submissionsPerPage+1)
	for i := range messages {
		messages[i] = "hello number " + string(rune('a'+i%26))
	}
	messages[0] = "the oldest one, about anchors"
	form, ids := f.newForm(t, messages...)
	if _, err := f.forms.UpdateSubmissionStatus(t.Context(), f.admin, "site", ids[1], domain.SubmissionArchived); err != nil {
		t.Fatal(err)
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	base := "/console/workspaces/site/forms/" + string(form.ID())

	w := f.do(t, "GET", base, ck.Value, nil)
	body := w.Body.String()
	if w.Code != http.StatusOK || strings.Count(body, `href="/console/workspaces/site/submissions/`) != submissionsPerPage {
		t.Fatalf("first page: %d, want %d rows\n%s", w.Code, submissionsPerPage, body)
	}
	if strings.Contains(body, "anchors") || !strings.Contains(body, "x@example.com · hello number") {
		t.Errorf("the first page holds the oldest submission or lacks the preview:\n%s", body)
	}
	older := "?after=" + string(ids[1])
	if !strings.Contains(body, `href="`+base+older+`" rel="next">Older</a>`) {
		t.Fatalf("no Older link to %s:\n%s", older, body)
	}
	w = f.do(t, "GET", base+older, ck.Value, nil)
	if body := w.Body.String(); strings.Count(body, `href="/console/workspaces/site/submissions/`) != 1 || !strings.Contains(body, "anchors") || strings.Contains(body, ">Older<") {
		t.Errorf("second page:\n%s", body)
	}

	w = f.do(t, "GET", base+"?status=archived", ck.Value, nil)
	if body := w.Body.String(); strings.Count(body, `href="/console/workspaces/site/submissions/`) != 1 || !strings.Contains(body, string(ids[1])) || !strings.Contains(body, `<option value="archived" selected>`) {
		t.Errorf("archived only:\n%s", body)
	}
	w = f.do(t, "GET", base+"?q=ANCHORS", ck.Value, nil)
	if body := w.Body.String(); strings.Count(body, `href="/console/workspaces/site/submissions/`) != 1 || !strings.Contains(body, string(ids[0])) || !strings.Contains(body, `value="ANCHORS"`) {
		t.Errorf("search:\n%s", body)
	}
	for _, q := range []string{"?status=bogus", "?after=garbage"} {
		if w := f.do(t, "GET", base+q, ck.Value, nil); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, w.Code)
		}
	}
}

func TestSubmissionPageShowsValuesAndMetadata(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	form, ids := f.newForm(t, "Where is <b>the harbour</b>?")
	_, ck := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "GET", "/console/workspaces/site/submissions/"+string(ids[0]), ck.Value, nil)
	body := w.Body.String()
	for _, want := range []string{
		"<dt>E-mail</dt><dd>x@example.com</dd>",
		"<dt>Message</dt><dd>Where is &lt;b&gt;the harbour&lt;/b&gt;?</dd>",
		`<span class="status status-new" id="status">new</span>`,
		"<dt>ID</dt><dd>" + string(ids[0]) + "</dd>",
		`href="/console/workspaces/site/forms/` + string(form.ID()) + `">Contact us</a>`,
		"Mark read", "Mark archived", "Mark spam", "Delete for good",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the submission page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
	if w := f.do(t, "GET", "/console/workspaces/site/submissions/sub_nope", ck.Value, nil); w.Code != http.StatusNotFound {
		t.Errorf("unknown submission: %d", w.Code)
	}
}

func TestActionsChangeTheStatusAndDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	form, ids := f.newForm(t, "one")
	_, ck := f.signIn(t, "ada@example.com", "")
	page := "/console/workspaces/site/submissions/" + string(ids[0])
	for _, st := range []domain.SubmissionStatus{domain.SubmissionRead, domain.SubmissionArchived, domain.SubmissionSpam} {
		w := f.do(t, "POST", page+"/status", ck.Value, url.Values{"status": {st.String()}}, sameOrigin...)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != page {
			t.Fatalf("mark %s: %d to %q\n%s", st, w.Code, w.Header().Get("Location"), w.Body)
		}
		if got := f.status(t, ids[0]); got != st {
			t.Fatalf("after mark %s: %s", st, got)
		}
	}
	// Spam stays spam: the page offers no other status, and a post is
	// refused with the use case's reason.
	if body := f.do(t, "GET", page, ck.Value, nil).Body.String(); strings.Contains(body, "Mark read") {
		t.Errorf("a spam submission offers Mark read:\n%s", body)
	}
	if w := f.do(t, "POST", page+"/status", ck.Value, url.Values{"status": {"read"}}, sameOrigin...); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "Spam cannot change status: mark it not spam instead.") {
		t.Errorf("spam to read: %d %s", w.Code, w.Body)
	}
	w := f.do(t, "POST", page+"/delete", ck.Value, url.Values{}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/workspaces/site/forms/"+string(form.ID()) {
		t.Fatalf("delete: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if _, err := f.forms.GetSubmission(t.Context(), f.admin, "site", ids[0]); err == nil {
		t.Error("the submission survived its deletion")
	}
}

func TestAViewerSeesNoActionsAndCannotForgeThem(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, ids := f.newForm(t, "one")
	if _, err := f.ids.AddMember(t.Context(), f.admin, identity.AddMemberInput{Workspace: "site", Email: "bob@example.com", Role: domain.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	_, bob := f.signIn(t, "bob@example.com", "")
	page := "/console/workspaces/site/submissions/" + string(ids[0])
	w := f.do(t, "GET", page, bob.Value, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "x@example.com") {
		t.Fatalf("viewer's submission page: %d\n%s", w.Code, w.Body)
	}
	for _, s := range []string{"Mark ", "Delete", `method="post" action="` + page} {
		if strings.Contains(w.Body.String(), s) {
			t.Errorf("a viewer sees %q", s)
		}
	}
	for _, post := range []struct {
		path string
		form url.Values
	}{{page + "/status", url.Values{"status": {"archived"}}}, {page + "/delete", url.Values{}}} {
		w := f.do(t, "POST", post.path, bob.Value, post.form, sameOrigin...)
		if w.Code != http.StatusNotFound && w.Code != http.StatusForbidden {
			t.Errorf("viewer's forged POST %s: %d, want 403 or 404", post.path, w.Code)
		}
	}
	if got := f.status(t, ids[0]); got != domain.SubmissionNew {
		t.Errorf("after the viewer's forged posts the status is %s", got)
	}
}

func TestExportDownloadsCSV(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	form, ids := f.newForm(t, "=HYPERLINK(\"x\")", "plain")
	_, ck := f.signIn(t, "ada@example.com", "")
	if body := f.do(t, "GET", "/console/workspaces/site/forms/"+string(form.ID()), ck.Value, nil).Body.String(); !strings.Contains(body, `href="/console/workspaces/site/forms/`+string(form.ID())+`/export"`) {
		t.Errorf("the table has no export link:\n%s", body)
	}
	w := f.do(t, "GET", "/console/workspaces/site/forms/"+string(form.ID())+"/export", ck.Value, nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("export: %d %q\n%s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	disp, params, err := mime.ParseMediaType(w.Header().Get("Content-Disposition"))
	if err != nil || disp != "attachment" || params["filename"] != string(form.ID())+"-submissions.csv" {
		t.Errorf("Content-Disposition %q", w.Header().Get("Content-Disposition"))
	}
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || strings.Join(rows[0], ",") != "id,created_at,status,email,message" {
		t.Fatalf("rows %q", rows)
	}
	// Newest first, as the API exports; a formula is neutralised.
	if rows[1][0] != string(ids[1]) || rows[2][0] != string(ids[0]) || rows[2][4] != `'=HYPERLINK("x")` || rows[1][2] != "new" {
		t.Errorf("rows %q", rows)
	}
	_, bob := f.signIn(t, "bob@example.com", "")
	if w := f.do(t, "GET", "/console/workspaces/site/forms/"+string(form.ID())+"/export", bob.Value, nil); w.Code != http.StatusNotFound || strings.Contains(w.Header().Get("Content-Type"), "csv") {
		t.Errorf("a non-member's export: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

// A filtered page examines a bounded number of submissions, so a search
// whose only match is older than them comes back empty with a cursor:
// the page says so and links on, rather than claiming nothing matches.
func TestSubmissionsSearchSaysWhenOlderOnesAreNotSearchedYet(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	form, ids := f.newForm(t, "the needle, written long ago")
	start := time.Now().Add(time.Minute)
	err := f.db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		for i := range 10000 {
			raw := domain.RawSubmission{Fields: map[string][]string{"email": {"x@example.com"}, "message": {"hay"}}, Order: []string{"email", "message"}}
			sub, err := form.Accept(raw, domain.SubmissionMeta{IPHash: "h"}, domain.SpamRules{}, start.Add(time.Duration(i)*time.Millisecond))
			if err != nil {
				return err
			}
			if err := st.Submissions().Add(ctx, sub); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	base := "/console/workspaces/site/forms/" + string(form.ID())

	w := f.do(t, "GET", base+"?q=needle", ck.Value, nil)
	body := w.Body.String()
	link := regexp.MustCompile(`<a href="([^"]+)" rel="next">Search older submissions</a>`).FindStringSubmatch(body)
	if w.Code != http.StatusOK || link == nil || !strings.Contains(body, "No matches among the newest submissions looked at so far") ||
		strings.Contains(body, "No submissions match") || strings.Contains(body, `href="/console/workspaces/site/submissions/`) {
		t.Fatalf("search of the newest: %d\n%s", w.Code, body)
	}
	next := html.UnescapeString(link[1])
	if !strings.HasPrefix(next, base+"?") || !strings.Contains(next, "q=needle") {
		t.Fatalf("Search older links to %q", next)
	}
	w = f.do(t, "GET", next, ck.Value, nil)
	if body := w.Body.String(); !strings.Contains(body, string(ids[0])) || strings.Contains(body, "looked at so far") || strings.Contains(body, `rel="next"`) {
		t.Errorf("search of the older ones:\n%s", body)
	}
	// The unfiltered table fills its pages and keeps its plain link.
	if body := f.do(t, "GET", base, ck.Value, nil).Body.String(); strings.Contains(body, "looked at so far") || !strings.Contains(body, `rel="next">Older</a>`) {
		t.Errorf("unfiltered table:\n%s", body)
	}
}
