package httpapi

import (
	"bufio"
	"encoding/csv"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/domain"
)

// exportFlushEvery is how many rows an export writes between flushes: the
// client sees progress and the server holds little, without a syscall per
// row.
const exportFlushEvery = 100

// multiselectSeparator joins a multiselect's options in one CSV cell.
const multiselectSeparator = "; "

var errExportFormat = domain.Invalid(domain.FieldError{Field: "format", Code: "unknown_value", Message: "Use csv or jsonl."})

// rowWriter writes one export format: a header once the form is known,
// then a row per submission.
type rowWriter interface {
	header(f domain.Form) error
	row(s domain.Submission) error
	flush() error
}

// exportSubmissions streams a form's submissions as CSV or JSON Lines.
// Errors before the first byte (permission, unknown form, bad format) are
// problems as usual; an error after it cannot change the status already
// sent, so it is logged and the connection dropped, which the client sees
// as a truncated download rather than a complete-looking one.
func (h formRoutes) exportSubmissions(c *gin.Context) {
	format := c.DefaultQuery("format", "csv")
	if format != "csv" && format != "jsonl" {
		fail(c, errExportFormat)
		return
	}
	var w rowWriter
	rows := 0
	start := func(f domain.Form) error {
		ext, ct := "csv", "text/csv; charset=utf-8"
		if format == "jsonl" {
			ext, ct = "jsonl", "application/x-ndjson"
		}
		c.Header("Content-Type", ct)
		c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{
			"filename": string(f.ID()) + "-submissions." + ext,
		}))
		c.Header("Cache-Control", "no-store")
		c.Header("X-Content-Type-Options", "nosniff")
		c.Status(http.StatusOK)
		// An export is read later than a page of the API: its files'
		// links last forms.ExportFileLinkTTL.
		link := h.fileLink(forms.ExportFileLinkTTL)
		if format == "jsonl" {
			w = newJSONLWriter(c.Writer, f, link)
		} else {
			w = newCSVWriter(c.Writer, link)
		}
		if err := w.header(f); err != nil {
			return err
		}
		return w.flush()
	}
	write := func(s domain.Submission) error {
		if err := w.row(s); err != nil {
			return err
		}
		if rows++; rows%exportFlushEvery == 0 {
			return w.flush()
		}
		return nil
	}
	err := h.forms.ExportSubmissions(c.Request.Context(), principal(c), c.Param("ws"), domain.FormID(c.Param("form")), start, write)
	if err == nil && w != nil {
		err = w.flush()
	}
	if err == nil {
		return
	}
	if w == nil { // nothing written: a problem can still say why
		fail(c, err)
		return
	}
	level := h.log.ErrorContext
	if c.Request.Context().Err() != nil { // the client left; not our fault
		level = h.log.WarnContext
	}
	level(c.Request.Context(), "export aborted after the first byte",
		"route", c.FullPath(), "form", c.Param("form"), "rows", rows, "err", err)
	panic(http.ErrAbortHandler) // recovery passes it on; net/http drops the connection
}

// csvWriter writes a header of id, created_at, status and one column per
// form field in form order, then a row per submission.
type csvWriter struct {
	link   func(domain.SubmissionFile) string
	out    http.Flusher
	csv    *csv.Writer
	fields []string
	cells  []string
}

func newCSVWriter(w gin.ResponseWriter, link func(domain.SubmissionFile) string) *csvWriter {
	return &csvWriter{out: w, csv: csv.NewWriter(w), link: link}
}

func (w *csvWriter) header(f domain.Form) error {
	head := []string{"id", "created_at", "status"}
	for _, fd := range f.Fields() {
		w.fields = append(w.fields, fd.Name)
		head = append(head, fd.Name)
	}
	return w.write(head)
}

func (w *csvWriter) row(s domain.Submission) error {
	byField := make(map[string][]string, len(w.fields))
	for _, v := range s.Values() {
		byField[v.Field] = v.Values
		if len(v.Files) > 0 {
			// A file field's cell names each file with its link.
			named := make([]string, len(v.Files))
			for i, f := range v.Files {
				named[i] = f.Name + " <" + w.link(f) + ">"
			}
			byField[v.Field] = named
		}
	}
	cells := append(w.cells[:0], string(s.ID()), domain.Stamp{Time: s.CreatedAt()}.String(), s.Status().String())
	for _, name := range w.fields {
		cells = append(cells, strings.Join(byField[name], multiselectSeparator))
	}
	w.cells = cells
	return w.write(cells)
}

func (w *csvWriter) write(cells []string) error {
	for i, cell := range cells {
		cells[i] = domain.SpreadsheetCell(cell)
	}
	return w.csv.Write(cells)
}

func (w *csvWriter) flush() error {
	w.csv.Flush()
	if err := w.csv.Error(); err != nil {
		return err
	}
	w.out.Flush()
	return nil
}

// jsonlWriter writes one submission object per line, the same shape as
// GET /submissions/{id}, multiselects always as arrays; it has no header.
type jsonlWriter struct {
	out   http.Flusher
	buf   *bufio.Writer
	multi func(domain.Value) bool
	link  func(domain.SubmissionFile) string
}

func newJSONLWriter(w gin.ResponseWriter, f domain.Form, link func(domain.SubmissionFile) string) *jsonlWriter {
	return &jsonlWriter{out: w, buf: bufio.NewWriter(w), multi: multiselectOf(f), link: link}
}

func (w *jsonlWriter) header(domain.Form) error { return nil }

func (w *jsonlWriter) row(s domain.Submission) error {
	return encodeJSON(w.buf, toSubmissionResponse(s, w.multi, w.link)) // Encode ends each value with "\n"
}

func (w *jsonlWriter) flush() error {
	if err := w.buf.Flush(); err != nil {
		return err
	}
	w.out.Flush()
	return nil
}

var (
	_ rowWriter = (*csvWriter)(nil)
	_ rowWriter = (*jsonlWriter)(nil)
)
