package domain

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FormID names a form.
type FormID string

// PrefixForm starts every form ID.
const PrefixForm = "frm"

func (id FormID) String() string { return string(id) }

// FieldType is closed: these variables are its only values.
type FieldType struct{ s string }

var (
	FieldText        = FieldType{"text"}
	FieldEmail       = FieldType{"email"}
	FieldTextarea    = FieldType{"textarea"}
	FieldNumber      = FieldType{"number"}
	FieldURL         = FieldType{"url"}
	FieldTel         = FieldType{"tel"}
	FieldDate        = FieldType{"date"}
	FieldSelect      = FieldType{"select"}
	FieldMultiselect = FieldType{"multiselect"}
	FieldCheckbox    = FieldType{"checkbox"}
	FieldHidden      = FieldType{"hidden"}
	FieldFile        = FieldType{"file"}
)

var fieldTypes = []FieldType{FieldText, FieldEmail, FieldTextarea, FieldNumber, FieldURL, FieldTel, FieldDate, FieldSelect, FieldMultiselect, FieldCheckbox, FieldHidden, FieldFile}

// ParseFieldType accepts the wire and stored spellings.
func ParseFieldType(s string) (FieldType, bool) {
	for _, t := range fieldTypes {
		if t.s == s {
			return t, true
		}
	}
	return FieldType{}, false
}

func (t FieldType) String() string { return t.s }

// FormStatus is open (accepting submissions) or closed.
type FormStatus struct{ s string }

var (
	FormOpen   = FormStatus{"open"}
	FormClosed = FormStatus{"closed"}
)

func (s FormStatus) String() string { return s.s }

// ParseFormStatus accepts the wire and stored spellings.
func ParseFormStatus(s string) (FormStatus, bool) {
	switch s {
	case FormOpen.s, FormClosed.s:
		return FormStatus{s}, true
	}
	return FormStatus{}, false
}

// Field is one input of a form. Pointers are optional limits.
type Field struct {
	Name      string
	Label     string
	Type      FieldType
	Required  bool
	MinLength *int
	MaxLength *int
	Min, Max  *float64
	Pattern   string
	Options   []string
	// MaxFiles, MaxFileSize and Accept limit a file field: how many files
	// it takes (0: 1), how many bytes each may hold (0:
	// DefaultMaxFileSize) and which kinds (FileKinds; none: all of them).
	// Other types leave them zero.
	MaxFiles    int
	MaxFileSize int64
	Accept      []string

	re *regexp.Regexp
}

// Notify says who hears of each submission.
type Notify struct {
	Recipients []string
	Subject    string // a text/template over the submission's fields
	// AttachFilesMaxBytes, when above 0, attaches a submission's files to
	// its notification when their sizes sum to at most this many bytes
	// (up to MaxAttachFilesBytes); bigger sets are linked, as with 0.
	AttachFilesMaxBytes int64
}

// MaxAttachFilesBytes bounds Notify.AttachFilesMaxBytes: mail relays
// commonly refuse messages much over 10 MiB, and base64 makes the files a
// third bigger on the wire.
const MaxAttachFilesBytes = 10 << 20

// Autoresponder answers the submitter at the address in EmailField.
type Autoresponder struct {
	Enabled    bool
	EmailField string
	Subject    string // text/template
	Text       string // text/template
	HTML       string // html/template
}

// Redirects send plain HTML form posts back to the site.
type Redirects struct {
	Success, Error string
}

// FormInput is a form definition as a client sends it.
type FormInput struct {
	Name           string
	Status         string
	Fields         []Field
	Notify         Notify
	Autoresponder  Autoresponder
	Redirects      Redirects
	AllowedOrigins []string
	Honeypot       string
	RetentionDays  int
	// MaxLinks is the form's own spam threshold: a submission with more
	// links than this across its values is spam, and 0 turns the check
	// off. nil leaves the instance's rule (SpamRules.MaxLinks) in force.
	MaxLinks *int
}

// Form is a form definition; it is valid from birth.
type Form struct {
	id        FormID
	workspace WorkspaceID
	def       FormInput
	status    FormStatus
	createdAt time.Time
	updatedAt time.Time

	// The checked templates. A stored form whose template no longer
	// passes the rules has nil in its place; see RehydrateForm.
	subject *mailTemplate
	arSubj  *mailTemplate
	arText  *mailTemplate
	arHTML  *mailTemplate
	// warnings say which stored templates and patterns were set aside.
	warnings []string
}

// Limits on a form definition, which keep one form from costing much to
// store, render or validate against.
const (
	MaxFields        = 100
	MaxFieldValueLen = 100_000
	MaxRecipients    = 20
	MaxOrigins       = 20
	MaxRetentionDays = 3650
	MaxLinksLimit    = 1000 // the highest link threshold a form may set
)

var fieldNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$`)

// NewForm validates in and returns a new form of ws created at now. Every
// problem is reported at once, one FieldError each, named by its JSON path
// ("fields[2].pattern").
func NewForm(ws WorkspaceID, in FormInput, now time.Time) (Form, error) {
	f := Form{id: FormID(NewID(PrefixForm, now)), workspace: ws, createdAt: Timestamp(now), updatedAt: Timestamp(now)}
	if err := f.Replace(in, now); err != nil {
		return Form{}, err
	}
	return f, nil
}

// Replace swaps the whole definition, all or nothing.
func (f *Form) Replace(in FormInput, now time.Time) error {
	c, errs := compileForm(in, true)
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	c.id, c.workspace, c.createdAt, c.updatedAt = f.id, f.workspace, f.createdAt, Timestamp(now)
	*f = c
	return nil
}

// RehydrateForm rebuilds a stored form. The definition was valid when it
// was stored, but the rules for templates and patterns have since become
// stricter; a form stored before must keep accepting submissions, so a
// template or pattern that breaks today's rules is set aside rather than
// refused or run: a notification subject falls back to the default, an
// autoresponder with such a template is not sent, and such a pattern is
// not checked. Warnings names each; saving the form again requires fixing
// them. Any other problem is reported as an error rather than trusted.
func RehydrateForm(id FormID, ws WorkspaceID, in FormInput, createdAt, updatedAt time.Time) (Form, error) {
	c, errs := compileForm(in, false)
	if len(errs) > 0 {
		return Form{}, Invalid(errs...).WithMessage("The stored form %s is no longer valid.", id)
	}
	c.id, c.workspace, c.createdAt, c.updatedAt = id, ws, createdAt.UTC(), updatedAt.UTC()
	return c, nil
}

// compileForm checks in and compiles its templates and patterns. strict
// refuses templates and patterns that break the rules; otherwise, for a
// stored form, they are set aside with a warning (see RehydrateForm).
func compileForm(in FormInput, strict bool) (Form, []FieldError) {
	var errs []FieldError
	bad := func(field, code, msg string) { errs = append(errs, FieldError{field, code, msg}) }
	f := Form{def: in}
	work := 0 // pattern size times value length, summed over the fields
	var fileBytes int64
	var ferr *FieldError
	if f.def.Name, ferr = checkName("name", in.Name); ferr != nil {
		errs = append(errs, *ferr)
	}
	switch st, ok := ParseFormStatus(in.Status); {
	case in.Status == "":
		f.status, f.def.Status = FormOpen, FormOpen.s
	case !ok:
		bad("status", "unknown_value", "Use open or closed.")
	default:
		f.status = st
	}
	if len(in.Fields) == 0 || len(in.Fields) > MaxFields {
		bad("fields", "count", "Give a form 1 to 100 fields.")
	}
	seen := map[string]bool{}
	f.def.Fields = make([]Field, len(in.Fields))
	for i, fd := range in.Fields {
		p := "fields[" + strconv.Itoa(i) + "]"
		if !fieldNamePattern.MatchString(fd.Name) {
			bad(p+".name", "invalid_name", "Use 1 to 64 letters, digits, _ . or -, starting with a letter or _.")
		} else if seen[fd.Name] {
			bad(p+".name", "duplicate", "Another field has this name.")
		}
		seen[fd.Name] = true
		if fd.Name == in.Honeypot && in.Honeypot != "" {
			bad(p+".name", "honeypot_clash", "The honeypot must not be one of the fields.")
		}
		if fd.Type.s == "" {
			bad(p+".type", "unknown_type", "Use text, email, textarea, number, url, tel, date, select, multiselect, checkbox, hidden or file.")
		}
		errs = append(errs, fd.checkFileLimits(p)...)
		fileBytes += int64(fd.FileCount()) * fd.FileSize()
		if utf8.RuneCountInString(fd.Label) > 200 {
			bad(p+".label", "too_long", "Use at most 200 characters.")
		}
		for _, lim := range []struct {
			name string
			v    *int
		}{{"min_length", fd.MinLength}, {"max_length", fd.MaxLength}} {
			if lim.v != nil && (*lim.v < 0 || *lim.v > MaxFieldValueLen) {
				bad(p+"."+lim.name, "out_of_range", "Use 0 to 100000.")
			}
		}
		if fd.MinLength != nil && fd.MaxLength != nil && *fd.MinLength > *fd.MaxLength {
			bad(p+".min_length", "min_above_max", "min_length is above max_length.")
		}
		if fd.Min != nil && fd.Max != nil && *fd.Min > *fd.Max {
			bad(p+".min", "min_above_max", "min is above max.")
		}
		if fd.Pattern != "" {
			re, insts, problem := compilePattern(fd.Pattern)
			if problem == "" {
				// Lengths are checked above; a negative max_length is reported there.
				work += insts * max(fd.patternLimit(), 0)
				if work > MaxPatternWork {
					problem = "The form's patterns cost too much to check: the sum over its patterns of the pattern's size (this one: " +
						strconv.Itoa(insts) + " instructions) times the longest value it is checked against (this field: " +
						strconv.Itoa(fd.patternLimit()) + " characters) must be at most " + strconv.Itoa(MaxPatternWork) +
						"; set a lower max_length or use a simpler pattern."
				}
			}
			switch {
			case problem == "":
				fd.re = re
			case strict:
				bad(p+".pattern", "invalid_pattern", problem)
			default:
				f.warnings = append(f.warnings, p+".pattern is not checked: "+problem)
			}
		}
		needsOptions := fd.Type == FieldSelect || fd.Type == FieldMultiselect
		if needsOptions && (len(fd.Options) == 0 || len(fd.Options) > 200) {
			bad(p+".options", "required", "Give a select 1 to 200 options.")
		}
		if !needsOptions && len(fd.Options) > 0 {
			bad(p+".options", "not_allowed", "Only select and multiselect fields take options.")
		}
		f.def.Fields[i] = fd
	}
	if fileBytes > MaxFormFileBytes {
		bad("fields", "files_too_large", "The form's file fields may take at most "+FormatBytes(MaxFormFileBytes)+" in all (max_files times max_file_size, summed).")
	}
	if len(in.Notify.Recipients) > MaxRecipients {
		bad("notify.recipients", "count", "Give at most 20 recipients.")
	}
	for i, r := range in.Notify.Recipients {
		if _, err := ParseEmail("", r); err != nil {
			bad("notify.recipients["+strconv.Itoa(i)+"]", "invalid_email", "Not an e-mail address.")
		}
	}
	if n := in.Notify.AttachFilesMaxBytes; n < 0 || n > MaxAttachFilesBytes {
		bad("notify.attach_files_max_bytes", "out_of_range", "Give 0 (never attach) to "+strconv.Itoa(MaxAttachFilesBytes)+" bytes.")
	}
	subject := in.Notify.Subject
	if subject == "" {
		subject = defaultNotifySubject
		f.def.Notify.Subject = subject
	}
	if ar := in.Autoresponder; ar.Enabled {
		if i := slices.IndexFunc(in.Fields, func(fd Field) bool { return fd.Name == ar.EmailField }); i < 0 || in.Fields[i].Type != FieldEmail {
			bad("autoresponder.email_field", "unknown_field", "Name a field of type email.")
		}
		if ar.Text == "" && ar.HTML == "" {
			bad("autoresponder.text", "required", "Give the autoresponder a text or HTML body.")
		}
	}
	// A template that parses can still fail when it runs (html/template
	// refuses {{.Fields.x}} inside an unclosed tag). Each is run on sample
	// data now, so that the form's owner hears of it here and no visitor's
	// submission ever fails for it; the rules make that run cheap.
	sample := map[string]any{"FormName": in.Name, "SubmissionID": "sub_sample", "CreatedAt": time.Time{}, "Fields": map[string]string{}}
	for _, t := range []struct {
		field      string
		src        string
		html       bool
		maxSrc     int
		maxOut     int
		dst        **mailTemplate
		setAsideAs string
	}{
		{"notify.subject", subject, false, MaxSubjectTemplateLen, maxSubjectBytes, &f.subject, "the default subject is used"},
		{"autoresponder.subject", in.Autoresponder.Subject, false, MaxSubjectTemplateLen, maxSubjectBytes, &f.arSubj, "the autoresponder is not sent"},
		{"autoresponder.text", in.Autoresponder.Text, false, MaxBodyTemplateLen, MaxBodyLen, &f.arText, "the autoresponder is not sent"},
		{"autoresponder.html", in.Autoresponder.HTML, true, MaxBodyTemplateLen, MaxBodyLen, &f.arHTML, "the autoresponder is not sent"},
	} {
		tpl, problem := parseMailTemplate(t.field, t.src, t.html, t.maxSrc, t.maxOut)
		if problem == "" {
			if _, err := tpl.render(sample); err != nil {
				problem = "The template fails on a submission: " + templateProblem(err)
			}
		}
		switch {
		case problem == "":
			*t.dst = tpl
		case strict:
			bad(t.field, "invalid_template", problem)
		case t.field == "notify.subject" || in.Autoresponder.Enabled:
			f.warnings = append(f.warnings, t.field+" is set aside, "+t.setAsideAs+": "+problem)
		}
	}
	for name, u := range map[string]string{"redirects.success": in.Redirects.Success, "redirects.error": in.Redirects.Error} {
		if u != "" && !absoluteHTTPURL(u) {
			bad(name, "invalid_url", "Use an absolute http or https URL.")
		}
	}
	if len(in.AllowedOrigins) > MaxOrigins {
		bad("allowed_origins", "count", "Give at most 20 origins.")
	}
	for i, o := range in.AllowedOrigins {
		if !validOrigin(o) {
			bad("allowed_origins["+strconv.Itoa(i)+"]", "invalid_origin", `Use an origin such as https://example.com, or "*".`)
		}
	}
	if in.Honeypot != "" && !fieldNamePattern.MatchString(in.Honeypot) {
		bad("honeypot", "invalid_name", "Use 1 to 64 letters, digits, _ . or -.")
	}
	if in.RetentionDays < 0 || in.RetentionDays > MaxRetentionDays {
		bad("retention_days", "out_of_range", "Use 0 (keep forever) to 3650 days.")
	}
	if in.MaxLinks != nil {
		if *in.MaxLinks < 0 || *in.MaxLinks > MaxLinksLimit {
			bad("max_links", "out_of_range", "Use 0 (no limit) to 1000 links, or null for the instance's limit.")
		}
		n := *in.MaxLinks // the form keeps its own copy
		f.def.MaxLinks = &n
	}
	return f, errs
}

func absoluteHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && len(s) <= 2000
}

func validOrigin(s string) bool {
	if s == "*" {
		return true
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Path == "" && u.RawQuery == "" && u.User == nil && u.Fragment == ""
}

func (f Form) ID() FormID               { return f.id }
func (f Form) Workspace() WorkspaceID   { return f.workspace }
func (f Form) Name() string             { return f.def.Name }
func (f Form) Status() FormStatus       { return f.status }
func (f Form) Fields() []Field          { return slices.Clone(f.def.Fields) }
func (f Form) Definition() FormInput    { d := f.def; d.Fields = f.Fields(); return d }
func (f Form) Honeypot() string         { return f.def.Honeypot }
func (f Form) RetentionDays() int       { return f.def.RetentionDays }
func (f Form) Redirects() Redirects     { return f.def.Redirects }
func (f Form) CreatedAt() time.Time     { return f.createdAt }
func (f Form) UpdatedAt() time.Time     { return f.updatedAt }
func (f Form) AllowedOrigins() []string { return slices.Clone(f.def.AllowedOrigins) }

// Warnings lists the templates and patterns of a stored form that break
// today's rules and are set aside (see RehydrateForm); a form made or
// saved since has none.
func (f Form) Warnings() []string { return slices.Clone(f.warnings) }

// AllowsOrigin reports whether a browser page at origin may post to the
// form and read the answer.
func (f Form) AllowsOrigin(origin string) bool {
	return origin != "" && slices.ContainsFunc(f.def.AllowedOrigins, func(o string) bool {
		return o == "*" || strings.EqualFold(o, origin)
	})
}

// Errors of the form rules.
var (
	ErrFormClosed   = E(KindConflict, "form_closed", "This form no longer accepts submissions.")
	ErrUnknownField = E(KindInvalid, "unknown_field", "The submission has fields the form does not define.")
)
