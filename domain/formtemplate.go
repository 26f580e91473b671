package domain

import (
	"errors"
	htmltemplate "html/template"
	"io"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"unicode/utf8"
)

// A form's mail templates keep Go's template syntax, but only as a
// substitution language: text, and references to the submission. Nothing
// may loop, branch, call a function, declare a variable or define a
// template, so running one is a single pass that writes each referenced
// value once: its cost is linear in the template and the values it names,
// whatever its author writes. The output is capped as well, so that a small
// submission cannot become a large e-mail.

// Limits on mail templates.
const (
	MaxSubjectTemplateLen = 1000     // bytes of a subject template's source
	MaxBodyTemplateLen    = 32 << 10 // bytes of a body template's source
	MaxTemplateRefs       = 100      // references in one template
	MaxSubjectLen         = 250      // characters of a rendered subject
	MaxBodyLen            = 64 << 10 // bytes of a rendered body; the rest is cut off
	maxSubjectBytes       = MaxSubjectLen * utf8.UTFMax
	templateAllowed       = `Use only text and {{.FormName}}, {{.SubmissionID}}, {{.CreatedAt}}, {{.Fields.name}} or {{index .Fields "name"}}`
	defaultNotifySubject  = "New submission: {{.FormName}}"
)

// mailTemplate is a checked template: a text/template, or an html/template
// for HTML bodies, whose contextual escaping stays.
type mailTemplate struct {
	html bool
	max  int // bytes of output kept
	exec func(w io.Writer, data any) error
}

// parseMailTemplate parses src and checks that it uses only the
// substitution language and stays within maxSrc bytes. It returns the
// problem to show the form's owner when it does not.
func parseMailTemplate(name, src string, html bool, maxSrc, maxOut int) (*mailTemplate, string) {
	if len(src) > maxSrc {
		return nil, "Use at most " + strconv.Itoa(maxSrc) + " bytes."
	}
	var (
		root  *parse.Tree
		count int
		t     = &mailTemplate{html: html, max: maxOut}
	)
	if html {
		ht, err := htmltemplate.New(name).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, "The template does not parse: " + templateProblem(err)
		}
		root, count, t.exec = ht.Tree, len(ht.Templates()), ht.Execute
	} else {
		tt, err := texttemplate.New(name).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, "The template does not parse: " + templateProblem(err)
		}
		root, count, t.exec = tt.Tree, len(tt.Templates()), tt.Execute
	}
	if count > 1 {
		return nil, templateAllowed + `: {{define}} and {{block}} are not allowed.`
	}
	if root != nil {
		refs := 0
		if problem := checkTemplateNodes(root.Root, &refs); problem != "" {
			return nil, templateAllowed + ": " + problem
		}
		if refs > MaxTemplateRefs {
			return nil, "Use at most " + strconv.Itoa(MaxTemplateRefs) + " references in one template."
		}
	}
	return t, ""
}

// checkTemplateNodes reports the first construct of list outside the
// substitution language, counting the references it passes in refs.
func checkTemplateNodes(list *parse.ListNode, refs *int) string {
	if list == nil {
		return ""
	}
	for _, n := range list.Nodes {
		switch n := n.(type) {
		case *parse.TextNode, *parse.CommentNode:
		case *parse.ActionNode:
			if !plainReference(n.Pipe) {
				return quoteConstruct(n.String()) + " is not allowed."
			}
			*refs++
		case *parse.IfNode:
			return "{{if}} is not allowed."
		case *parse.RangeNode:
			return "{{range}} is not allowed."
		case *parse.WithNode:
			return "{{with}} is not allowed."
		case *parse.TemplateNode:
			return "{{template}} and {{block}} are not allowed."
		default:
			return quoteConstruct(n.String()) + " is not allowed."
		}
	}
	return ""
}

// plainReference reports whether p is one reference: .FormName,
// .SubmissionID, .CreatedAt, .Fields.<name> or index .Fields "<name>"
// (for field names that hold - or .), with no variable, pipe or function.
func plainReference(p *parse.PipeNode) bool {
	if p == nil || p.IsAssign || len(p.Decl) > 0 || len(p.Cmds) != 1 {
		return false
	}
	args := p.Cmds[0].Args
	switch len(args) {
	case 1:
		f, ok := args[0].(*parse.FieldNode)
		if !ok {
			return false
		}
		switch len(f.Ident) {
		case 1:
			return f.Ident[0] == "FormName" || f.Ident[0] == "SubmissionID" || f.Ident[0] == "CreatedAt"
		case 2:
			return f.Ident[0] == "Fields"
		}
	case 3:
		fn, ok1 := args[0].(*parse.IdentifierNode)
		m, ok2 := args[1].(*parse.FieldNode)
		_, ok3 := args[2].(*parse.StringNode)
		return ok1 && ok2 && ok3 && fn.Ident == "index" && len(m.Ident) == 1 && m.Ident[0] == "Fields"
	}
	return false
}

// quoteConstruct shows a construct in an error message, shortened: the
// template it comes from may be long.
func quoteConstruct(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		s = TruncateRunes(s, 60) + "…"
	}
	return s
}

// errOutputFull stops a template once its output reached its cap.
var errOutputFull = errors.New("template output limit reached")

// cappedBuffer keeps the first max bytes written to it and then fails
// every write, which makes a running template stop.
type cappedBuffer struct {
	b    []byte
	max  int
	full bool
}

func (w *cappedBuffer) Write(p []byte) (int, error) {
	if room := w.max - len(w.b); len(p) > room {
		w.b = append(w.b, p[:room]...)
		w.full = true
		return room, errOutputFull
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// render runs t on data and returns its output, cut off at t's cap. A cut
// never ends within a character, nor, in HTML, within a tag.
func (t *mailTemplate) render(data any) (string, error) {
	w := &cappedBuffer{max: t.max}
	if err := t.exec(w, data); err != nil && !errors.Is(err, errOutputFull) {
		return "", err
	}
	out := string(w.b)
	if !w.full {
		return out, nil
	}
	out = dropPartialRune(out)
	if t.html {
		if i := strings.LastIndexByte(out, '<'); i >= 0 && !strings.Contains(out[i:], ">") {
			out = out[:i]
		}
	}
	return out, nil
}

// dropPartialRune removes an incomplete character left at the end of s by
// a cut.
func dropPartialRune(s string) string {
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				return s[:i]
			}
			break
		}
	}
	return s
}

// templateProblem shortens a template error for a client: the position
// and the problem, without Go's internal template names.
func templateProblem(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}
