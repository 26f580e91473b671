package console

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/domain"
)

// maxFormEditBytes bounds a posted form definition. A definition at its
// limits (100 fields of 200 options, two 32 KiB bodies) fits well within.
const maxFormEditBytes = 1 << 20

// fieldTypes are the choices of a field row's type, as the domain spells
// them.
var fieldTypes = []string{"text", "email", "textarea", "number", "url", "tel", "date", "select", "multiselect", "checkbox", "hidden", "file"}

// errEditedMeanwhile refuses a save whose form was saved by someone else
// after the editor opened it: whole-definition saves would otherwise undo
// the other change without anyone seeing it.
var errEditedMeanwhile = domain.E(domain.KindConflict, "form_changed",
	"Someone else saved this form after you opened it. Your changes are still below; saving again replaces theirs.")

// formEditRoutes registers the form builder: creating and editing a form
// (fields, notifications, autoresponder with a mail preview, redirects,
// origins, honeypot, retention) and the embed snippets.
func (c *Console) formEditRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/workspaces/{ws}/forms/new", c.formNew)
	mux.HandleFunc("POST /console/workspaces/{ws}/forms/new", c.formNewPost)
	mux.HandleFunc("GET /console/workspaces/{ws}/forms/{form}/edit", c.formEdit)
	mux.HandleFunc("POST /console/workspaces/{ws}/forms/{form}/edit", c.formEditPost)
	mux.HandleFunc("GET /console/workspaces/{ws}/forms/{form}/embed", c.formEmbed)
}

// fieldRow is one row of the field builder, as typed: numbers stay text
// until the form is saved, so that a mistyped one is shown as typed.
type fieldRow struct {
	Name, Label, Type              string
	Required, Remove               bool
	MinLength, MaxLength, Min, Max string
	Pattern, Options               string
	Errors                         map[string]string // by column: "name", "options"…
	N, NextN                       int               // the row's number, from 1, and the next's

	// Files carries a file field's limits, set through the API, across
	// the builder unchanged: "max_files max_file_size kind,kind".
	Files string
}

// problem is an entry of the error summary, linking to its input.
type problem struct {
	ID, Message string
}

// editorData is what the form builder shows: the definition as typed,
// the errors next to their inputs and in a summary, and a preview.
type editorData struct {
	New     bool
	FormID  string
	Version string // definitionVersion of the form as the editor opened it
	Saved   bool

	Name, Status                                 string
	Rows                                         []fieldRow
	Recipients, NotifySubject                    string
	AREnabled                                    bool
	AREmailField, ARSubject, ARText, ARHTML      string
	Success, ErrorURL, Origins, Honeypot, Retain string
	MaxLinks                                     string // "": the instance's limit
	AttachMax                                    string // notify.attach_files_max_bytes; "": 0

	Errors   map[string]string // by input ID, outside the field rows
	Problems []problem
	Notice   string // a refusal that belongs to no input
	Warnings []string
	Preview  *previewData
	Types    []string
	MaxRows  int
	NewRow   int // the number a row added by "Add field" gets
}

// previewMessage is one message of a mail preview, as its recipient gets it.
type previewMessage struct {
	Kind, From, To, ReplyTo, Subject, Text, HTML string
}

// previewData is a mail preview and the sample values it was made from.
type previewData struct {
	Messages []previewMessage
	Sample   []valueRow
}

// formEditor is the form builder's page for a new form or an existing one.
func (c *Console) formEditor(w http.ResponseWriter, r *http.Request, status int, ws domain.Workspace, d editorData) {
	d.Types, d.MaxRows = fieldTypes, domain.MaxFields
	for i := range d.Rows {
		d.Rows[i].N, d.Rows[i].NextN = i+1, i+2
	}
	d.NewRow = len(d.Rows) + 1
	if d.Errors == nil {
		d.Errors = map[string]string{}
	}
	title := "New form · " + ws.Name()
	if !d.New {
		title = "Edit " + d.Name + " · " + ws.Name()
	}
	c.render(w, r, status, "formedit", page{Title: title, Signed: true, Workspace: &ws, Section: "forms", Data: d})
}

// canEditForms is whether the member's role may create and change forms:
// a role that may not gets no builder (404), as a GET of a page behind a
// button it is not shown.
func (c *Console) canEditForms(w http.ResponseWriter, r *http.Request) (domain.Principal, domain.Workspace, bool) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return p, ws, false
	}
	may, err := c.may(r, p, ws, domain.PermFormsWrite)
	if err != nil {
		c.fail(w, r, err)
		return p, ws, false
	}
	if !may {
		c.notFound(w, r)
		return p, ws, false
	}
	return p, ws, true
}

func (c *Console) formNew(w http.ResponseWriter, r *http.Request) {
	_, ws, ok := c.canEditForms(w, r)
	if !ok {
		return
	}
	c.formEditor(w, r, http.StatusOK, ws, editorData{
		New: true, Status: "open", Retain: "0",
		Rows: []fieldRow{{Name: "email", Label: "E-mail", Type: "email", Required: true}, {Name: "message", Label: "Message", Type: "textarea"}},
	})
}

func (c *Console) formEdit(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.canEditForms(w, r)
	if !ok {
		return
	}
	f, ok := c.formInPath(w, r, p)
	if !ok {
		return
	}
	d := editorFromDefinition(f.Definition())
	d.FormID, d.Version, d.Warnings = string(f.ID()), definitionVersion(f.Definition()), f.Warnings()
	d.Saved = r.URL.Query().Get("saved") == "1"
	c.formEditor(w, r, http.StatusOK, ws, d)
}

// formInPath reads the form named in the request's path; false after the
// page that says why.
func (c *Console) formInPath(w http.ResponseWriter, r *http.Request, p domain.Principal) (domain.Form, bool) {
	f, err := c.cfg.Forms.GetForm(r.Context(), p, r.PathValue("ws"), domain.FormID(r.PathValue("form")))
	if err != nil {
		c.fail(w, r, err)
		return f, false
	}
	return f, true
}

func (c *Console) formNewPost(w http.ResponseWriter, r *http.Request) { c.formPost(w, r, true) }

func (c *Console) formEditPost(w http.ResponseWriter, r *http.Request) { c.formPost(w, r, false) }

// formPost handles every button of the builder. "Add field", "Up" and
// "Down" change the rows and show the page again with everything typed;
// "Preview mail" shows the mail a submission would cause; "Save" (also
// what Enter does) creates or replaces the form through the API's use
// cases, so the same roles, checks, audit records and events apply. Rows
// ticked "Remove" are left out of what is previewed and saved.
func (c *Console) formPost(w http.ResponseWriter, r *http.Request, isNew bool) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok || !c.readPostedForm(w, r, maxFormEditBytes) {
		return
	}
	ref := r.PathValue("ws")
	d := editorFromPost(r.PostForm)
	d.New = isNew
	if !isNew {
		d.FormID = r.PathValue("form")
	}
	op := r.PostFormValue("op")
	if op == "add" || strings.HasPrefix(op, "up:") || strings.HasPrefix(op, "down:") {
		// These only show the page again and call no use case, so the
		// authorizer is asked here: a role that gets no builder gets none
		// this way either. Save and preview are the use cases' to refuse.
		may, err := c.may(r, p, ws, domain.PermFormsWrite)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if !may {
			c.notFound(w, r)
			return
		}
	}
	switch {
	case op == "add":
		if len(d.Rows) >= domain.MaxFields {
			d.Notice = "A form has at most " + strconv.Itoa(domain.MaxFields) + " fields."
		} else {
			d.Rows = append(d.Rows, fieldRow{Type: "text"})
		}
		c.formEditor(w, r, http.StatusOK, ws, d)
		return
	case strings.HasPrefix(op, "up:"), strings.HasPrefix(op, "down:"):
		dir, n, _ := strings.Cut(op, ":")
		i, err := strconv.Atoi(n)
		j := i - 1
		if dir == "down" {
			j = i + 1
		}
		if err == nil && i >= 0 && j >= 0 && i < len(d.Rows) && j < len(d.Rows) {
			d.Rows[i], d.Rows[j] = d.Rows[j], d.Rows[i]
		}
		c.formEditor(w, r, http.StatusOK, ws, d)
		return
	}
	in, kept, ok := d.input()
	if !ok {
		c.formEditor(w, r, http.StatusUnprocessableEntity, ws, d)
		return
	}
	if op == "preview" {
		prev, err := c.cfg.Forms.PreviewMail(r.Context(), p, ref, in)
		if err != nil {
			c.formRefused(w, r, ws, d, kept, err)
			return
		}
		d.Preview = toPreview(prev, in.Fields)
		c.formEditor(w, r, http.StatusOK, ws, d)
		return
	}
	var saved domain.Form
	var err error
	if isNew {
		saved, err = c.cfg.Forms.CreateForm(r.Context(), p, ref, in)
	} else {
		saved, err = c.cfg.Forms.UpdateForm(r.Context(), p, ref, domain.FormID(d.FormID), func(def *domain.FormInput) error {
			// The editor saves the whole definition; one saved by someone
			// else since the editor opened it is not silently replaced.
			if definitionVersion(*def) != d.Version {
				return errEditedMeanwhile
			}
			*def = in
			return nil
		})
	}
	if err != nil {
		if errors.Is(err, errEditedMeanwhile) {
			// Saving again replaces the newer version, knowingly.
			if cur, gerr := c.cfg.Forms.GetForm(r.Context(), p, ref, domain.FormID(d.FormID)); gerr == nil {
				d.Version = definitionVersion(cur.Definition())
			}
		}
		c.formRefused(w, r, ws, d, kept, err)
		return
	}
	http.Redirect(w, r, Prefix+"workspaces/"+url.PathEscape(ref)+"/forms/"+url.PathEscape(string(saved.ID()))+"/edit?saved=1", http.StatusSeeOther)
}

// fieldPath splits a domain error's path ("fields[2].max_length").
var fieldPath = regexp.MustCompile(`^fields\[(\d+)\]\.(\w+)$`)

// formRefused shows the builder again with what the use case refused: each
// rule's message next to its input and in the summary, everything typed
// kept. kept maps the index of a field the use case saw to its row.
// Refusals that are not about the input go to the error page.
func (c *Console) formRefused(w http.ResponseWriter, r *http.Request, ws domain.Workspace, d editorData, kept []int, err error) {
	var de *domain.Error
	if !errors.As(err, &de) || (de.Kind != domain.KindInvalid && de.Kind != domain.KindConflict) {
		c.fail(w, r, err)
		return
	}
	if de.Kind == domain.KindConflict {
		d.Notice = de.Message
		c.formEditor(w, r, http.StatusConflict, ws, d)
		return
	}
	if len(de.Fields) == 0 {
		d.Notice = de.Message
	}
	for _, fe := range de.Fields {
		if m := fieldPath.FindStringSubmatch(fe.Field); m != nil {
			if i, _ := strconv.Atoi(m[1]); i < len(kept) {
				d.rowError(kept[i], m[2], fe.Message)
				continue
			}
		}
		d.setError(inputFor(fe.Field), fe.Message)
	}
	c.formEditor(w, r, http.StatusUnprocessableEntity, ws, d)
}

// inputFor names the input that holds a definition's part, by the domain
// error's path; a list's entry ("notify.recipients[1]") is its textarea,
// and the message says which line.
func inputFor(path string) string {
	base, idx, _ := strings.Cut(path, "[")
	id := map[string]string{
		"name": "name", "status": "status", "fields": "fields",
		"notify.recipients": "recipients", "notify.subject": "notify-subject",
		"autoresponder": "ar-subject", "autoresponder.email_field": "ar-email-field",
		"autoresponder.subject": "ar-subject", "autoresponder.text": "ar-text", "autoresponder.html": "ar-html",
		"redirects.success": "success", "redirects.error": "error-url",
		"allowed_origins": "origins", "honeypot": "honeypot", "retention_days": "retain",
		"max_links": "max-links", "notify.attach_files_max_bytes": "notify-attach",
	}[base]
	if id == "" {
		return "form"
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(idx, "]")); err == nil {
		return id + "#" + strconv.Itoa(n+1)
	}
	return id
}

func (d *editorData) setError(id, msg string) {
	if d.Errors == nil {
		d.Errors = map[string]string{}
	}
	if base, line, ok := strings.Cut(id, "#"); ok {
		id, msg = base, "Line "+line+": "+msg
	}
	if prev := d.Errors[id]; prev != "" {
		msg = prev + " " + msg
	}
	d.Errors[id] = msg
	if id == "form" {
		d.Problems = append(d.Problems, problem{Message: msg})
		return
	}
	d.Problems = append(d.Problems, problem{ID: id, Message: msg})
}

func (d *editorData) rowError(row int, col, msg string) {
	rw := &d.Rows[row]
	if rw.Errors == nil {
		rw.Errors = map[string]string{}
	}
	switch col {
	case "name", "label", "type", "required", "min_length", "max_length", "min", "max", "pattern", "options":
	default:
		col = "name"
	}
	if prev := rw.Errors[col]; prev != "" {
		msg = prev + " " + msg
	}
	rw.Errors[col] = msg
	d.Problems = append(d.Problems, problem{ID: "f" + strconv.Itoa(row) + "-" + strings.ReplaceAll(col, "_", "-"), Message: "Field " + strconv.Itoa(row+1) + ": " + msg})
}

// lines splits a textarea into its non-empty lines, trimmed.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// editorFromPost reads the builder's inputs as typed.
func editorFromPost(v url.Values) editorData {
	d := editorData{
		Version: v.Get("version"), Name: v.Get("name"), Status: v.Get("status"),
		Recipients: v.Get("recipients"), NotifySubject: v.Get("notify-subject"),
		AREnabled: v.Get("ar-enabled") != "", AREmailField: v.Get("ar-email-field"),
		ARSubject: v.Get("ar-subject"), ARText: v.Get("ar-text"), ARHTML: v.Get("ar-html"),
		Success: v.Get("success"), ErrorURL: v.Get("error-url"), Origins: v.Get("origins"),
		Honeypot: v.Get("honeypot"), Retain: v.Get("retain"), MaxLinks: v.Get("max-links"),
		AttachMax: v.Get("notify-attach"),
	}
	n, _ := strconv.Atoi(v.Get("rows"))
	for i := range min(max(n, 0), domain.MaxFields) {
		get := func(col string) string { return v.Get("f" + strconv.Itoa(i) + "-" + col) }
		d.Rows = append(d.Rows, fieldRow{
			Name: strings.TrimSpace(get("name")), Label: get("label"), Type: get("type"),
			Required: get("required") != "", Remove: get("remove") != "",
			MinLength: get("min-length"), MaxLength: get("max-length"), Min: get("min"), Max: get("max"),
			Pattern: get("pattern"), Options: get("options"), Files: get("files"),
		})
	}
	return d
}

// editorFromDefinition fills the builder with a stored definition.
func editorFromDefinition(def domain.FormInput) editorData {
	d := editorData{
		Name: def.Name, Status: def.Status,
		Recipients: strings.Join(def.Notify.Recipients, "\n"), NotifySubject: def.Notify.Subject,
		AREnabled: def.Autoresponder.Enabled, AREmailField: def.Autoresponder.EmailField,
		ARSubject: def.Autoresponder.Subject, ARText: def.Autoresponder.Text, ARHTML: def.Autoresponder.HTML,
		Success: def.Redirects.Success, ErrorURL: def.Redirects.Error, Origins: strings.Join(def.AllowedOrigins, "\n"),
		Honeypot: def.Honeypot, Retain: strconv.Itoa(def.RetentionDays),
	}
	itoa := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	d.MaxLinks = itoa(def.MaxLinks)
	d.AttachMax = strconv.FormatInt(def.Notify.AttachFilesMaxBytes, 10)
	ftoa := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	for _, fd := range def.Fields {
		d.Rows = append(d.Rows, fieldRow{
			Name: fd.Name, Label: fd.Label, Type: fd.Type.String(), Required: fd.Required,
			MinLength: itoa(fd.MinLength), MaxLength: itoa(fd.MaxLength), Min: ftoa(fd.Min), Max: ftoa(fd.Max),
			Pattern: fd.Pattern, Options: strings.Join(fd.Options, "\n"), Files: fileLimits(fd),
		})
	}
	return d
}

// input turns what was typed into a definition, leaving out the rows
// ticked "Remove". kept[i] is the row of the definition's field i. What
// the console alone can tell is wrong (a number that is not one) is
// marked on d and ok is false; every other rule is the use case's.
func (d *editorData) input() (in domain.FormInput, kept []int, ok bool) {
	ok = true
	in = domain.FormInput{
		Name: strings.TrimSpace(d.Name), Status: d.Status,
		Notify: domain.Notify{Recipients: lines(d.Recipients), Subject: d.NotifySubject},
		Autoresponder: domain.Autoresponder{
			Enabled: d.AREnabled, EmailField: strings.TrimSpace(d.AREmailField),
			Subject: d.ARSubject, Text: d.ARText, HTML: d.ARHTML,
		},
		Redirects:      domain.Redirects{Success: strings.TrimSpace(d.Success), Error: strings.TrimSpace(d.ErrorURL)},
		AllowedOrigins: lines(d.Origins),
		Honeypot:       strings.TrimSpace(d.Honeypot),
	}
	if s := strings.TrimSpace(d.Retain); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			d.setError("retain", "Enter a whole number of days.")
			ok = false
		}
		in.RetentionDays = n
	}
	// Left empty, the form has no limit of its own: the instance's applies.
	if s := strings.TrimSpace(d.MaxLinks); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			d.setError("max-links", "Enter a whole number of links, or leave it empty for the instance's limit.")
			ok = false
		}
		in.MaxLinks = &n
	}
	// Left empty, the notification attaches nothing: links only.
	if s := strings.TrimSpace(d.AttachMax); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			d.setError("notify-attach", "Enter a whole number of bytes, or 0 to attach nothing.")
			ok = false
		}
		in.Notify.AttachFilesMaxBytes = n
	}
	for i, rw := range d.Rows {
		if rw.Remove {
			continue
		}
		fd := domain.Field{Name: rw.Name, Label: rw.Label, Required: rw.Required, Pattern: rw.Pattern, Options: lines(rw.Options)}
		fd.Type, _ = domain.ParseFieldType(rw.Type) // an unknown type is the use case's to refuse
		if fd.Type == domain.FieldFile {
			fd.MaxFiles, fd.MaxFileSize, fd.Accept = parseFileLimits(rw.Files)
		}
		for _, n := range []struct {
			col, s string
			dst    **int
		}{{"min_length", rw.MinLength, &fd.MinLength}, {"max_length", rw.MaxLength, &fd.MaxLength}} {
			if s := strings.TrimSpace(n.s); s != "" {
				v, err := strconv.Atoi(s)
				if err != nil {
					d.rowError(i, n.col, "Enter a whole number.")
					ok = false
				}
				*n.dst = &v
			}
		}
		for _, n := range []struct {
			col, s string
			dst    **float64
		}{{"min", rw.Min, &fd.Min}, {"max", rw.Max, &fd.Max}} {
			if s := strings.TrimSpace(n.s); s != "" {
				v, err := strconv.ParseFloat(s, 64)
				// JSON, and so the API and storage, know no NaN or infinity.
				if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
					d.rowError(i, n.col, "Enter a number.")
					ok = false
				}
				*n.dst = &v
			}
		}
		in.Fields = append(in.Fields, fd)
		kept = append(kept, i)
	}
	return in, kept, ok
}

// definitionVersion is a digest of a definition, which the builder carries
// from the page it showed to the save, to tell whether the form was saved
// by someone else meanwhile.
func definitionVersion(def domain.FormInput) string {
	// Limits are written as the editor shows them, so that the digest
	// holds no float, whose encoding could fail.
	type field struct {
		Name, Label, Type                       string
		Required                                bool
		MinLength, MaxLength, Min, Max, Pattern string
		Options                                 []string
		Files                                   string `json:",omitempty"`
	}
	shown := editorFromDefinition(def)
	fs := make([]field, len(def.Fields))
	for i, fd := range def.Fields {
		r := shown.Rows[i]
		fs[i] = field{fd.Name, fd.Label, fd.Type.String(), fd.Required, r.MinLength, r.MaxLength, r.Min, r.Max, fd.Pattern, fd.Options, r.Files}
	}
	def.Fields = nil
	b, err := json.Marshal(struct {
		Def    domain.FormInput
		Fields []field
	}{def, fs})
	if err != nil { // strings, integers and booleans always encode
		panic(err)
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// toPreview shows a preview's messages as their recipients get them.
func toPreview(prev forms.MailPreview, fields []domain.Field) *previewData {
	d := &previewData{}
	labels := map[string]string{}
	for _, f := range fields {
		labels[f.Name] = cmp.Or(f.Label, f.Name)
	}
	for _, v := range prev.Sample {
		d.Sample = append(d.Sample, valueRow{Label: labels[v.Field], Values: v.Values})
	}
	for i, m := range prev.Messages {
		from := m.From()
		pm := previewMessage{Kind: "Notification", From: from.String(), Subject: m.Subject(), Text: m.Text(), HTML: m.HTML()}
		if prev.Kinds[i] == domain.KindAutoresponder {
			pm.Kind = "Autoresponse"
		}
		var to []string
		for _, a := range m.To() {
			to = append(to, a.String())
		}
		pm.To = strings.Join(to, ", ")
		if a, ok := m.ReplyTo(); ok {
			pm.ReplyTo = a.String()
		}
		d.Messages = append(d.Messages, pm)
	}
	return d
}

// embedData is what the embed page shows: the form's submit URL and two
// snippets to paste into a site, a plain HTML form and one that posts
// with fetch().
type embedData struct {
	Form        domain.Form
	SubmitURL   string
	TimingField string
	MinFill     string
	HTML, Fetch string
	NoOrigins   bool
	CanEdit     bool
}

// formEmbed shows the snippets that embed a form in a site (viewers and
// up: they only read the form).
func (c *Console) formEmbed(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	f, ok := c.formInPath(w, r, p)
	if !ok {
		return
	}
	d := embedData{Form: f, SubmitURL: c.apiBase(r) + "/v1/forms/" + url.PathEscape(string(f.ID())) + "/submissions", NoOrigins: len(f.AllowedOrigins()) == 0}
	var err error
	if d.CanEdit, err = c.may(r, p, ws, domain.PermFormsWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	rules := c.cfg.Forms.SpamRules()
	if rules.TimestampField != "" && rules.MinFillTime > 0 {
		d.TimingField, d.MinFill = rules.TimestampField, rules.MinFillTime.String()
	}
	d.HTML = embedHTML(f, d.SubmitURL, d.TimingField, d.MinFill, false)
	d.Fetch = embedHTML(f, d.SubmitURL, d.TimingField, d.MinFill, true)
	c.render(w, r, http.StatusOK, "formembed", page{Title: "Embed " + f.Name() + " · " + ws.Name(), Signed: true, Workspace: &ws, Section: "forms", Data: d})
}

// apiBase is the API's absolute base URL as sites reach it: the
// configured public URL, else the origin this request came to, since
// keel serve answers the API and the console on one address (behind
// trusted proxies, the origin their forwarded headers name). Its scheme
// is https when the request came over TLS or the console is configured
// as behind a proxy that terminates TLS (SecureCookies): there the
// request Keel sees is plain HTTP, but sites reach it over HTTPS, and a
// snippet posting to http:// would be blocked as mixed content.
func (c *Console) apiBase(r *http.Request) string {
	if c.cfg.PublicURL != "" {
		return strings.TrimSuffix(c.cfg.PublicURL, "/")
	}
	scheme := "http"
	if c.secure(r) {
		scheme = "https"
	}
	host := r.Host
	if c.cfg.ForwardedOrigin {
		scheme, host = forwardedOrigin(r, scheme, host)
	}
	return scheme + "://" + host
}

// embedHTML writes a form's snippet: a <form> that posts to submitURL
// with an input per field (its label, type and limits as the browser
// understands them), the honeypot hidden from people, and the timing
// field, which a line of script fills with the time the page loaded.
// Without script the timing field stays disabled, so it is not sent and
// no timing check applies: an empty one would count as a bot's. With
// withFetch, a script posts the form with fetch() instead and shows the
// answer in the page, problem details and Retry-After included; without
// script the form still posts as the plain one does.
func embedHTML(f domain.Form, submitURL, timingField, minFill string, withFetch bool) string {
	var b strings.Builder
	id := "keel-" + string(f.ID())
	attr := html.EscapeString
	w := func(s ...string) {
		for _, x := range s {
			b.WriteString(x)
		}
	}
	enctype := ""
	if f.HasFileFields() {
		enctype = ` enctype="multipart/form-data"`
	}
	w(`<form id="`, attr(id), `" method="post" action="`, attr(submitURL), `"`, enctype, `>`, "\n")
	for _, fd := range f.Fields() {
		in := attr(id + "-" + fd.Name)
		name := attr(fd.Name)
		label := attr(cmp.Or(fd.Label, fd.Name))
		req := ""
		if fd.Required {
			req = " required"
		}
		lim := ""
		if fd.MinLength != nil {
			lim += ` minlength="` + strconv.Itoa(*fd.MinLength) + `"`
		}
		if fd.MaxLength != nil {
			lim += ` maxlength="` + strconv.Itoa(*fd.MaxLength) + `"`
		}
		if fd.Pattern != "" {
			lim += ` pattern="` + attr(fd.Pattern) + `"`
		}
		switch fd.Type {
		case domain.FieldHidden:
			w(`  <input type="hidden" name="`, name, `" value=""><!-- set its value -->`, "\n")
			continue
		case domain.FieldCheckbox:
			w(`  <p><input id="`, in, `" name="`, name, `" type="checkbox" value="yes"`, req, `> <label for="`, in, `">`, label, "</label></p>\n")
			continue
		}
		w(`  <p><label for="`, in, `">`, label, "</label><br>\n    ")
		switch fd.Type {
		case domain.FieldTextarea:
			w(`<textarea id="`, in, `" name="`, name, `" rows="5"`, req, lim, "></textarea>")
		case domain.FieldFile:
			multi := ""
			if fd.FileCount() > 1 {
				multi = " multiple"
			}
			w(`<input id="`, in, `" name="`, name, `" type="file"`, multi, req, ">")
		case domain.FieldSelect, domain.FieldMultiselect:
			multi := ""
			if fd.Type == domain.FieldMultiselect {
				multi = " multiple"
			}
			w(`<select id="`, in, `" name="`, name, `"`, multi, req, ">")
			if fd.Type == domain.FieldSelect {
				w("\n      ", `<option value="">Choose…</option>`)
			}
			for _, o := range fd.Options {
				w("\n      <option>", attr(o), "</option>")
			}
			w("\n    </select>")
		default:
			typ := fd.Type.String()
			if fd.Type == domain.FieldNumber {
				typ = "number"
				lim += ` step="any"`
				if fd.Min != nil {
					lim += ` min="` + strconv.FormatFloat(*fd.Min, 'f', -1, 64) + `"`
				}
				if fd.Max != nil {
					lim += ` max="` + strconv.FormatFloat(*fd.Max, 'f', -1, 64) + `"`
				}
			}
			auto := ""
			if fd.Type == domain.FieldEmail {
				auto = ` autocomplete="email"`
			}
			w(`<input id="`, in, `" name="`, name, `" type="`, typ, `"`, req, lim, auto, ">")
		}
		w("</p>\n")
	}
	if hp := f.Honeypot(); hp != "" {
		w("  <!-- A trap for bots: people neither see nor reach this field; a submission that fills it is kept as spam. -->\n")
		w(`  <div style="position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden" aria-hidden="true">`, "\n")
		w(`    <label for="`, attr(id+"-"+hp), `">Leave this empty</label>`, "\n")
		w(`    <input id="`, attr(id+"-"+hp), `" name="`, attr(hp), `" type="text" value="" tabindex="-1" autocomplete="off">`, "\n  </div>\n")
	}
	if timingField != "" {
		w("  <!-- When the page loaded (Unix milliseconds), set by the script below: a submission sent within ", minFill, " of it is kept as spam. -->\n")
		w(`  <input type="hidden" name="`, attr(timingField), `" disabled>`, "\n")
	}
	w(`  <p><button type="submit">Send</button></p>`, "\n")
	if withFetch {
		w(`  <p id="`, attr(id), `-status" role="status"></p>`, "\n")
	}
	w("</form>\n")
	if timingField == "" && !withFetch {
		return b.String()
	}
	js := func(s string) string { q, _ := json.Marshal(s); return strings.ReplaceAll(string(q), "</", `<\/`) }
	w("<script>\n")
	if timingField != "" {
		w(`document.getElementById(`, js(id), `).elements[`, js(timingField), `].value = Date.now();`, "\n")
		w(`document.getElementById(`, js(id), `).elements[`, js(timingField), `].disabled = false;`, "\n")
	}
	if withFetch {
		w(`document.getElementById(`, js(id), `).addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const status = document.getElementById(`, js(id+"-status"), `);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  status.textContent = "Sending…";
  try {
    const res = await fetch(form.action, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" } });
    if (res.ok) {
      form.reset();
      status.textContent = "Thank you: your message was sent.";
      return;
    }
    if (res.status === 429) {
      const wait = Number(res.headers.get("Retry-After")) || 60;
      status.textContent = "Too many messages were sent from here: try again in " + wait + " seconds.";
      return;
    }
    // Keel answers refusals with a problem (RFC 9457): a message, and
    // for a validation failure one entry per field at fault.
    const problem = await res.json().catch(() => ({}));
    const fields = (problem.errors || []).map((e) => e.field + ": " + e.message);
    status.textContent = [problem.detail || problem.title || "The message could not be sent.", ...fields].join(" ");
  } catch {
    status.textContent = "The message could not be sent: check your connection and try again.";
  } finally {
    button.disabled = false;
  }
});
`)
	}
	w("</script>\n")
	return b.String()
}

// fileLimits writes a file field's limits for fieldRow.Files; "" for
// other fields and for a file field on its defaults.
func fileLimits(fd domain.Field) string {
	if fd.Type != domain.FieldFile || fd.MaxFiles == 0 && fd.MaxFileSize == 0 && len(fd.Accept) == 0 {
		return ""
	}
	return strconv.Itoa(fd.MaxFiles) + " " + strconv.FormatInt(fd.MaxFileSize, 10) + " " + strings.Join(fd.Accept, ",")
}

// parseFileLimits reads what fileLimits wrote; anything else is the
// defaults, which the use case checks like any limits.
func parseFileLimits(s string) (maxFiles int, maxSize int64, accept []string) {
	parts := strings.Fields(s)
	if len(parts) < 2 {
		return 0, 0, nil
	}
	maxFiles, _ = strconv.Atoi(parts[0])
	maxSize, _ = strconv.ParseInt(parts[1], 10, 64)
	if len(parts) > 2 {
		accept = strings.Split(parts[2], ",")
	}
	return maxFiles, maxSize, accept
}
