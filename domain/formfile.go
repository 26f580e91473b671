package domain

import (
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of file fields. A form's file fields together may take at most
// MaxFormFileBytes (max_files times max_file_size, summed), which bounds
// one submission's upload whatever its fields say.
const (
	DefaultMaxFileSize   = 10 << 20
	MaxFileSizeLimit     = 25 << 20
	MaxFilesPerField     = 10
	MaxFormFileBytes     = 50 << 20
	MaxFileNameBytes     = 200
	defaultFilesPerField = 1
)

// FileKinds are the kinds of file a file field may accept; Keel tells
// them from the file's first bytes, never from the name or the type the
// client sent (see forms.sniffFile): image (JPEG, PNG, GIF, WebP), pdf,
// text (UTF-8 plain text, not HTML) and office (Word, Excel, PowerPoint
// and OpenDocument files).
var FileKinds = []string{"image", "pdf", "text", "office"}

// SubmissionFile is one file a visitor sent in a file field: its name
// (sanitised), the content type Keel sniffed, its size and the key of its
// blob in the blob store.
type SubmissionFile struct {
	Name        string
	ContentType string
	Size        int64
	Key         string
}

// FileCount is how many files the field takes: 0 for a field that is not
// a file field.
func (fd Field) FileCount() int {
	switch {
	case fd.Type != FieldFile:
		return 0
	case fd.MaxFiles == 0:
		return defaultFilesPerField
	}
	return fd.MaxFiles
}

// FileSize is the most bytes one file of the field may hold.
func (fd Field) FileSize() int64 {
	switch {
	case fd.Type != FieldFile:
		return 0
	case fd.MaxFileSize == 0:
		return DefaultMaxFileSize
	}
	return fd.MaxFileSize
}

// AcceptsKind reports whether the file field takes files of kind.
func (fd Field) AcceptsKind(kind string) bool {
	return fd.Type == FieldFile && (len(fd.Accept) == 0 || slices.Contains(fd.Accept, kind))
}

func (fd Field) checkFileLimits(p string) []FieldError {
	var errs []FieldError
	bad := func(field, code, msg string) { errs = append(errs, FieldError{p + "." + field, code, msg}) }
	if fd.Type != FieldFile {
		if fd.MaxFiles != 0 || fd.MaxFileSize != 0 || len(fd.Accept) > 0 {
			bad("max_files", "not_allowed", "Only file fields take max_files, max_file_size and accept.")
		}
		return errs
	}
	if fd.MaxFiles < 0 || fd.MaxFiles > MaxFilesPerField {
		bad("max_files", "out_of_range", "Use 1 to "+strconv.Itoa(MaxFilesPerField)+".")
	}
	if fd.MaxFileSize < 0 || fd.MaxFileSize > MaxFileSizeLimit {
		bad("max_file_size", "out_of_range", "Use 1 to "+strconv.Itoa(MaxFileSizeLimit)+" bytes.")
	}
	if len(fd.Accept) > len(FileKinds) {
		bad("accept", "count", "Name each kind once.")
	}
	for i, k := range fd.Accept {
		if !slices.Contains(FileKinds, k) || slices.Index(fd.Accept, k) != i {
			bad("accept["+strconv.Itoa(i)+"]", "unknown_value", "Use image, pdf, text or office, each once.")
		}
	}
	if fd.MinLength != nil || fd.MaxLength != nil || fd.Min != nil || fd.Max != nil || fd.Pattern != "" {
		bad("type", "not_allowed", "A file field takes no length, range or pattern.")
	}
	return errs
}

// FileError is the validation error of a file the field refuses, named
// by the field.
func (fd Field) FileError(code, msg string) error {
	return Invalid(FieldError{fd.Name, code, msg})
}

// FileField returns the form's file field name; ok is false when the
// form has no field of that name or it is not a file field.
func (f Form) FileField(name string) (_ Field, ok bool) {
	i := slices.IndexFunc(f.def.Fields, func(fd Field) bool { return fd.Name == name })
	if i < 0 || f.def.Fields[i].Type != FieldFile {
		return Field{}, false
	}
	return f.def.Fields[i], true
}

// SanitizeFileName makes the name a visitor's browser sent for a file
// safe to show, store and put in a Content-Disposition header: the last
// path element only, valid UTF-8, no control or quoting characters, at
// most MaxFileNameBytes (the extension kept), and "file" when nothing is
// left.
func SanitizeFileName(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), strings.ContainsRune(" .-_()+,", r):
			return r
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			return -1
		}
		return '_'
	}, name)
	name = strings.Trim(name, " .")
	if len(name) > MaxFileNameBytes {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		stem := TruncateUTF8(strings.TrimSuffix(name, ext), MaxFileNameBytes-len(ext))
		name = stem + ext
	}
	if name == "" || !utf8.ValidString(name) {
		return "file"
	}
	return name
}

// FormatBytes writes n as people read it: 10 MB, 512 KB, 300 bytes.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// HasFileFields reports whether the form has a file field.
func (f Form) HasFileFields() bool {
	return slices.ContainsFunc(f.def.Fields, func(fd Field) bool { return fd.Type == FieldFile })
}
