package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// formRoutes serves the management API of forms and their submissions:
// definitions, listing, filing, export and erasure. The public submission
// endpoint is submitRoutes. Handlers decode, call one use case and encode.
type formRoutes struct {
	forms *forms.Service
	log   *slog.Logger // for export failures after the first byte, which no problem can report
	base  string       // the API's absolute base URL, for the links of submissions' files
}

func (h formRoutes) register(v1 *gin.RouterGroup) {
	v1.POST("/workspaces/:ws/forms", h.createForm)
	v1.GET("/workspaces/:ws/forms", h.listForms)
	v1.GET("/workspaces/:ws/forms/:form", h.getForm)
	v1.PATCH("/workspaces/:ws/forms/:form", h.updateForm)
	v1.DELETE("/workspaces/:ws/forms/:form", h.deleteForm)

	v1.GET("/workspaces/:ws/forms/:form/submissions", h.listSubmissions)
	v1.GET("/workspaces/:ws/forms/:form/submissions/export", h.exportSubmissions)
	v1.GET("/workspaces/:ws/submissions/:id", h.getSubmission)
	v1.PATCH("/workspaces/:ws/submissions/:id", h.updateSubmission)
	v1.DELETE("/workspaces/:ws/submissions/:id", h.deleteSubmission)
	v1.POST("/workspaces/:ws/submissions/:id/not-spam", h.notSpam)

	v1.POST("/workspaces/:ws/erasure", h.erase)
}

// --- Form DTOs. One shape serves the request and the response; the
// response adds id, created_at and updated_at.

type formFieldDTO struct {
	Name      string   `json:"name"`
	Label     string   `json:"label"`
	Type      string   `json:"type"`
	Required  bool     `json:"required"`
	MinLength *int     `json:"min_length"`
	MaxLength *int     `json:"max_length"`
	Min       *float64 `json:"min"`
	Max       *float64 `json:"max"`
	Pattern   string   `json:"pattern"`
	Options   []string `json:"options"`
	// A file field's limits, left out for other fields.
	MaxFiles    int      `json:"max_files,omitempty"`
	MaxFileSize int64    `json:"max_file_size,omitempty"`
	Accept      []string `json:"accept,omitempty"`
}

type notifyDTO struct {
	Recipients          []string `json:"recipients"`
	Subject             string   `json:"subject"`
	AttachFilesMaxBytes int64    `json:"attach_files_max_bytes"`
}

type autoresponderDTO struct {
	Enabled    bool   `json:"enabled"`
	EmailField string `json:"email_field"`
	Subject    string `json:"subject"`
	Text       string `json:"text"`
	HTML       string `json:"html"`
}

type redirectsDTO struct {
	Success string `json:"success"`
	Error   string `json:"error"`
}

type formRequest struct {
	Name           string           `json:"name"`
	Status         string           `json:"status"`
	Fields         []formFieldDTO   `json:"fields"`
	Notify         notifyDTO        `json:"notify"`
	Autoresponder  autoresponderDTO `json:"autoresponder"`
	Redirects      redirectsDTO     `json:"redirects"`
	AllowedOrigins []string         `json:"allowed_origins"`
	Honeypot       string           `json:"honeypot"`
	RetentionDays  int              `json:"retention_days"`
	// MaxLinks is the form's link threshold; null is the instance's.
	MaxLinks *int `json:"max_links"`
}

type formResponse struct {
	ID string `json:"id"`
	formRequest
	CreatedAt domain.Stamp `json:"created_at"`
	UpdatedAt domain.Stamp `json:"updated_at"`
}

// toField converts a field DTO. An unknown type string becomes the zero
// FieldType, which domain.NewForm reports as unknown_type with the other
// problems of the definition, all in one 422.
func (d formFieldDTO) toField() domain.Field {
	t, _ := domain.ParseFieldType(d.Type)
	return domain.Field{
		Name: d.Name, Label: d.Label, Type: t, Required: d.Required,
		MinLength: d.MinLength, MaxLength: d.MaxLength, Min: d.Min, Max: d.Max,
		Pattern: d.Pattern, Options: d.Options,
		MaxFiles: d.MaxFiles, MaxFileSize: d.MaxFileSize, Accept: d.Accept,
	}
}

func toFields(ds []formFieldDTO) []domain.Field {
	out := make([]domain.Field, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.toField())
	}
	return out
}

func (r formRequest) toInput() domain.FormInput {
	return domain.FormInput{
		Name: r.Name, Status: r.Status, Fields: toFields(r.Fields),
		Notify: domain.Notify{Recipients: r.Notify.Recipients, Subject: r.Notify.Subject, AttachFilesMaxBytes: r.Notify.AttachFilesMaxBytes},
		Autoresponder: domain.Autoresponder{
			Enabled: r.Autoresponder.Enabled, EmailField: r.Autoresponder.EmailField,
			Subject: r.Autoresponder.Subject, Text: r.Autoresponder.Text, HTML: r.Autoresponder.HTML,
		},
		Redirects:      domain.Redirects{Success: r.Redirects.Success, Error: r.Redirects.Error},
		AllowedOrigins: r.AllowedOrigins,
		Honeypot:       r.Honeypot,
		RetentionDays:  r.RetentionDays,
		MaxLinks:       r.MaxLinks,
	}
}

// nonNil makes an absent list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func toFormResponse(f domain.Form) formResponse {
	d := f.Definition()
	fields := make([]formFieldDTO, 0, len(d.Fields))
	for _, fd := range d.Fields {
		fields = append(fields, formFieldDTO{
			Name: fd.Name, Label: fd.Label, Type: fd.Type.String(), Required: fd.Required,
			MinLength: fd.MinLength, MaxLength: fd.MaxLength, Min: fd.Min, Max: fd.Max,
			Pattern: fd.Pattern, Options: nonNil(fd.Options),
			MaxFiles: fd.FileCount(), MaxFileSize: fd.FileSize(), Accept: fileKinds(fd),
		})
	}
	return formResponse{
		ID: string(f.ID()),
		formRequest: formRequest{
			Name: d.Name, Status: f.Status().String(), Fields: fields,
			Notify: notifyDTO{Recipients: nonNil(d.Notify.Recipients), Subject: d.Notify.Subject, AttachFilesMaxBytes: d.Notify.AttachFilesMaxBytes},
			Autoresponder: autoresponderDTO{
				Enabled: d.Autoresponder.Enabled, EmailField: d.Autoresponder.EmailField,
				Subject: d.Autoresponder.Subject, Text: d.Autoresponder.Text, HTML: d.Autoresponder.HTML,
			},
			Redirects:      redirectsDTO{Success: d.Redirects.Success, Error: d.Redirects.Error},
			AllowedOrigins: nonNil(d.AllowedOrigins),
			Honeypot:       d.Honeypot,
			RetentionDays:  d.RetentionDays,
			MaxLinks:       d.MaxLinks,
		},
		CreatedAt: domain.Stamp{Time: f.CreatedAt()},
		UpdatedAt: domain.Stamp{Time: f.UpdatedAt()},
	}
}

// optional is a PATCH member: Set when the key is present. JSON null
// resets the member to its zero value (as in RFC 7396, where null removes
// a member), which for most members means "back to the default". Nested
// values are decoded as strictly as the body: an unknown key is a 422.
type optional[T any] struct {
	Set, Null bool
	V         T
}

func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	var zero T
	o.V = zero
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(&o.V)
}

// jsonInnerType lets decodeJSON's walk name faults inside an optional
// member with their path, as it does in the body.
func (*optional[T]) jsonInnerType() reflect.Type { return reflect.TypeFor[T]() }

func (o optional[T]) apply(dst *T) {
	if o.Set {
		*dst = o.V
	}
}

type notifyPatch struct {
	Recipients          optional[[]string] `json:"recipients"`
	Subject             optional[string]   `json:"subject"`
	AttachFilesMaxBytes optional[int64]    `json:"attach_files_max_bytes"`
}

type autoresponderPatch struct {
	Enabled    optional[bool]   `json:"enabled"`
	EmailField optional[string] `json:"email_field"`
	Subject    optional[string] `json:"subject"`
	Text       optional[string] `json:"text"`
	HTML       optional[string] `json:"html"`
}

type redirectsPatch struct {
	Success optional[string] `json:"success"`
	Error   optional[string] `json:"error"`
}

// formPatch is a PATCH body: members that are present replace the
// definition's; nested objects (notify, autoresponder, redirects) merge
// member by member; lists (fields, recipients, allowed_origins) are
// replaced whole.
type formPatch struct {
	Name           optional[string]             `json:"name"`
	Status         optional[string]             `json:"status"`
	Fields         optional[[]formFieldDTO]     `json:"fields"`
	Notify         optional[notifyPatch]        `json:"notify"`
	Autoresponder  optional[autoresponderPatch] `json:"autoresponder"`
	Redirects      optional[redirectsPatch]     `json:"redirects"`
	AllowedOrigins optional[[]string]           `json:"allowed_origins"`
	Honeypot       optional[string]             `json:"honeypot"`
	RetentionDays  optional[int]                `json:"retention_days"`
	MaxLinks       optional[*int]               `json:"max_links"` // null: the instance's
}

// applyTo edits def in place; domain.Form.Replace validates the result.
func (p formPatch) applyTo(def *domain.FormInput) {
	p.Name.apply(&def.Name)
	p.Status.apply(&def.Status)
	if p.Fields.Set {
		def.Fields = toFields(p.Fields.V)
	}
	if p.Notify.Set {
		n := p.Notify.V
		if p.Notify.Null { // the defaults
			def.Notify = domain.Notify{}
		}
		n.Recipients.apply(&def.Notify.Recipients)
		n.Subject.apply(&def.Notify.Subject)
		n.AttachFilesMaxBytes.apply(&def.Notify.AttachFilesMaxBytes)
	}
	if p.Autoresponder.Set {
		a := p.Autoresponder.V
		if p.Autoresponder.Null {
			def.Autoresponder = domain.Autoresponder{}
		}
		a.Enabled.apply(&def.Autoresponder.Enabled)
		a.EmailField.apply(&def.Autoresponder.EmailField)
		a.Subject.apply(&def.Autoresponder.Subject)
		a.Text.apply(&def.Autoresponder.Text)
		a.HTML.apply(&def.Autoresponder.HTML)
	}
	if p.Redirects.Set {
		r := p.Redirects.V
		if p.Redirects.Null {
			def.Redirects = domain.Redirects{}
		}
		r.Success.apply(&def.Redirects.Success)
		r.Error.apply(&def.Redirects.Error)
	}
	p.AllowedOrigins.apply(&def.AllowedOrigins)
	p.Honeypot.apply(&def.Honeypot)
	p.RetentionDays.apply(&def.RetentionDays)
	p.MaxLinks.apply(&def.MaxLinks)
}

// --- Submission DTOs.

// submissionResponse is a stored submission. ip_hash is the keyed hash
// Keel stores instead of the client's address: it lets a workspace see
// that submissions came from one source (spam triage) without revealing
// the address, and cannot be reversed without the server's key.
type submissionResponse struct {
	ID        string         `json:"id"`
	FormID    string         `json:"form_id"`
	Status    string         `json:"status"`
	Values    map[string]any `json:"values"`
	CreatedAt domain.Stamp   `json:"created_at"`
	UpdatedAt domain.Stamp   `json:"updated_at"`
	UserAgent string         `json:"user_agent"`
	Referrer  string         `json:"referrer"`
	Origin    string         `json:"origin"`
	IPHash    string         `json:"ip_hash"`
	Spam      *spamReasonDTO `json:"spam"`
	// IgnoredField names the one field the form does not define that a
	// browser's post carried, taken for the submit button and not stored;
	// absent when there was none.
	IgnoredField string `json:"ignored_field,omitempty"`
	// Files are the files of the submission's file fields, each with a
	// short-lived signed download link; the field's value lists their
	// names.
	// A submission without files has none, as its events' data.
	Files []submissionFileDTO `json:"files,omitempty"`
}

type submissionFileDTO struct {
	Field       string `json:"field"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	URL         string `json:"url"`
}

// spamReasonDTO says why a spam submission is spam; a submission that is
// not spam has none (null). Spam stored before reasons were kept has the
// reason unknown.
type spamReasonDTO struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

func toSpamReason(s domain.Submission) *spamReasonDTO {
	if !s.IsSpam() {
		return nil
	}
	r := s.SpamReason()
	if r.IsZero() {
		return &spamReasonDTO{Reason: "unknown"}
	}
	return &spamReasonDTO{Reason: r.Cause.String(), Detail: r.Detail}
}

// toSubmissionResponse encodes a field as a string, or as an array when
// multi says it reads as a list. The listing and single-submission use
// cases do not return the form, so there multi is domain.Value.IsList,
// which knows every multiselect stored since values carry their List mark.
func toSubmissionResponse(s domain.Submission, multi func(domain.Value) bool, link func(domain.SubmissionFile) string) submissionResponse {
	values := make(map[string]any, len(s.Values()))
	files := []submissionFileDTO{}
	for _, v := range s.Values() {
		for _, f := range v.Files {
			files = append(files, submissionFileDTO{Field: v.Field, Name: f.Name, ContentType: f.ContentType, Size: f.Size, URL: link(f)})
		}
		if multi(v) {
			values[v.Field] = nonNil(v.Values)
		} else if len(v.Values) > 0 {
			values[v.Field] = v.Values[0]
		}
	}
	m := s.Meta()
	return submissionResponse{
		ID: string(s.ID()), FormID: string(s.Form()), Status: s.Status().String(), Values: values,
		CreatedAt: domain.Stamp{Time: s.CreatedAt()}, UpdatedAt: domain.Stamp{Time: s.UpdatedAt()},
		UserAgent: m.UserAgent, Referrer: m.Referrer, Origin: m.Origin, IPHash: m.IPHash,
		Spam: toSpamReason(s), IgnoredField: s.IgnoredField(), Files: files,
	}
}

// multiselectOf reports the form's multiselect fields, for exports, which
// know the form: they show a list even for a one-option multiselect stored
// before values carried their List mark.
func multiselectOf(f domain.Form) func(domain.Value) bool {
	multi := map[string]bool{}
	for _, fd := range f.Fields() {
		multi[fd.Name] = fd.Type == domain.FieldMultiselect
	}
	return func(v domain.Value) bool { return multi[v.Field] || v.IsList() }
}

func (h formRoutes) toListedSubmission(s domain.Submission) submissionResponse {
	return toSubmissionResponse(s, domain.Value.IsList, h.fileLink(forms.FileLinkTTL))
}

// fileLink returns the absolute download links of files, signed for ttl.
func (h formRoutes) fileLink(ttl time.Duration) func(domain.SubmissionFile) string {
	return func(f domain.SubmissionFile) string { return h.base + h.forms.FileLink(f, ttl) }
}

// --- Form handlers.

func (h formRoutes) createForm(c *gin.Context) {
	var req formRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	f, err := h.forms.CreateForm(c.Request.Context(), principal(c), c.Param("ws"), req.toInput())
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", c.Request.URL.Path+"/"+string(f.ID()))
	c.JSON(http.StatusCreated, toFormResponse(f))
}

func (h formRoutes) listForms(c *gin.Context) {
	serveList(c, func(page ports.Page) ([]domain.Form, string, error) {
		return h.forms.ListForms(c.Request.Context(), principal(c), c.Param("ws"), page)
	}, toFormResponse)
}

func (h formRoutes) getForm(c *gin.Context) {
	f, err := h.forms.GetForm(c.Request.Context(), principal(c), c.Param("ws"), domain.FormID(c.Param("form")))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toFormResponse(f))
}

func (h formRoutes) updateForm(c *gin.Context) {
	var req formPatch
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	f, err := h.forms.UpdateForm(c.Request.Context(), principal(c), c.Param("ws"), domain.FormID(c.Param("form")),
		func(def *domain.FormInput) error {
			req.applyTo(def)
			return nil
		})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toFormResponse(f))
}

func (h formRoutes) deleteForm(c *gin.Context) {
	if err := h.forms.DeleteForm(c.Request.Context(), principal(c), c.Param("ws"), domain.FormID(c.Param("form"))); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// --- Submission handlers.

// maxQueryLen bounds the q filter: a substring search over every value.
const maxQueryLen = 200

// submissionFilterOf reads ?status=&since=&until=&q=, reporting every bad
// parameter at once.
func submissionFilterOf(c *gin.Context) (ports.SubmissionFilter, error) {
	var f ports.SubmissionFilter
	var errs []domain.FieldError
	if s := c.Query("status"); s != "" {
		st, err := domain.ParseSubmissionStatus(s)
		if err != nil {
			errs = append(errs, domain.FieldError{Field: "status", Code: "unknown_value", Message: "Use new, read, spam or archived."})
		} else {
			f.Status = &st
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		s := c.Query(p.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			errs = append(errs, domain.FieldError{Field: p.name, Code: "invalid_time", Message: "Use an RFC 3339 time such as 2026-03-02T09:00:00Z."})
			continue
		}
		*p.dst = t.UTC()
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		errs = append(errs, domain.FieldError{Field: "until", Code: "before_since", Message: "until must be after since."})
	}
	f.Query = c.Query("q")
	if utf8.RuneCountInString(f.Query) > maxQueryLen {
		errs = append(errs, domain.FieldError{Field: "q", Code: "too_long", Message: "Use at most 200 characters."})
	}
	if len(errs) > 0 {
		return f, domain.Invalid(errs...)
	}
	return f, nil
}

func (h formRoutes) listSubmissions(c *gin.Context) {
	filter, err := submissionFilterOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	serveList(c, func(page ports.Page) ([]domain.Submission, string, error) {
		return h.forms.ListSubmissions(c.Request.Context(), principal(c), c.Param("ws"), domain.FormID(c.Param("form")), filter, page)
	}, h.toListedSubmission)
}

func (h formRoutes) getSubmission(c *gin.Context) {
	s, err := h.forms.GetSubmission(c.Request.Context(), principal(c), c.Param("ws"), domain.SubmissionID(c.Param("id")))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, h.toListedSubmission(s))
}

type updateSubmissionRequest struct {
	Status string `json:"status"`
}

func (h formRoutes) updateSubmission(c *gin.Context) {
	var req updateSubmissionRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	st, err := domain.ParseSubmissionStatus(req.Status)
	if err != nil {
		fail(c, err)
		return
	}
	s, err := h.forms.UpdateSubmissionStatus(c.Request.Context(), principal(c), c.Param("ws"), domain.SubmissionID(c.Param("id")), st)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, h.toListedSubmission(s))
}

// notSpam files a spam submission as new and queues the mail its spam
// verdict held back; a submission that is not spam comes back unchanged,
// so a retry never mails twice.
func (h formRoutes) notSpam(c *gin.Context) {
	s, err := h.forms.NotSpam(c.Request.Context(), principal(c), c.Param("ws"), domain.SubmissionID(c.Param("id")))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, h.toListedSubmission(s))
}

func (h formRoutes) deleteSubmission(c *gin.Context) {
	if err := h.forms.DeleteSubmission(c.Request.Context(), principal(c), c.Param("ws"), domain.SubmissionID(c.Param("id"))); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// --- Erasure.

type erasureRequest struct {
	Email string `json:"email"`
}

type erasureResponse struct {
	Submissions int `json:"submissions"`
	Messages    int `json:"messages"`
}

func (h formRoutes) erase(c *gin.Context) {
	var req erasureRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	out, err := h.forms.Erase(c.Request.Context(), principal(c), c.Param("ws"), req.Email)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, erasureResponse{Submissions: out.Submissions, Messages: out.Messages})
}

// fileKinds is a file field's accepted kinds as the API shows them: every
// kind when the field names none; nil for other fields.
func fileKinds(fd domain.Field) []string {
	if fd.Type != domain.FieldFile {
		return nil
	}
	if len(fd.Accept) == 0 {
		return domain.FileKinds
	}
	return fd.Accept
}
