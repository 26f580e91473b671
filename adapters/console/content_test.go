package console

import (
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/markdown"
	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// withContent gives the console the content service keel serve gives
// it, with the renderer the API's body_html comes from.
func (f *fixture) withContent(t *testing.T) *content.Service {
	t.Helper()
	svc := content.NewService(content.Config{UoW: f.db, Authorizer: f.c.cfg.Authorizer, Clock: ports.ClockFunc(time.Now), Renderer: markdown.New()})
	f.c.cfg.Content = svc
	return svc
}

func (f *fixture) newEntry(t *testing.T, svc *content.Service, kind, title, body string) domain.Entry {
	t.Helper()
	e, err := svc.CreateEntry(t.Context(), f.admin, "site", content.CreateInput{Kind: kind, Content: domain.EntryContent{Title: title, Body: body}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *fixture) entry(t *testing.T, svc *content.Service, id domain.EntryID) domain.Entry {
	t.Helper()
	e, err := svc.GetEntry(t.Context(), f.admin, "site", id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func entryPath(id domain.EntryID) string { return "/console/workspaces/site/content/" + string(id) }

func TestContentListFiltersAndLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	svc := f.withContent(t)
	post := f.newEntry(t, svc, "post", "Harbour news", "Boats came in.")
	page := f.newEntry(t, svc, "page", "About the harbour", "We moor boats.")
	if _, err := svc.PublishEntry(t.Context(), f.admin, "site", post.ID(), nil, nil); err != nil {
		t.Fatal(err)
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	cases := []struct {
		query     string
		want, not []string
	}{
		{"", []string{entryPath(post.ID()), entryPath(page.ID()), "New post", "New page"}, nil},
		{"?kind=page", []string{entryPath(page.ID())}, []string{entryPath(post.ID())}},
		{"?status=published", []string{entryPath(post.ID())}, []string{entryPath(page.ID())}},
		{"?q=moor", []string{entryPath(page.ID())}, []string{entryPath(post.ID())}},
		{"?status=archived", []string{"match these filters"}, []string{entryPath(post.ID()), entryPath(page.ID())}},
	}
	for _, c := range cases {
		w := f.do(t, "GET", "/console/workspaces/site/content"+c.query, ck.Value, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("content%s: %d\n%s", c.query, w.Code, w.Body)
		}
		for _, s := range c.want {
			if !strings.Contains(w.Body.String(), s) {
				t.Errorf("content%s does not show %q", c.query, s)
			}
		}
		for _, s := range c.not {
			if strings.Contains(w.Body.String(), s) {
				t.Errorf("content%s shows %q", c.query, s)
			}
		}
	}
	if w := f.do(t, "GET", "/console/workspaces/site/content?kind=essay", ck.Value, nil); w.Code != http.StatusBadRequest {
		t.Errorf("an unknown kind: %d, want 400", w.Code)
	}
	if w := f.do(t, "GET", "/console/workspaces/other/content", ck.Value, nil); w.Code != http.StatusNotFound {
		t.Errorf("another user's workspace: %d, want 404", w.Code)
	}
}

func TestContentListPagesWithACursor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	svc := f.withContent(t)
	for i := range entriesPerPage + 1 {
		f.newEntry(t, svc, "post", "Post "+strconv.Itoa(i), "x")
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "GET", "/console/workspaces/site/content?kind=post", ck.Value, nil)
	body := w.Body.String()
	i := strings.Index(body, `rel="next"`)
	if w.Code != http.StatusOK || i < 0 || strings.Contains(body, ">Post 0<") {
		t.Fatalf("first page: %d, a More link: %v, shows the oldest: %v", w.Code, i >= 0, strings.Contains(body, ">Post 0<"))
	}
	start := strings.LastIndex(body[:i], `href="`) + len(`href="`)
	more := html.UnescapeString(body[start : start+strings.Index(body[start:], `"`)])
	if !strings.Contains(more, "kind=post") {
		t.Errorf("the More link %q drops the filter", more)
	}
	w = f.do(t, "GET", more, ck.Value, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), ">Post 0<") || strings.Contains(w.Body.String(), ">Post 1<") {
		t.Errorf("second page: %d\n%s", w.Code, w.Body)
	}
}

func TestEditorPreviewsWithTheAPIRendererAndCreates(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	svc := f.withContent(t)
	_, ck := f.signIn(t, "ada@example.com", "")
	if w := f.do(t, "GET", "/console/workspaces/site/content/new?kind=page", ck.Value, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<option value="page" selected>`) {
		t.Fatalf("new page: %d\n%s", w.Code, w.Body)
	}
	body := "## Tides\r\n\r\nHigh at <script>alert(1)</script>*noon*."
	form := url.Values{"kind": {"post"}, "title": {"Tide tables"}, "body": {body}, "tags": {"Tides, harbour"}, "action": {"preview"}}
	w := f.do(t, "POST", "/console/workspaces/site/content/new", ck.Value, form, sameOrigin...)
	want := markdown.New().Render(strings.ReplaceAll(body, "\r\n", "\n")).HTML
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<div class="rendered" id="preview">`+want+`</div>`) {
		t.Fatalf("preview: %d, want the API's HTML %q in\n%s", w.Code, want, w.Body)
	}
	if strings.Contains(want, "<script") || !strings.Contains(want, "<h2") {
		t.Errorf("the renderer made %q", want)
	}
	if !strings.Contains(w.Body.String(), "High at &lt;script&gt;") {
		t.Error("the preview does not keep the text in the editor")
	}
	if es, _, _ := svc.ListEntries(t.Context(), f.admin, "site", ports.EntryFilter{}, ports.Page{}); len(es) != 0 {
		t.Fatalf("a preview stored %d entries", len(es))
	}

	form.Set("action", "save")
	w = f.do(t, "POST", "/console/workspaces/site/content/new", ck.Value, form, sameOrigin...)
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/workspaces/site/content/ent_") {
		t.Fatalf("save: %d to %q\n%s", w.Code, loc, w.Body)
	}
	e := f.entry(t, svc, domain.EntryID(strings.TrimPrefix(loc, "/console/workspaces/site/content/")))
	if e.Body() != strings.ReplaceAll(body, "\r\n", "\n") || e.Slug() != "tide-tables" || e.Rendered().HTML != want || strings.Join(e.Tags(), ",") != "Tides,harbour" { // tags keep the case typed
		t.Errorf("saved %q slug %q tags %q html %q", e.Body(), e.Slug(), e.Tags(), e.Rendered().HTML)
	}
	if w := f.do(t, "GET", loc, ck.Value, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="entry-status">draft<`) {
		t.Errorf("the entry page: %d\n%s", w.Code, w.Body)
	}

	// A slug in use and a missing title come back in the editor, with
	// the author's text.
	form.Set("title", "")
	form.Set("slug", "tide-tables")
	w = f.do(t, "POST", "/console/workspaces/site/content/new", ck.Value, form, sameOrigin...)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "Title: Give the entry a title.") || !strings.Contains(w.Body.String(), "High at &lt;script&gt;") {
		t.Errorf("no title: %d\n%s", w.Code, w.Body)
	}
	form.Set("title", "Tide tables again")
	w = f.do(t, "POST", "/console/workspaces/site/content/new", ck.Value, form, sameOrigin...)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "uses this slug") {
		t.Errorf("a slug in use: %d\n%s", w.Code, w.Body)
	}
}

func TestASaveThatLostTheRaceShowsTheirVersionAndKeepsYours(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	svc := f.withContent(t)
	e := f.newEntry(t, svc, "post", "Ferry times", "Monday 9:00\nTuesday 9:00\nWednesday 9:00")
	theirs := "Monday 9:00\nTuesday 10:00\nWednesday 9:00"
	if _, err := svc.UpdateEntry(t.Context(), f.admin, "site", e.ID(), nil, domain.EntryPatch{Body: &theirs}); err != nil {
		t.Fatal(err)
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	mine := "Monday 9:00\r\nTuesday 9:00\r\nWednesday 9:30"
	form := url.Values{"version": {"1"}, "title": {"Ferry times"}, "slug": {"ferry-times"}, "body": {mine}, "action": {"save"}}
	w := f.do(t, "POST", entryPath(e.ID()), ck.Value, form, sameOrigin...)
	page := w.Body.String()
	if w.Code != http.StatusConflict {
		t.Fatalf("stale save: %d, want 409\n%s", w.Code, page)
	}
	for _, s := range []string{
		"Someone else saved this entry first",
		"Monday 9:00\nTuesday 9:00\nWednesday 9:30</textarea>", // yours, in the editor
		`<input type="hidden" name="version" value="2">`,       // now based on theirs
		"<del>− Tuesday 9:00</del>", "<ins>+ Tuesday 10:00</ins>",
		"<del>− Wednesday 9:30</del>", "<ins>+ Wednesday 9:00</ins>",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("the conflict page does not show %q:\n%s", s, page)
		}
	}
	if got := f.entry(t, svc, e.ID()); got.Body() != theirs || got.Version() != 2 {
		t.Fatalf("the stale save overwrote: %q v%d", got.Body(), got.Version())
	}
	form.Set("version", "2")
	if w := f.do(t, "POST", entryPath(e.ID()), ck.Value, form, sameOrigin...); w.Code != http.StatusSeeOther {
		t.Fatalf("save after merging: %d\n%s", w.Code, w.Body)
	}
	if got := f.entry(t, svc, e.ID()); got.Body() != strings.ReplaceAll(mine, "\r\n", "\n") || got.Version() != 3 {
		t.Errorf("after merging: %q v%d", got.Body(), got.Version())
	}

	// Deleted meanwhile: the text stays, in an editor for a new entry.
	if err := svc.DeleteEntry(t.Context(), f.admin, "site", e.ID(), nil); err != nil {
		t.Fatal(err)
	}
	form.Set("version", "3")
	w = f.do(t, "POST", entryPath(e.ID()), ck.Value, form, sameOrigin...)
	page = w.Body.String()
	if w.Code != http.StatusConflict || !strings.Contains(page, "was deleted after you opened it") || !strings.Contains(page, "Wednesday 9:30</textarea>") || !strings.Contains(page, `action="/console/workspaces/site/content/new"`) {
		t.Errorf("saving a deleted entry: %d\n%s", w.Code, page)
	}
}

func TestPublicationButtonsFollowTheStateMachine(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	svc := f.withContent(t)
	e := f.newEntry(t, svc, "post", "Regatta", "Sails up.")
	_, ck := f.signIn(t, "ada@example.com", "")
	at := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	steps := []struct {
		name, action string
		form         url.Values
		status       domain.EntryStatus
		buttons      []string
	}{
		{"schedule", "publish", url.Values{"action": {"schedule"}, "publish_at": {at.Format("2006-01-02T15:04:05")}}, domain.EntryScheduled, []string{`id="publish-now"`, `id="unschedule"`, `id="schedule"`}},
		{"cancel the schedule", "unpublish", url.Values{"to": {"draft"}}, domain.EntryDraft, []string{`id="publish-now"`, `id="schedule"`}},
		{"publish now", "publish", url.Values{}, domain.EntryPublished, []string{`id="unpublish"`, `id="archive"`}},
		{"archive", "unpublish", url.Values{"to": {"archived"}}, domain.EntryArchived, []string{`id="publish-now"`, `id="schedule"`}},
	}
	all := []string{`id="publish-now"`, `id="schedule"`, `id="unpublish"`, `id="archive"`, `id="unschedule"`}
	for _, s := range steps {
		cur := f.entry(t, svc, e.ID())
		s.form.Set("version", strconv.Itoa(cur.Version()))
		w := f.do(t, "POST", entryPath(e.ID())+"/"+s.action, ck.Value, s.form, sameOrigin...)
		if w.Code != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", s.name, w.Code, w.Body)
		}
		got := f.entry(t, svc, e.ID())
		if got.Status() != s.status {
			t.Fatalf("%s: status %s, want %s", s.name, got.Status(), s.status)
		}
		if s.status == domain.EntryScheduled && (got.PublishAt() == nil || !got.PublishAt().Equal(at)) {
			t.Errorf("scheduled for %v, want %v (UTC)", got.PublishAt(), at)
		}
		page := f.do(t, "GET", entryPath(e.ID()), ck.Value, nil).Body.String()
		for _, b := range all {
			if want := strings.Contains(strings.Join(s.buttons, " "), b); strings.Contains(page, b) != want {
				t.Errorf("after %s: button %s shown %v, want %v", s.name, b, !want, want)
			}
		}
	}
	// A change based on a version that is no longer current does nothing.
	w := f.do(t, "POST", entryPath(e.ID())+"/publish", ck.Value, url.Values{"version": {"1"}}, sameOrigin...)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "Someone changed this entry") {
		t.Errorf("stale publish: %d\n%s", w.Code, w.Body)
	}
	if got := f.entry(t, svc, e.ID()); got.Status() != domain.EntryArchived {
		t.Errorf("after a stale publish the status is %s", got.Status())
	}
	w = f.do(t, "POST", entryPath(e.ID())+"/publish", ck.Value, url.Values{"version": {"6"}, "action": {"schedule"}, "publish_at": {"tomorrow"}}, sameOrigin...)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "in UTC") {
		t.Errorf("a malformed time: %d\n%s", w.Code, w.Body)
	}
	cur := f.entry(t, svc, e.ID())
	w = f.do(t, "POST", entryPath(e.ID())+"/delete", ck.Value, url.Values{"version": {strconv.Itoa(cur.Version())}}, sameOrigin...)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/workspaces/site/content" {
		t.Fatalf("delete: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if _, err := svc.GetEntry(t.Context(), f.admin, "site", e.ID()); domain.KindOf(err) != domain.KindNotFound {
		t.Errorf("after delete: %v", err)
	}
}

func TestRevisionsShowADiffAndRestore(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	svc := f.withContent(t)
	e := f.newEntry(t, svc, "page", "Opening hours", "Open daily.\nClosed on Sunday.")
	changed := "Open daily.\nOpen on Sunday too."
	if _, err := svc.UpdateEntry(t.Context(), f.admin, "site", e.ID(), nil, domain.EntryPatch{Body: &changed}); err != nil {
		t.Fatal(err)
	}
	_, ck := f.signIn(t, "ada@example.com", "")
	w := f.do(t, "GET", entryPath(e.ID())+"/revisions", ck.Value, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), entryPath(e.ID())+"/revisions/1") || !strings.Contains(w.Body.String(), "Version 2</a> (current)") || !strings.Contains(w.Body.String(), "Ada &lt;ada@example.com&gt;") {
		t.Fatalf("revisions: %d\n%s", w.Code, w.Body)
	}
	w = f.do(t, "GET", entryPath(e.ID())+"/revisions/1", ck.Value, nil)
	for _, s := range []string{"<span>  Open daily.</span>", "<del>− Closed on Sunday.</del>", "<ins>+ Open on Sunday too.</ins>", `id="restore"`} {
		if !strings.Contains(w.Body.String(), s) {
			t.Errorf("revision 1 does not show %q:\n%s", s, w.Body)
		}
	}
	if w := f.do(t, "GET", entryPath(e.ID())+"/revisions/9", ck.Value, nil); w.Code != http.StatusNotFound {
		t.Errorf("an unknown revision: %d", w.Code)
	}
	if w := f.do(t, "POST", entryPath(e.ID())+"/revisions/1/restore", ck.Value, url.Values{"version": {"1"}}, sameOrigin...); w.Code != http.StatusConflict {
		t.Errorf("a stale restore: %d", w.Code)
	}
	if w := f.do(t, "POST", entryPath(e.ID())+"/revisions/1/restore", ck.Value, url.Values{"version": {"2"}}, sameOrigin...); w.Code != http.StatusSeeOther {
		t.Fatalf("restore: %d\n%s", w.Code, w.Body)
	}
	if got := f.entry(t, svc, e.ID()); got.Body() != "Open daily.\nClosed on Sunday." || got.Version() != 3 {
		t.Errorf("restored: %q v%d", got.Body(), got.Version())
	}
}

func TestAViewerSeesNoEditControlsAndCannotForgeThem(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	svc := f.withContent(t)
	e := f.newEntry(t, svc, "post", "Lighthouse", "## Beam\n\nIt turns.")
	if _, err := f.ids.AddMember(t.Context(), f.admin, identity.AddMemberInput{Workspace: "site", Email: "bob@example.com", Role: domain.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	_, bob := f.signIn(t, "bob@example.com", "")
	list := f.do(t, "GET", "/console/workspaces/site/content", bob.Value, nil)
	if list.Code != http.StatusOK || !strings.Contains(list.Body.String(), entryPath(e.ID())) || strings.Contains(list.Body.String(), "New post") {
		t.Errorf("viewer's content list: %d\n%s", list.Code, list.Body)
	}
	w := f.do(t, "GET", entryPath(e.ID()), bob.Value, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), e.Rendered().HTML) {
		t.Fatalf("viewer's entry page: %d\n%s", w.Code, w.Body)
	}
	for _, s := range []string{`method="post" action="/console/workspaces/site/content`, "<textarea", "Publish", "Delete"} {
		if strings.Contains(w.Body.String(), s) {
			t.Errorf("a viewer sees %q", s)
		}
	}
	w = f.do(t, "GET", entryPath(e.ID())+"/revisions/1", bob.Value, nil)
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "restore") {
		t.Errorf("viewer's revision page: %d, shows a restore: %v", w.Code, strings.Contains(w.Body.String(), "restore"))
	}
	if w := f.do(t, "GET", "/console/workspaces/site/content/new", bob.Value, nil); w.Code != http.StatusNotFound {
		t.Errorf("viewer's new entry page: %d, want 404", w.Code)
	}
	edit := url.Values{"version": {"1"}, "title": {"Hijacked"}, "slug": {"lighthouse"}, "body": {"x"}}
	for _, post := range []struct {
		path string
		form url.Values
	}{
		{"/console/workspaces/site/content/new", url.Values{"kind": {"post"}, "title": {"Forged"}, "action": {"save"}}},
		{"/console/workspaces/site/content/new", url.Values{"kind": {"post"}, "title": {"Forged"}, "body": {"# x"}, "action": {"preview"}}},
		{entryPath(e.ID()), edit},
		{entryPath(e.ID()) + "/publish", url.Values{"version": {"1"}}},
		{entryPath(e.ID()) + "/unpublish", url.Values{"version": {"1"}, "to": {"draft"}}},
		{entryPath(e.ID()) + "/revisions/1/restore", url.Values{"version": {"1"}}},
		{entryPath(e.ID()) + "/delete", url.Values{"version": {"1"}}},
	} {
		w := f.do(t, "POST", post.path, bob.Value, post.form, sameOrigin...)
		if w.Code != http.StatusNotFound && w.Code != http.StatusForbidden {
			t.Errorf("viewer's forged POST %s %v: %d, want 403 or 404", post.path, post.form, w.Code)
		}
	}
	edit.Set("action", "preview")
	if w := f.do(t, "POST", entryPath(e.ID()), bob.Value, edit, sameOrigin...); w.Code != http.StatusNotFound && w.Code != http.StatusForbidden {
		t.Errorf("viewer's forged preview: %d", w.Code)
	}
	if got := f.entry(t, svc, e.ID()); got.Version() != 1 || got.Status() != domain.EntryDraft {
		t.Errorf("after the viewer's forged posts: v%d %s", got.Version(), got.Status())
	}
	if es, _, _ := svc.ListEntries(t.Context(), f.admin, "site", ports.EntryFilter{}, ports.Page{}); len(es) != 1 {
		t.Errorf("the viewer's forged create made %d entries", len(es)-1)
	}
}
