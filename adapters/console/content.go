package console

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// entriesPerPage is how many rows the content table shows before its
// "More" link.
const entriesPerPage = 50

// revisionsPerPage is how many saves the revisions table shows at once.
const revisionsPerPage = 50

// maxEntryFormBytes bounds an editor's POST: a body of domain.MaxBodyBytes
// may triple when percent-encoded, and the other fields are small.
const maxEntryFormBytes = 3*domain.MaxBodyBytes + 64<<10

// maxFilterLen bounds the tag and search filters, as the API's does.
const maxFilterLen = 200

// scheduleLayouts are what a datetime-local input sends, with and without
// seconds; the page says the time is UTC, so it is read as UTC.
var scheduleLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04"}

func (c *Console) contentRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/workspaces/{ws}/content", c.contentList)
	mux.HandleFunc("GET /console/workspaces/{ws}/content/new", c.newEntry)
	mux.HandleFunc("POST /console/workspaces/{ws}/content/new", c.createEntry)
	mux.HandleFunc("GET /console/workspaces/{ws}/content/{id}", c.entryPage)
	mux.HandleFunc("POST /console/workspaces/{ws}/content/{id}", c.saveEntry)
	mux.HandleFunc("POST /console/workspaces/{ws}/content/{id}/publish", c.publishEntry)
	mux.HandleFunc("POST /console/workspaces/{ws}/content/{id}/unpublish", c.unpublishEntry)
	mux.HandleFunc("POST /console/workspaces/{ws}/content/{id}/delete", c.deleteEntry)
	mux.HandleFunc("GET /console/workspaces/{ws}/content/{id}/revisions", c.entryRevisions)
	mux.HandleFunc("GET /console/workspaces/{ws}/content/{id}/revisions/{rev}", c.entryRevision)
	mux.HandleFunc("POST /console/workspaces/{ws}/content/{id}/revisions/{rev}/restore", c.restoreRevision)
}

func contentPath(ws string, parts ...string) string {
	p := Prefix + "workspaces/" + url.PathEscape(ws) + "/content"
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// contentListData is what the content table shows: the filters in force
// and a link to the next page.
type contentListData struct {
	Rows     []domain.Entry
	Kind     string
	Status   string
	Tag      string
	Query    string
	Kinds    []string
	Statuses []string
	More     string
	CanWrite bool
}

// contentList shows a workspace's posts and pages, filtered by kind,
// status, tag and a search, with a cursor link to more, as GET
// /v1/workspaces/{ws}/entries pages them.
func (c *Console) contentList(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	d := contentListData{
		Kind: q.Get("kind"), Status: q.Get("status"),
		Tag: domain.TagSlug(q.Get("tag")), Query: strings.TrimSpace(q.Get("q")),
		Kinds: []string{"post", "page"}, Statuses: []string{"draft", "scheduled", "published", "archived"},
	}
	var f ports.EntryFilter
	if d.Kind != "" {
		k, err := domain.ParseEntryKind(d.Kind)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		f.Kind = &k
	}
	if d.Status != "" {
		st, err := domain.ParseEntryStatus(d.Status)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		f.Status = &st
	}
	if len(d.Tag) > maxFilterLen || len(d.Query) > maxFilterLen {
		c.fail(w, r, domain.Invalid(domain.FieldError{Field: "q", Code: "too_long", Message: "Use at most 200 characters."}))
		return
	}
	f.Tag, f.Query = d.Tag, d.Query
	var next string
	var err error
	d.Rows, next, err = c.cfg.Content.ListEntries(r.Context(), p, r.PathValue("ws"), f, ports.Page{After: q.Get("after"), Limit: entriesPerPage})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if d.CanWrite, err = c.may(r, p, ws, domain.PermContentWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	d.More = nextPage(contentPath(ws.Slug()), next, "kind", d.Kind, "status", d.Status, "tag", d.Tag, "q", d.Query)
	c.render(w, r, http.StatusOK, "content", page{Title: "Content · " + ws.Name(), Signed: true, Workspace: &ws, Section: "content", Data: d})
}

// entryForm is the editor's fields as the browser sends them back.
type entryForm struct {
	Kind           string
	Title          string
	Slug           string
	Body           string
	Excerpt        string
	Tags           string // comma-separated: a tag cannot hold a comma
	CoverImageURL  string
	SEOTitle       string
	SEODescription string
	// Version is the entry version the text was based on, sent back as
	// the save's If-Match, so that a save never overwrites a version its
	// author has not seen.
	Version int
}

func entryFormOf(kind domain.EntryKind, c domain.EntryContent, version int) entryForm {
	return entryForm{
		Kind: kind.String(), Title: c.Title, Slug: c.Slug, Body: c.Body, Excerpt: c.Excerpt,
		Tags: strings.Join(c.Tags, ", "), CoverImageURL: c.CoverImageURL,
		SEOTitle: c.SEO.Title, SEODescription: c.SEO.Description, Version: version,
	}
}

// readEntryForm reads the editor's fields. Browsers send a text area's
// line breaks as CRLF; they are stored as LF, as an API client sends
// them, so that the console does not change every line of a body it
// saves, and its diffs show only what the author changed.
func readEntryForm(r *http.Request) entryForm {
	lf := func(s string) string { return strings.ReplaceAll(r.PostFormValue(s), "\r\n", "\n") }
	f := entryForm{
		Kind: r.PostFormValue("kind"), Title: r.PostFormValue("title"), Slug: r.PostFormValue("slug"),
		Body: lf("body"), Excerpt: lf("excerpt"), Tags: r.PostFormValue("tags"),
		CoverImageURL: r.PostFormValue("cover_image_url"), SEOTitle: r.PostFormValue("seo_title"), SEODescription: lf("seo_description"),
	}
	f.Version, _ = strconv.Atoi(r.PostFormValue("version"))
	return f
}

func (f entryForm) content() domain.EntryContent {
	tags := []string{}
	for t := range strings.SplitSeq(f.Tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return domain.EntryContent{
		Title: f.Title, Slug: f.Slug, Body: f.Body, Excerpt: f.Excerpt, Tags: tags,
		CoverImageURL: f.CoverImageURL, SEO: domain.SEO{Title: f.SEOTitle, Description: f.SEODescription},
	}
}

// patch replaces every field: the editor shows them all, so what it sends
// back is the whole content its author means.
func (f entryForm) patch() domain.EntryPatch {
	c := f.content()
	return domain.EntryPatch{
		Title: &c.Title, Slug: &c.Slug, Body: &c.Body, Excerpt: &c.Excerpt, Tags: &c.Tags,
		CoverImageURL: &c.CoverImageURL, SEO: &c.SEO,
	}
}

// entryText is an entry's content as lines to compare: its fields, one a
// line, then its body.
func entryText(c domain.EntryContent) string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"Title", c.Title}, {"Slug", c.Slug}, {"Excerpt", c.Excerpt}, {"Tags", strings.Join(c.Tags, ", ")},
		{"Cover image", c.CoverImageURL}, {"SEO title", c.SEO.Title}, {"SEO description", c.SEO.Description},
	} {
		b.WriteString(kv[0] + ": " + strings.ReplaceAll(kv[1], "\n", " ") + "\n")
	}
	b.WriteString("\n" + c.Body)
	return b.String()
}

// conflictData is what a save that lost the race shows: the version that
// won and how it differs from the text that lost.
type conflictData struct {
	Theirs domain.Entry
	Diff   template.HTML
}

// entryData is what the entry page shows. Entry is nil on the new entry
// page. Form is the editor's text: the entry's, or what the author sent
// when a preview, an error or a conflict shows it again.
type entryData struct {
	Entry    *domain.Entry
	Rendered template.HTML // the stored body, as the API serves it
	Form     entryForm
	CanWrite bool
	Preview  *template.HTML
	Errors   []string
	Invalid  map[string]bool
	Conflict *conflictData
	NowUTC   string
}

func (d *entryData) setError(err error) {
	var de *domain.Error
	if !errors.As(err, &de) {
		return
	}
	d.Invalid = map[string]bool{}
	for _, fe := range de.Fields {
		d.Errors = append(d.Errors, fieldLabel(fe.Field)+": "+fe.Message)
		d.Invalid[fe.Field] = true
	}
	if len(de.Fields) == 0 {
		d.Errors = append(d.Errors, de.Message)
	}
}

// fieldLabel names a field of an entry rule's error as the editor labels it.
func fieldLabel(field string) string {
	switch field {
	case "cover_image_url":
		return "Cover image URL"
	case "seo.title":
		return "SEO title"
	case "seo.description":
		return "SEO description"
	}
	if field == "" {
		return "Entry"
	}
	return strings.ToUpper(field[:1]) + field[1:]
}

// editorError reports whether err is one the editor shows next to the
// author's text (a broken rule, a slug in use) and the status to send.
func editorError(err error) (int, bool) {
	switch domain.KindOf(err) {
	case domain.KindInvalid:
		return http.StatusUnprocessableEntity, true
	case domain.KindConflict:
		return http.StatusConflict, true
	}
	return 0, false
}

func (c *Console) renderEntry(w http.ResponseWriter, r *http.Request, status int, ws domain.Workspace, d entryData, errText string) {
	title := "New " + d.Form.Kind
	if d.Entry != nil {
		title = d.Entry.Title()
		d.Rendered = template.HTML(d.Entry.Rendered().HTML) // safe: ports.Renderer's contract
	}
	d.NowUTC = time.Now().UTC().Format("2006-01-02 15:04")
	c.render(w, r, status, "entry", page{Title: title + " · " + ws.Name(), Signed: true, Workspace: &ws, Section: "content", Data: d, Error: errText})
}

// newEntry shows an empty editor to a member who may write content.
func (c *Console) newEntry(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	can, err := c.may(r, p, ws, domain.PermContentWrite)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if !can {
		c.notFound(w, r)
		return
	}
	kind := "post"
	if r.URL.Query().Get("kind") == "page" {
		kind = "page"
	}
	c.renderEntry(w, r, http.StatusOK, ws, entryData{Form: entryForm{Kind: kind}, CanWrite: true}, "")
}

// previewBody renders the editor's body through the use case, with the
// renderer the API's body_html comes from, and stores nothing.
func (c *Console) previewBody(r *http.Request, p domain.Principal, f entryForm) (*template.HTML, error) {
	out, err := c.cfg.Content.PreviewBody(r.Context(), p, r.PathValue("ws"), f.Body)
	if err != nil {
		return nil, err
	}
	h := template.HTML(out.HTML) // safe: ports.Renderer's contract
	return &h, nil
}

// createEntry previews or creates a new entry, as POST
// /v1/workspaces/{ws}/entries does; an entry the rules refuse comes back
// in the editor with its errors and the author's text.
func (c *Console) createEntry(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok || !c.readPostedForm(w, r, maxEntryFormBytes) {
		return
	}
	f := readEntryForm(r)
	d := entryData{Form: f, CanWrite: true}
	var err error
	if r.PostFormValue("action") == "preview" {
		if d.Preview, err = c.previewBody(r, p, f); err == nil {
			c.renderEntry(w, r, http.StatusOK, ws, d, "")
			return
		}
	} else {
		var e domain.Entry
		if e, err = c.cfg.Content.CreateEntry(r.Context(), p, r.PathValue("ws"), content.CreateInput{Kind: f.Kind, Content: f.content()}); err == nil {
			http.Redirect(w, r, contentPath(ws.Slug(), e.ID().String()), http.StatusSeeOther)
			return
		}
	}
	if status, ok := editorError(err); ok {
		d.setError(err)
		c.renderEntry(w, r, status, ws, d, "")
		return
	}
	c.fail(w, r, err)
}

// entryPage shows an entry: to editors and up in the editor with its
// publication controls, to viewers as it reads.
func (c *Console) entryPage(w http.ResponseWriter, r *http.Request) {
	c.showEntry(w, r, http.StatusOK, "")
}

// showEntry renders the entry page afresh, with errText above it: a
// change that lost a race or broke a rule shows the entry as it now is.
func (c *Console) showEntry(w http.ResponseWriter, r *http.Request, status int, errText string) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	e, err := c.cfg.Content.GetEntry(r.Context(), p, r.PathValue("ws"), domain.EntryID(r.PathValue("id")))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := entryData{Entry: &e, Form: entryFormOf(e.Kind(), e.Content(), e.Version())}
	if d.CanWrite, err = c.may(r, p, ws, domain.PermContentWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	c.renderEntry(w, r, status, ws, d, errText)
}

// saveEntry previews or saves the editor's text, as PATCH
// /v1/…/entries/{id} with If-Match does. A save based on a version that
// is no longer current overwrites nothing: the page shows the current
// version, how it differs from the author's text, and keeps that text in
// the editor, now based on the current version, so that saving again
// after merging goes through.
func (c *Console) saveEntry(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok || !c.readPostedForm(w, r, maxEntryFormBytes) {
		return
	}
	ref, id := r.PathValue("ws"), domain.EntryID(r.PathValue("id"))
	f := readEntryForm(r)
	if f.Version < 1 {
		c.fail(w, r, errBadVersion)
		return
	}
	var err error
	var prev *template.HTML
	if r.PostFormValue("action") == "preview" {
		prev, err = c.previewBody(r, p, f)
	} else if _, err = c.cfg.Content.UpdateEntry(r.Context(), p, ref, id, &f.Version, f.patch()); err == nil {
		http.Redirect(w, r, contentPath(ws.Slug(), id.String()), http.StatusSeeOther)
		return
	}
	status, shown := editorError(err)
	conflict := errors.Is(err, domain.ErrVersionConflict)
	if err != nil && !shown && !conflict && !errors.Is(err, domain.ErrNotFound) {
		c.fail(w, r, err)
		return
	}
	e, gerr := c.cfg.Content.GetEntry(r.Context(), p, ref, id)
	if errors.Is(gerr, domain.ErrNotFound) {
		// Someone deleted the entry meanwhile (the use cases found the
		// workspace and let this member write): the author's text is all
		// that is left of it, so it stays, in an editor for a new entry.
		if f.Kind == "" {
			f.Kind = domain.KindPost.String()
		}
		d := entryData{Form: f, CanWrite: true}
		c.renderEntry(w, r, http.StatusConflict, ws, d, "This entry was deleted after you opened it. Your text is still below: save it to make a new entry.")
		return
	}
	if gerr != nil {
		c.fail(w, r, gerr)
		return
	}
	f.Kind = e.Kind().String()
	d := entryData{Entry: &e, Form: f, CanWrite: true, Preview: prev}
	switch {
	case conflict:
		status = http.StatusConflict
		// Computed here, outside any transaction; diffLines bounds its work.
		d.Conflict = &conflictData{Theirs: e, Diff: diffHTML(diffLines(entryText(f.content()), entryText(e.Content())))}
		d.Form.Version = e.Version()
	case err != nil:
		d.setError(err)
	default:
		status = http.StatusOK
	}
	c.renderEntry(w, r, status, ws, d, "")
}

var errBadVersion = domain.Invalid(domain.FieldError{Field: "version", Code: "invalid_version", Message: "The form lacks the version it was based on. Reload the page."})

// versionedPost authenticates a publication form's POST and reads its
// version, the If-Match of the use case it calls.
func (c *Console) versionedPost(w http.ResponseWriter, r *http.Request) (domain.Principal, int, bool) {
	p, ok := c.postForm(w, r, 4<<10)
	if !ok {
		return p, 0, false
	}
	v, err := strconv.Atoi(r.PostFormValue("version"))
	if err != nil || v < 1 {
		c.fail(w, r, errBadVersion)
		return p, 0, false
	}
	return p, v, true
}

// afterEntryChange ends a publication change: back to the entry on
// success; on a lost race or a refused step, the entry as it now is, with
// why.
func (c *Console) afterEntryChange(w http.ResponseWriter, r *http.Request, err error) {
	var de *domain.Error
	switch {
	case err == nil:
		http.Redirect(w, r, contentPath(r.PathValue("ws"), r.PathValue("id")), http.StatusSeeOther)
	case errors.Is(err, domain.ErrVersionConflict):
		c.showEntry(w, r, http.StatusConflict, "Someone changed this entry after you opened it, so nothing was done. Here it is as it is now: check it and try again.")
	case errors.As(err, &de) && de.Kind == domain.KindConflict:
		c.showEntry(w, r, http.StatusConflict, de.Message)
	case errors.As(err, &de) && de.Kind == domain.KindInvalid:
		msg := de.Message
		if len(de.Fields) > 0 {
			msg = de.Fields[0].Message
		}
		c.showEntry(w, r, http.StatusUnprocessableEntity, msg)
	default:
		c.fail(w, r, err)
	}
}

// publishEntry publishes an entry now or schedules it, as POST
// /v1/…/entries/{id}/publish does. The schedule's time is read as UTC,
// which the page says; as in the API, a time at most five minutes past
// publishes at once, and an earlier one dates the entry then for admins
// and owners (content:import) and is refused for editors.
func (c *Console) publishEntry(w http.ResponseWriter, r *http.Request) {
	p, v, ok := c.versionedPost(w, r)
	if !ok {
		return
	}
	var at *time.Time
	if s := strings.TrimSpace(r.PostFormValue("publish_at")); s != "" || r.PostFormValue("action") == "schedule" {
		t, err := parseScheduleUTC(s)
		if err != nil {
			c.afterEntryChange(w, r, err)
			return
		}
		at = &t
	}
	_, err := c.cfg.Content.PublishEntry(r.Context(), p, r.PathValue("ws"), domain.EntryID(r.PathValue("id")), at, &v)
	c.afterEntryChange(w, r, err)
}

func parseScheduleUTC(s string) (time.Time, error) {
	for _, layout := range scheduleLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, domain.Invalid(domain.FieldError{Field: "publish_at", Code: "invalid_time", Message: "Give the date and time to publish at, in UTC."})
}

// unpublishEntry takes an entry off the site, to draft or the archive, or
// cancels its schedule, as POST /v1/…/entries/{id}/unpublish does.
func (c *Console) unpublishEntry(w http.ResponseWriter, r *http.Request) {
	p, v, ok := c.versionedPost(w, r)
	if !ok {
		return
	}
	to, err := domain.ParseEntryStatus(r.PostFormValue("to"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	_, err = c.cfg.Content.UnpublishEntry(r.Context(), p, r.PathValue("ws"), domain.EntryID(r.PathValue("id")), to, &v)
	c.afterEntryChange(w, r, err)
}

// deleteEntry deletes an entry and its revisions, as DELETE
// /v1/…/entries/{id} with If-Match does, and goes back to the table.
func (c *Console) deleteEntry(w http.ResponseWriter, r *http.Request) {
	p, v, ok := c.versionedPost(w, r)
	if !ok {
		return
	}
	err := c.cfg.Content.DeleteEntry(r.Context(), p, r.PathValue("ws"), domain.EntryID(r.PathValue("id")), &v)
	if err != nil {
		c.afterEntryChange(w, r, err)
		return
	}
	http.Redirect(w, r, contentPath(r.PathValue("ws")), http.StatusSeeOther)
}

// revisionsData is what an entry's revisions table shows.
type revisionsData struct {
	Entry domain.Entry
	Rows  []domain.Revision
	Older string
	Names map[string]string // see actorNames
}

// entryRevisions lists an entry's saves, newest first.
func (c *Console) entryRevisions(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	ref, id := r.PathValue("ws"), domain.EntryID(r.PathValue("id"))
	e, err := c.cfg.Content.GetEntry(r.Context(), p, ref, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := revisionsData{Entry: e}
	var next string
	d.Rows, next, err = c.cfg.Content.ListRevisions(r.Context(), p, ref, id, ports.Page{After: r.URL.Query().Get("after"), Limit: revisionsPerPage})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Older = nextPage(contentPath(ws.Slug(), id.String(), "revisions"), next)
	if d.Names, err = c.actorNames(r, p); err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "entry-revisions", page{Title: "Revisions · " + e.Title(), Signed: true, Workspace: &ws, Section: "content", Data: d})
}

// revisionData is what a revision's page shows: its content, how the
// current version differs from it, and, for editors and up, a restore.
type revisionData struct {
	Entry    domain.Entry
	Rev      domain.Revision
	Current  bool
	Diff     template.HTML
	CanWrite bool
	Names    map[string]string // see actorNames
}

// entryRevision shows one save of an entry and a line diff from it to
// the current version.
func (c *Console) entryRevision(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	ref, id := r.PathValue("ws"), domain.EntryID(r.PathValue("id"))
	v, err := strconv.Atoi(r.PathValue("rev"))
	if err != nil || v < 1 {
		c.notFound(w, r)
		return
	}
	rev, err := c.cfg.Content.GetRevision(r.Context(), p, ref, id, v)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	e, err := c.cfg.Content.GetEntry(r.Context(), p, ref, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := revisionData{Entry: e, Rev: rev, Current: rev.Version == e.Version()}
	if d.CanWrite, err = c.may(r, p, ws, domain.PermContentWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Names, err = c.actorNames(r, p); err != nil {
		c.fail(w, r, err)
		return
	}
	// Computed here, outside any transaction; diffLines bounds its work.
	d.Diff = diffHTML(diffLines(entryText(rev.Content), entryText(e.Content())))
	c.render(w, r, http.StatusOK, "entry-revision", page{Title: "Revision " + strconv.Itoa(v) + " · " + e.Title(), Signed: true, Workspace: &ws, Section: "content", Data: d})
}

// actorNames maps the user IDs of the workspace's members, as a revision
// names who saved it, to their names and e-mail addresses. It reads one
// page of members, the most a page holds: a revision by anyone else (a
// former member, an API key) shows its ID instead.
func (c *Console) actorNames(r *http.Request, p domain.Principal) (map[string]string, error) {
	ms, _, err := c.cfg.Identity.ListMembers(r.Context(), p, r.PathValue("ws"), ports.Page{Limit: ports.MaxPageLimit})
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(ms))
	for _, m := range ms {
		names[string(m.User.ID())] = m.User.Name() + " <" + m.User.Email().String() + ">"
	}
	return names, nil
}

// restoreRevision puts a revision's content back, as POST
// /v1/…/revisions/{rev}/restore with If-Match does.
func (c *Console) restoreRevision(w http.ResponseWriter, r *http.Request) {
	p, v, ok := c.versionedPost(w, r)
	if !ok {
		return
	}
	rev, err := strconv.Atoi(r.PathValue("rev"))
	if err != nil || rev < 1 {
		c.notFound(w, r)
		return
	}
	_, err = c.cfg.Content.RestoreRevision(r.Context(), p, r.PathValue("ws"), domain.EntryID(r.PathValue("id")), rev, &v)
	c.afterEntryChange(w, r, err)
}

// diffTemplate shows a lineDiff: a removed line marked "−" in a del, an
// added one "+" in an ins, so that the change reads without colour too.
var diffTemplate = template.Must(template.New("diff").Parse(`{{if .TooDifferent}}<p class="muted">These versions are too different to compare line by line.</p>
{{- else if .Same}}<p class="muted">No difference.</p>
{{- else}}<div class="scroll diff" tabindex="0" role="region" aria-label="Differences"><pre>
{{- range .Lines}}{{if .Del}}<del>− {{.Text}}</del>{{else if .Add}}<ins>+ {{.Text}}</ins>{{else if .Folded}}<span class="fold">⋯ {{.Fold}} unchanged line{{if ne .Fold 1}}s{{end}}</span>{{else}}<span>  {{.Text}}</span>{{end}}
{{end}}</pre></div>{{end}}`))

func diffHTML(d lineDiff) template.HTML {
	var b bytes.Buffer
	if err := diffTemplate.Execute(&b, d); err != nil {
		// The template only reads fields of d; it cannot fail but on a
		// programming error, which the tests catch.
		panic(err)
	}
	return template.HTML(b.String()) // escaped by diffTemplate
}
