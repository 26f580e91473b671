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

// SubmissionID names a submission.
type SubmissionID string

// PrefixSubmission starts every submission ID.
const PrefixSubmission = "sub"

// SubmissionStatus is closed: these variables are its only values.
type SubmissionStatus struct{ s string }

var (
	SubmissionNew      = SubmissionStatus{"new"}
	SubmissionRead     = SubmissionStatus{"read"}
	SubmissionSpam     = SubmissionStatus{"spam"}
	SubmissionArchived = SubmissionStatus{"archived"}
)

// ParseSubmissionStatus accepts the wire and stored spellings.
func ParseSubmissionStatus(s string) (SubmissionStatus, error) {
	for _, st := range []SubmissionStatus{SubmissionNew, SubmissionRead, SubmissionSpam, SubmissionArchived} {
		if st.s == s {
			return st, nil
		}
	}
	return SubmissionStatus{}, Invalid(FieldError{"status", "unknown_value", "Use new, read, spam or archived."})
}

func (s SubmissionStatus) String() string { return s.s }

// Value is one field's normalised value(s): one for most types, any number
// for multiselect. List marks a multiselect's value, which readers show as
// a list even when one option was chosen, so that a client sees one shape
// per field; a list cannot be told from one value by counting.
//
// A file field's value lists its files' names in Values and the files
// themselves in Files, in the same order.
type Value struct {
	Field  string
	Values []string
	List   bool
	Files  []SubmissionFile
}

// IsList reports whether v reads as a list: a multiselect's value, or one
// holding several values, which covers values stored before List existed.
func (v Value) IsList() bool { return v.List || len(v.Values) > 1 }

// Submission is what a visitor sent through a form, normalised.
type Submission struct {
	id        SubmissionID
	form      FormID
	workspace WorkspaceID
	values    []Value
	status    SubmissionStatus
	meta      SubmissionMeta
	createdAt time.Time
	updatedAt time.Time
	// mailHeld marks spam caught on arrival: its mail was never queued,
	// and marking it not spam queues it (NotSpam).
	mailHeld bool
	// spam says why a spam submission is spam; it is zero otherwise.
	spam SpamReason
	// ignoredField is the name Accept took to be the submit button's and
	// left out of the values; "" when there was none.
	ignoredField string
}

// SpamCause is closed: these variables are its only values, and the zero
// value, which a submission that is not spam has, and so has spam stored
// before causes were kept.
type SpamCause struct{ s string }

var (
	SpamHoneypot = SpamCause{"honeypot"} // the form's honeypot field was filled
	SpamLinks    = SpamCause{"links"}    // more links than the form allows
	SpamTiming   = SpamCause{"timing"}   // sent too soon after the page loaded
	SpamManual   = SpamCause{"manual"}   // filed as spam by a person
)

// ParseSpamCause accepts the stored spellings; "" is the zero cause.
func ParseSpamCause(s string) (SpamCause, bool) {
	for _, c := range []SpamCause{{}, SpamHoneypot, SpamLinks, SpamTiming, SpamManual} {
		if c.s == s {
			return c, true
		}
	}
	return SpamCause{}, false
}

func (c SpamCause) String() string { return c.s }

// SpamReason is why a submission is spam: its cause and, where there is
// more to say, a detail for the people who review spam ("7 links; the
// form allows 5"). The detail is Keel's own text, never the visitor's.
type SpamReason struct {
	Cause  SpamCause
	Detail string
}

// IsZero reports a reason that says nothing: a submission that is not
// spam, or spam stored before reasons were kept.
func (r SpamReason) IsZero() bool { return r == SpamReason{} }

// SubmissionMeta is what Keel records about where a submission came from.
// The client IP is stored only as a keyed hash, which lets a rate limit or
// an erasure request match it without Keel keeping the address.
type SubmissionMeta struct {
	IPHash    string
	UserAgent string
	Referrer  string
	Origin    string
}

// RawSubmission is a submission as decoded from a request: every field's
// values in arrival order, before validation.
type RawSubmission struct {
	Fields map[string][]string
	Order  []string // field names in the order they first arrived
	// FormEncoded marks a body in an HTML form's encoding (URL-encoded or
	// multipart), which may carry the name and value of the submit button
	// that sent it; see isSubmitButton.
	FormEncoded bool
	// Files holds the files already stored for each file field, and ID
	// the submission ID their blob keys name; an empty ID makes a new one.
	Files map[string][]SubmissionFile
	ID    SubmissionID
}

// SpamRules are the instance's spam thresholds.
type SpamRules struct {
	MaxLinks int // more URLs than this across all values marks spam; 0 turns it off
	// A form's own MaxLinks (FormInput.MaxLinks) replaces this one.
	// MinFillTime marks as spam a submission that arrives sooner than this
	// after the page loaded, when the form carries TimestampField (Unix
	// milliseconds, set by the page's script).
	MinFillTime    time.Duration
	TimestampField string
}

// Accept validates raw against the form and returns the submission made at
// now. It returns ErrFormClosed for a closed form, ErrUnknownField (with
// the names) for fields the form does not define, and a validation_failed
// error with one entry per problem otherwise. In a form-encoded body, one
// unknown name that may be the submit button's (isSubmitButton) is not
// refused but left out, and the submission records it (IgnoredField).
// A filled honeypot, too many
// links or a too-quick fill are not errors: the submission is returned with
// status spam and its SpamReason, so the visitor sees the same answer as
// for a real one. The form's own link limit, when it has one, replaces
// rules.MaxLinks.
func (f Form) Accept(raw RawSubmission, meta SubmissionMeta, rules SpamRules, now time.Time) (Submission, error) {
	if f.status == FormClosed {
		return Submission{}, ErrFormClosed
	}
	if f.def.MaxLinks != nil {
		rules.MaxLinks = *f.def.MaxLinks
	}
	var spam SpamReason
	var unknown []FieldError
	for _, name := range raw.Order {
		switch {
		case name == f.def.Honeypot && name != "":
			if spam.IsZero() && slices.ContainsFunc(raw.Fields[name], func(v string) bool { return strings.TrimSpace(v) != "" }) {
				spam = SpamReason{Cause: SpamHoneypot}
			}
		case name == rules.TimestampField && name != "":
			if spam.IsZero() && tooQuick(raw.Fields[name], rules.MinFillTime, now) {
				spam = SpamReason{Cause: SpamTiming, Detail: "Sent less than " + rules.MinFillTime.String() + " after the page loaded."}
			}
		case !slices.ContainsFunc(f.def.Fields, func(fd Field) bool { return fd.Name == name }):
			unknown = append(unknown, FieldError{name, "unknown_field", "The form has no field with this name."})
		}
	}
	ignored := ""
	if raw.FormEncoded && len(unknown) == 1 && isSubmitButton(raw, unknown[0].Field) {
		ignored, unknown = unknown[0].Field, nil
	}
	if len(unknown) > 0 {
		return Submission{}, ErrUnknownField.WithFields(unknown...)
	}
	var errs []FieldError
	values := make([]Value, 0, len(f.def.Fields))
	links := 0
	for _, fd := range f.def.Fields {
		if fd.Type == FieldFile {
			files := raw.Files[fd.Name]
			errs = append(errs, fd.checkFiles(raw.Fields[fd.Name], files)...)
			if len(files) > 0 {
				names := make([]string, len(files))
				for i, file := range files {
					names[i] = file.Name
				}
				values = append(values, Value{Field: fd.Name, Values: names, List: true, Files: slices.Clone(files)})
			}
			continue
		}
		vs, ferrs := fd.normalise(raw.Fields[fd.Name])
		errs = append(errs, ferrs...)
		if len(vs) > 0 {
			values = append(values, Value{Field: fd.Name, Values: vs, List: fd.Type == FieldMultiselect})
		}
		if rules.MaxLinks > 0 {
			for _, v := range vs {
				links += countLinks(v)
			}
		}
	}
	if len(errs) > 0 {
		return Submission{}, Invalid(errs...)
	}
	if spam.IsZero() && rules.MaxLinks > 0 && links > rules.MaxLinks {
		spam = SpamReason{Cause: SpamLinks, Detail: strconv.Itoa(links) + " links; the limit is " + strconv.Itoa(rules.MaxLinks) + "."}
	}
	id := raw.ID
	if id == "" {
		id = SubmissionID(NewID(PrefixSubmission, now))
	}
	s := Submission{
		id: id, form: f.id, workspace: f.workspace, values: values,
		status: SubmissionNew, meta: meta.clip(), createdAt: Timestamp(now), updatedAt: Timestamp(now),
		ignoredField: ignored,
	}
	if !spam.IsZero() {
		s.status, s.mailHeld, s.spam = SubmissionSpam, true, spam
	}
	return s, nil
}

// checkFiles checks a file field's files; texts are the field's values
// that were not files, which a browser sends for a file input only as
// empty parts, already left out.
func (fd Field) checkFiles(texts []string, files []SubmissionFile) []FieldError {
	bad := func(code, msg string) []FieldError { return []FieldError{{fd.Name, code, msg}} }
	switch {
	case slices.ContainsFunc(texts, func(v string) bool { return v != "" }):
		return bad("not_a_file", "Send a file for this field.")
	case len(files) == 0 && fd.Required:
		return bad("required", "Choose a file.")
	case len(files) > fd.FileCount():
		return bad("too_many_files", "Send at most "+strconv.Itoa(fd.FileCount())+" files.")
	}
	for _, file := range files {
		if file.Size > fd.FileSize() {
			return bad("file_too_large", "Send files of at most "+FormatBytes(fd.FileSize())+".")
		}
	}
	return nil
}

// Files returns the submission's files, field by field.
func (s Submission) Files() []SubmissionFile {
	var out []SubmissionFile
	for _, v := range s.values {
		out = append(out, v.Files...)
	}
	return out
}

// MaxSubmitButtonText bounds the name and the value of a name Accept may
// take to be a submit button's: a button's label is short, and a longer
// value is more likely typed into a misspelt field, whose loss the visitor
// would not see.
const MaxSubmitButtonText = 100

// isSubmitButton reports whether name, a name the form does not define,
// may be what a browser adds for the submit button that sent the form:
// <button name="send" value="Send"> sends "send=Send" among the other
// controls, where nothing tells it from them. A name sent once, with a
// short value, may be a button's; Accept ignores it when it is the only
// unknown name. Two unknown names, a repeated one or a long value cannot
// all be one button, and are refused like any unknown field.
func isSubmitButton(raw RawSubmission, name string) bool {
	vs := raw.Fields[name]
	return len(vs) == 1 && utf8.RuneCountInString(name) <= MaxSubmitButtonText &&
		utf8.RuneCountInString(vs[0]) <= MaxSubmitButtonText
}

func (m SubmissionMeta) clip() SubmissionMeta {
	clip := func(s string) string {
		return strings.ToValidUTF8(TruncateUTF8(s, 1000), "")
	}
	return SubmissionMeta{IPHash: m.IPHash, UserAgent: clip(m.UserAgent), Referrer: clip(m.Referrer), Origin: clip(m.Origin)}
}

func tooQuick(vs []string, min time.Duration, now time.Time) bool {
	if min <= 0 || len(vs) == 0 {
		return false
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
	if err != nil {
		return true // a script that sets the field sets a number; anything else is a bot
	}
	return now.Sub(time.UnixMilli(ms)) < min
}

// countLinks counts what looks like a link in s: http:// or https://, or
// www., in any ASCII case, each starting a word. It is the count of
// `\b[hH][tT][tT][pP][sS]?://|\b[wW][wW][wW]\.` matches, scanned by hand
// because it runs on every field of every submission, where a regular
// expression cost 1.5% of the server's CPU. The (?i) pattern it replaced
// also folded ſ into s, so "httpſ://" counted; no browser takes that for a
// scheme.
func countLinks(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if i > 0 && isWordByte(s[i-1]) {
			i++
			continue
		}
		switch {
		case hasPrefixFold(s[i:], "https://"):
			n, i = n+1, i+len("https://")
		case hasPrefixFold(s[i:], "http://"):
			n, i = n+1, i+len("http://")
		case hasPrefixFold(s[i:], "www."):
			n, i = n+1, i+len("www.")
		default:
			i++
		}
	}
	return n
}

// isWordByte reports whether b is an ASCII word character, as \b in Go's
// regular expressions counts them.
func isWordByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// hasPrefixFold reports whether s begins with prefix, which is lower-case
// ASCII, in any ASCII case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

var telPattern = regexp.MustCompile(`^\+?[0-9 ().\-]{3,30}$`)

// normalise checks one field's raw values and returns them normalised:
// trimmed, e-mail domains lower-cased, numbers and dates in canonical form.
func (fd Field) normalise(raw []string) ([]string, []FieldError) {
	bad := func(code, msg string) []FieldError { return []FieldError{{fd.Name, code, msg}} }
	var vs []string
	for _, v := range raw {
		if !utf8.ValidString(v) {
			return nil, bad("invalid_utf8", "The value is not valid UTF-8.")
		}
		v = strings.TrimSpace(stripControls(v))
		if fd.Type != FieldTextarea {
			v = strings.ReplaceAll(strings.ReplaceAll(v, "\r", ""), "\n", " ")
		} else {
			v = strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", "\n"), "\r", "\n")
		}
		if v != "" && !(fd.Type == FieldMultiselect && slices.Contains(vs, v)) {
			vs = append(vs, v) // an option chosen twice counts once
		}
	}
	if fd.Type == FieldCheckbox {
		if len(vs) == 0 {
			if fd.Required {
				return nil, bad("required", "Tick this box.")
			}
			return nil, nil
		}
		return []string{"true"}, nil
	}
	if len(vs) == 0 {
		if fd.Required {
			return nil, bad("required", "This field is required.")
		}
		return nil, nil
	}
	if fd.Type != FieldMultiselect && len(vs) > 1 {
		return nil, bad("multiple_values", "Send one value for this field.")
	}
	for i, v := range vs {
		n := utf8.RuneCountInString(v)
		switch {
		case n > MaxFieldValueLen:
			return nil, bad("too_long", "The value is too long.")
		case fd.MaxLength != nil && n > *fd.MaxLength:
			return nil, bad("too_long", "Use at most "+strconv.Itoa(*fd.MaxLength)+" characters.")
		case fd.MinLength != nil && n < *fd.MinLength:
			return nil, bad("too_short", "Use at least "+strconv.Itoa(*fd.MinLength)+" characters.")
		}
		switch fd.Type {
		case FieldEmail:
			at := strings.LastIndexByte(v, '@')
			if at <= 0 {
				return nil, bad("invalid_email", "Enter an e-mail address.")
			}
			norm := v[:at] + "@" + strings.ToLower(v[at+1:])
			if _, err := ParseEmail(fd.Name, norm); err != nil {
				return nil, bad("invalid_email", "Enter an e-mail address.")
			}
			v = norm
		case FieldNumber:
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x != x {
				return nil, bad("invalid_number", "Enter a number.")
			}
			if fd.Min != nil && x < *fd.Min || fd.Max != nil && x > *fd.Max {
				return nil, bad("out_of_range", "The number is out of range.")
			}
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case FieldURL:
			if !absoluteHTTPURL(v) {
				return nil, bad("invalid_url", "Enter a URL starting with http:// or https://.")
			}
		case FieldTel:
			if !telPattern.MatchString(v) {
				return nil, bad("invalid_tel", "Enter a telephone number.")
			}
		case FieldDate:
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return nil, bad("invalid_date", "Enter a date as YYYY-MM-DD.")
			}
			v = d.Format(time.DateOnly)
		case FieldSelect, FieldMultiselect:
			if !slices.Contains(fd.Options, v) {
				return nil, bad("invalid_option", "Choose one of the options.")
			}
		}
		// The form's pattern budget assumes no longer value: a number's
		// canonical form can be longer than what was sent.
		if fd.re != nil && utf8.RuneCountInString(v) > fd.patternLimit() {
			return nil, bad("too_long", "The value is too long.")
		}
		if fd.re != nil && !fd.re.MatchString(v) {
			return nil, bad("pattern_mismatch", "The value does not have the expected format.")
		}
		vs[i] = v
	}
	return vs, nil
}

// stripControls removes the control characters a value may not keep: the
// C0 controls but tab, line feed and carriage return (NUL and ESC among
// them), DEL and the C1 controls. No form asks for them; they break
// terminals, spreadsheets and mail (NUL becomes =00 in a message) and
// hide text from the people who read submissions. They are dropped rather
// than refused, as a browser's stray one should not cost the visitor
// their submission.
func stripControls(v string) string {
	if !strings.ContainsFunc(v, isStrippedControl) {
		return v
	}
	return strings.Map(func(r rune) rune {
		if isStrippedControl(r) {
			return -1
		}
		return r
	}, v)
}

func isStrippedControl(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r >= 0x7f && r <= 0x9f
}

// RehydrateSubmission rebuilds a stored submission.
func RehydrateSubmission(id SubmissionID, form FormID, ws WorkspaceID, values []Value, status SubmissionStatus, meta SubmissionMeta, createdAt, updatedAt time.Time) Submission {
	return Submission{id, form, ws, values, status, meta, createdAt.UTC(), updatedAt.UTC(), false, SpamReason{}, ""}
}

func (s Submission) ID() SubmissionID         { return s.id }
func (s Submission) Form() FormID             { return s.form }
func (s Submission) Workspace() WorkspaceID   { return s.workspace }
func (s Submission) Values() []Value          { return slices.Clone(s.values) }
func (s Submission) Status() SubmissionStatus { return s.status }
func (s Submission) Meta() SubmissionMeta     { return s.meta }
func (s Submission) CreatedAt() time.Time     { return s.createdAt }
func (s Submission) UpdatedAt() time.Time     { return s.updatedAt }
func (s Submission) IsSpam() bool             { return s.status == SubmissionSpam }

// MailHeld reports whether the spam filter caught the submission on
// arrival, so that its notification and autoresponse were never queued.
func (s Submission) MailHeld() bool { return s.mailHeld }

// RehydrateMailHeld returns s with its stored mail_held flag, which
// RehydrateSubmission leaves false.
func (s Submission) RehydrateMailHeld(held bool) Submission {
	s.mailHeld = held
	return s
}

// IgnoredField is the name of the one field the form does not define that
// its browser post carried, taken to be the submit button's and left out
// of the values; "" when there was none. Shown to the form's readers, it
// reveals a misspelt input, whose value was not kept.
func (s Submission) IgnoredField() string { return s.ignoredField }

// RehydrateIgnoredField returns s with its stored ignored field, which
// RehydrateSubmission leaves empty.
func (s Submission) RehydrateIgnoredField(name string) Submission {
	s.ignoredField = name
	return s
}

// SpamReason says why a spam submission is spam; it is zero for one that
// is not, and for spam stored before reasons were kept.
func (s Submission) SpamReason() SpamReason { return s.spam }

// RehydrateSpamReason returns s with its stored spam reason, which
// RehydrateSubmission leaves zero. A submission that is not spam keeps
// none.
func (s Submission) RehydrateSpamReason(r SpamReason) Submission {
	if s.status == SubmissionSpam {
		s.spam = r
	}
	return s
}

// Get returns the first value of a field, "" when it has none.
func (s Submission) Get(field string) string {
	for _, v := range s.values {
		if v.Field == field && len(v.Values) > 0 {
			return v.Values[0]
		}
	}
	return ""
}

// SetStatus files the submission. Spam leaves spam only through NotSpam,
// which also queues the mail the spam filter held back; filing it as
// anything else here would leave that mail unsent. A submission filed as
// spam here is spam by SpamManual; spam filed as spam again keeps its
// reason.
func (s *Submission) SetStatus(to SubmissionStatus, now time.Time) error {
	if s.status == SubmissionSpam && to != SubmissionSpam {
		return E(KindConflict, "submission_is_spam", "Spam cannot change status: mark it not spam instead.")
	}
	if s.status != SubmissionSpam && to == SubmissionSpam {
		s.spam = SpamReason{Cause: SpamManual}
	}
	s.status, s.updatedAt = to, Timestamp(now)
	return nil
}

// ErrNotSpam is NotSpam's answer for a submission that is not spam.
var ErrNotSpam = E(KindConflict, "submission_not_spam", "The submission is not spam.")

// NotSpam files spam as to (new or read): the spam filter, or whoever
// marked it, was wrong. It returns whether the submission's mail had been
// held back on arrival, in which case the caller queues it, as Submit
// would have; the submission holds none afterwards, so its mail is queued
// once however often it goes to spam and back. A submission that is not
// spam returns ErrNotSpam.
func (s *Submission) NotSpam(to SubmissionStatus, now time.Time) (held bool, err error) {
	if s.status != SubmissionSpam {
		return false, ErrNotSpam
	}
	if to != SubmissionNew && to != SubmissionRead {
		return false, Invalid(FieldError{"status", "unknown_value", "A submission that is not spam becomes new or read."})
	}
	held = s.mailHeld
	s.status, s.mailHeld, s.spam, s.updatedAt = to, false, SpamReason{}, Timestamp(now)
	return held, nil
}

// Redirect URL helpers for the browser flow.

// ErrorRedirect returns the form's error redirect with the error code and
// the names of the fields at fault, or "" when none is configured.
func (f Form) ErrorRedirect(code string, fields []string) string {
	if f.def.Redirects.Error == "" {
		return ""
	}
	u, err := url.Parse(f.def.Redirects.Error)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("error", code)
	if len(fields) > 0 {
		q.Set("fields", strings.Join(fields, ","))
	}
	u.RawQuery = q.Encode()
	return u.String()
}
