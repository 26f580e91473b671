package console

import (
	"encoding/csv"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// submissionsPerPage is how many rows a submissions table shows before
// its "Older" link.
const submissionsPerPage = 50

// exportFlushEvery is how many rows an export writes between flushes, as
// in the API: the browser sees progress and Keel holds little.
const exportFlushEvery = 100

// previewRunes bounds a row's preview of a submission's values.
const previewRunes = 80

// consoleStatuses are the statuses a submission can be filed under from
// its page. Spam leaves spam only by its "Not spam" button (spam.go),
// which also queues the mail the spam filter held back.
var consoleStatuses = []domain.SubmissionStatus{domain.SubmissionRead, domain.SubmissionArchived, domain.SubmissionSpam}

// may asks the authorizer the question the use case behind a button asks,
// so that a button the member's role may not use is not shown. The use
// case still decides: a forged POST is refused there.
func (c *Console) may(r *http.Request, p domain.Principal, ws domain.Workspace, perm domain.Permission) (bool, error) {
	if c.cfg.Authorizer == nil {
		return false, nil
	}
	err := c.cfg.Authorizer.Authorize(r.Context(), p, ws.ID(), perm)
	if errors.Is(err, domain.ErrForbidden) {
		return false, nil
	}
	return err == nil, err
}

// formsData is what the forms list shows. No use case counts a form's
// submissions, so the list does not show counts.
type formsData struct {
	Forms   []domain.Form
	Next    string
	CanEdit bool // the form builder's links show
}

// formsList shows a workspace's forms, a page at a time.
func (c *Console) formsList(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	var d formsData
	var err error
	d.Forms, d.Next, err = c.cfg.Forms.ListForms(r.Context(), p, r.PathValue("ws"), ports.Page{After: r.URL.Query().Get("after"), Limit: ports.DefaultPageLimit})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if d.CanEdit, err = c.may(r, p, ws, domain.PermFormsWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "forms", page{Title: "Forms · " + ws.Name(), Signed: true, Workspace: &ws, Section: "forms", Data: d})
}

// submissionRow is a row of a form's submissions table.
type submissionRow struct {
	Sub     domain.Submission
	Preview string
}

// submissionsData is what a form's submissions table shows. Status and
// Query are the filters in force; Older links to the next page.
type submissionsData struct {
	Form     domain.Form
	Rows     []submissionRow
	Status   string
	Query    string
	Statuses []string
	Older    string
	CanEdit  bool // the form builder's link shows
	// Partial is set when a filtered page came back short with a cursor:
	// the store examines a bounded number of submissions a page
	// (ports.SubmissionStore.List), so older ones may still match.
	Partial bool
}

// submissions shows a form's submissions, newest first, filtered by
// status and by a search of their values, with a cursor link to older
// ones, as GET /v1/…/forms/{form}/submissions pages them.
func (c *Console) submissions(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	ref, id := r.PathValue("ws"), domain.FormID(r.PathValue("form"))
	form, err := c.cfg.Forms.GetForm(r.Context(), p, ref, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	d := submissionsData{Form: form, Status: q.Get("status"), Query: strings.TrimSpace(q.Get("q")), Statuses: []string{"new", "read", "archived", "spam"}}
	if d.CanEdit, err = c.may(r, p, ws, domain.PermFormsWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	filter := ports.SubmissionFilter{Query: d.Query}
	if d.Status != "" {
		st, err := domain.ParseSubmissionStatus(d.Status)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		filter.Status = &st
	}
	subs, next, err := c.cfg.Forms.ListSubmissions(r.Context(), p, ref, id, filter, ports.Page{After: q.Get("after"), Limit: submissionsPerPage})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, s := range subs {
		d.Rows = append(d.Rows, submissionRow{Sub: s, Preview: preview(s)})
	}
	d.Older = nextPage(Prefix+"workspaces/"+url.PathEscape(ref)+"/forms/"+url.PathEscape(string(id)), next, "status", d.Status, "q", d.Query)
	if next != "" {
		d.Partial = (filter.Status != nil || filter.Query != "") && len(subs) < submissionsPerPage
	}
	c.render(w, r, http.StatusOK, "submissions", page{Title: form.Name() + " · " + ws.Name(), Signed: true, Workspace: &ws, Section: "forms", Data: d})
}

// preview joins a submission's values into one short line.
func preview(s domain.Submission) string {
	var parts []string
	for _, v := range s.Values() {
		parts = append(parts, strings.Join(v.Values, ", "))
	}
	line := strings.Join(strings.Fields(strings.Join(parts, " · ")), " ")
	if rs := []rune(line); len(rs) > previewRunes {
		return string(rs[:previewRunes-1]) + "…"
	}
	return line
}

// valueRow is one field of a submission's page: the form's label when the
// field still exists, its name otherwise.
type valueRow struct {
	Label  string
	Values []string
}

// submissionData is what a submission's page shows. CanWrite says whether
// the member's role may file or delete it; Statuses are the buttons.
type submissionData struct {
	Form     domain.Form
	Sub      domain.Submission
	Values   []valueRow
	CanWrite bool
	Statuses []string
	// SpamReason says why a spam submission is spam, for the person who
	// decides whether it is; "" for one that is not spam.
	SpamReason string
}

// spamReasonText says in words why sub is spam, "" when it is not.
func spamReasonText(sub domain.Submission) string {
	if !sub.IsSpam() {
		return ""
	}
	r := sub.SpamReason()
	text := map[domain.SpamCause]string{
		domain.SpamHoneypot: "the honeypot field was filled, which people leave empty",
		domain.SpamLinks:    "it has more links than the form allows",
		domain.SpamTiming:   "it was sent sooner after the page loaded than a person can fill the form",
		domain.SpamManual:   "a member filed it as spam",
	}[r.Cause]
	if text == "" {
		return "not recorded (it arrived before reasons were kept)"
	}
	if r.Detail != "" {
		text += " (" + strings.TrimSuffix(r.Detail, ".") + ")"
	}
	return text
}

// submission shows one submission: its values, metadata and status, and,
// for editors and up, the actions on it.
func (c *Console) submission(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	ref := r.PathValue("ws")
	sub, err := c.cfg.Forms.GetSubmission(r.Context(), p, ref, domain.SubmissionID(r.PathValue("sub")))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	form, err := c.cfg.Forms.GetForm(r.Context(), p, ref, sub.Form())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := submissionData{Form: form, Sub: sub, SpamReason: spamReasonText(sub)}
	if d.CanWrite, err = c.may(r, p, ws, domain.PermSubmissionsWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	if !sub.IsSpam() { // spam stays spam (domain.Submission.SetStatus)
		for _, st := range consoleStatuses {
			if st != sub.Status() {
				d.Statuses = append(d.Statuses, st.String())
			}
		}
	}
	labels := map[string]string{}
	for _, f := range form.Fields() {
		if f.Label != "" {
			labels[f.Name] = f.Label
		}
	}
	for _, v := range sub.Values() {
		label := labels[v.Field]
		if label == "" {
			label = v.Field
		}
		d.Values = append(d.Values, valueRow{Label: label, Values: v.Values})
	}
	c.render(w, r, http.StatusOK, "submission", page{Title: "Submission · " + form.Name(), Signed: true, Workspace: &ws, Section: "forms", Data: d})
}

// setStatus files a submission through the use case PATCH
// /v1/…/submissions/{id} calls, so authorization and events are the same.
func (c *Console) setStatus(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 4<<10)
	if !ok {
		return
	}
	st, err := domain.ParseSubmissionStatus(r.PostFormValue("status"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ref, id := r.PathValue("ws"), domain.SubmissionID(r.PathValue("sub"))
	if _, err := c.cfg.Forms.UpdateSubmissionStatus(r.Context(), p, ref, id, st); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"workspaces/"+url.PathEscape(ref)+"/submissions/"+url.PathEscape(string(id)), http.StatusSeeOther)
}

// deleteSubmission deletes a submission through the use case DELETE
// /v1/…/submissions/{id} calls and goes back to its form's table.
func (c *Console) deleteSubmission(w http.ResponseWriter, r *http.Request) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ref, id := r.PathValue("ws"), domain.SubmissionID(r.PathValue("sub"))
	sub, err := c.cfg.Forms.GetSubmission(r.Context(), p, ref, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.cfg.Forms.DeleteSubmission(r.Context(), p, ref, id); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"workspaces/"+url.PathEscape(ref)+"/forms/"+url.PathEscape(string(sub.Form())), http.StatusSeeOther)
}

// exportCSV streams a form's submissions as CSV through the use case GET
// /v1/…/submissions/export calls, with the same columns and file name.
// An error after the first byte cannot change the status already sent,
// so the connection is dropped: the browser sees a failed download rather
// than a complete-looking one.
func (c *Console) exportCSV(w http.ResponseWriter, r *http.Request) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var out *csv.Writer
	var fields []string
	start := func(f domain.Form) error {
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": string(f.ID()) + "-submissions.csv"}))
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		out = csv.NewWriter(w)
		head := []string{"id", "created_at", "status"}
		for _, fd := range f.Fields() {
			fields = append(fields, fd.Name)
			head = append(head, fd.Name)
		}
		return writeCells(out, head)
	}
	rows := 0
	write := func(s domain.Submission) error {
		byField := map[string][]string{}
		for _, v := range s.Values() {
			byField[v.Field] = v.Values
		}
		cells := []string{string(s.ID()), domain.Stamp{Time: s.CreatedAt()}.String(), s.Status().String()}
		for _, name := range fields {
			cells = append(cells, strings.Join(byField[name], "; "))
		}
		if err := writeCells(out, cells); err != nil {
			return err
		}
		if rows++; rows%exportFlushEvery == 0 {
			out.Flush()
			// A writer that cannot flush still gets every row, at the end.
			_ = http.NewResponseController(w).Flush()
		}
		return nil
	}
	err = c.cfg.Forms.ExportSubmissions(r.Context(), p, r.PathValue("ws"), domain.FormID(r.PathValue("form")), start, write)
	if err == nil && out != nil {
		out.Flush()
		err = out.Error()
	}
	if err == nil {
		return
	}
	if out == nil {
		c.fail(w, r, err)
		return
	}
	c.cfg.Logger.WarnContext(r.Context(), "console: export aborted after the first byte", "form", r.PathValue("form"), "rows", rows, "err", err)
	panic(http.ErrAbortHandler)
}

func writeCells(out *csv.Writer, cells []string) error {
	for i, cell := range cells {
		cells[i] = domain.SpreadsheetCell(cell)
	}
	return out.Write(cells)
}
