// Package markdown implements ports.Renderer: GitHub Flavored Markdown
// (tables, strikethrough, autolinks, task lists) turned into HTML by
// goldmark, then sanitised by bluemonday, and the plain text of that HTML.
//
// # Why raw HTML is on
//
// goldmark runs with html.WithUnsafe, so authors may write inline HTML such
// as <em>, <sub> or <details>. That is safe only because every byte goldmark
// writes goes through the bluemonday policy afterwards, which keeps a fixed
// list of elements and attributes and only http, https, mailto and
// relative URLs: scripts, event handlers, styles, frames, forms and
// javascript:, vbscript: and data: URLs never reach the output. goldmark's
// own safe mode would have replaced all raw HTML, harmless tags included,
// with a comment.
//
// # Limits
//
// goldmark's work grows with the square of some counts a crafted body
// controls (nested block quotes, unclosed links, unmatched emphasis...).
// limits.go bounds each of them, so rendering stays linear in the body's
// size; past a limit, markers are text.
package markdown

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"
	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var _ ports.Renderer = (*Renderer)(nil)

// Renderer renders Markdown to sanitised HTML and plain text. It is safe
// for concurrent use: goldmark and a configured bluemonday policy keep no
// state between calls, so one Renderer serves the whole process.
type Renderer struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// New returns a Renderer. Its configuration is fixed: the same Markdown
// always renders to the same HTML, which the stored entries and the
// public API's ETags rely on.
func New() *Renderer {
	md := goldmark.New(
		// goldmark's parser and extensions with the limits of limits.go.
		goldmark.WithParser(newParser()),
		goldmark.WithExtensions(
			extension.Linkify,
			// Alignment as an align attribute, which the policy keeps; the
			// default style attribute would be stripped.
			limitedTable{extension.WithTableCellAlignMethod(extension.TableCellAlignAttribute)},
			limitedStrikethrough{},
			extension.TaskList,
		),
		// No auto heading IDs, attributes or footnotes: generated ids can
		// collide with the ids of the page the front end embeds the body in.
		goldmark.WithRendererOptions(html.WithUnsafe()),
	)
	return &Renderer{md: md, policy: newPolicy()}
}

// newPolicy is bluemonday's UGC policy with four changes.
func newPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	// An ordered list may start at any number ("3. three"); the UGC
	// policy forgets the attribute that says so.
	p.AllowAttrs("start").Matching(bluemonday.Integer).OnElements("ol")
	// Code fences carry their language as a class, which syntax
	// highlighters read; no other class is kept, so authors cannot borrow
	// the site's own styles.
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^language-[a-zA-Z0-9_+-]+$`)).OnElements("code")
	// Task list items are disabled checkboxes. Only the checkbox type is
	// kept, so raw HTML cannot make a password field or an image button,
	// and no form can be built around it: form, name and formaction go.
	p.AllowAttrs("type").Matching(regexp.MustCompile(`^checkbox$`)).OnElements("input")
	p.AllowAttrs("checked", "disabled").Matching(regexp.MustCompile(`^$`)).OnElements("input")
	// The UGC policy marks every link nofollow, relative ones too, because
	// it expects comments from strangers. Entries are written by the site's
	// own editors, whose links, internal ones above all, should count.
	p.RequireNoFollowOnLinks(false)
	return p
}

// buffers holds the two buffers one Render needs, so a busy server does
// not grow a fresh pair for every body it renders. Pairs grown past
// maxPooled by a rare huge body are left to the garbage collector rather
// than kept for ordinary ones.
var buffers = sync.Pool{New: func() any { return new([2]bytes.Buffer) }}

const maxPooled = 256 << 10

// body is the context the sanitised HTML is parsed in: an entry's body is
// the content of some element inside a page's body.
var body = &xhtml.Node{Type: xhtml.ElementNode, Data: "body", DataAtom: atom.Body}

// Render converts markdown to safe HTML and extracts its text. It never
// fails: every string is valid Markdown, and unsafe HTML is dropped.
//
// The sanitised HTML is parsed once more, as a browser would, and written
// out from that tree. bluemonday filters tokens but does not balance
// them, and an unclosed <a> or <table> from an entry would swallow the
// rest of the page it is embedded in; the tree also gives the text.
func (r *Renderer) Render(markdown string) domain.Rendered {
	bufs := buffers.Get().(*[2]bytes.Buffer)
	defer func() {
		if bufs[0].Cap()+bufs[1].Cap() <= maxPooled {
			buffers.Put(bufs)
		}
	}()
	a, b := &bufs[0], &bufs[1]
	a.Reset()
	b.Reset()

	// Converting and sanitising fail only when reading or writing does,
	// and buffers never report an error.
	_ = r.md.Convert([]byte(markdown), a)
	_ = r.policy.SanitizeReaderToWriter(a, b)
	nodes, err := xhtml.ParseFragment(b, body)
	if err != nil {
		// The parser refuses elements nested more than 512 deep, which no
		// real entry reaches; the author sees the source and can fix it.
		return fallback(markdown)
	}

	a.Reset()
	var t textBuilder
	t.b.Grow(len(markdown) / 2)
	for _, n := range nodes {
		if keep(n) {
			t.node(n)
			_ = xhtml.Render(a, n)
		}
	}
	return domain.Rendered{HTML: a.String(), Text: t.b.String()}
}

// fallback shows markdown as preformatted text, for documents the
// pipeline cannot render. Escaped text is safe and balanced however odd
// the document.
func fallback(markdown string) domain.Rendered {
	return domain.Rendered{
		HTML: "<pre>" + xhtml.EscapeString(markdown) + "</pre>",
		Text: strings.Join(strings.Fields(markdown), " "),
	}
}

// keep reports whether n may stay in the tree, and normalises what it
// keeps. Task list checkboxes are the only inputs the policy lets
// through; an <input> written in raw HTML without type="checkbox" would be
// a text field, so it goes, and every checkbox is disabled so that readers
// cannot tick items of the author's list.
func keep(n *xhtml.Node) bool {
	if n.Type != xhtml.ElementNode || n.DataAtom != atom.Input {
		for c := n.FirstChild; c != nil; {
			next := c.NextSibling
			if !keep(c) {
				n.RemoveChild(c)
			}
			c = next
		}
		return true
	}
	checkbox, checked := false, false
	for _, at := range n.Attr {
		switch at.Key {
		case "type":
			checkbox = strings.EqualFold(at.Val, "checkbox")
		case "checked":
			checked = true
		}
	}
	if !checkbox {
		return false
	}
	n.Attr = append(n.Attr[:0], xhtml.Attribute{Key: "disabled"}, xhtml.Attribute{Key: "type", Val: "checkbox"})
	if checked {
		n.Attr = append([]xhtml.Attribute{{Key: "checked"}}, n.Attr...)
	}
	return true
}

// hidden are elements whose content is never shown as text. The policy
// removes them already; the text does not depend on it.
var hidden = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Template: true, atom.Noscript: true,
	atom.Textarea: true, atom.Title: true, atom.Iframe: true, atom.Object: true,
}

// Separators between pieces of text, weakest first.
const (
	sepNone = iota
	sepSpace
	sepLine
)

// blocks are elements that start a new line of text; cells only a space,
// so a table row reads as one line.
var blocks = map[atom.Atom]int{
	atom.P: sepLine, atom.Div: sepLine, atom.Br: sepLine, atom.Hr: sepLine, atom.Pre: sepLine, atom.Blockquote: sepLine,
	atom.H1: sepLine, atom.H2: sepLine, atom.H3: sepLine, atom.H4: sepLine, atom.H5: sepLine, atom.H6: sepLine,
	atom.Ul: sepLine, atom.Ol: sepLine, atom.Li: sepLine, atom.Dl: sepLine, atom.Dt: sepLine, atom.Dd: sepLine,
	atom.Table: sepLine, atom.Caption: sepLine, atom.Thead: sepLine, atom.Tbody: sepLine, atom.Tfoot: sepLine, atom.Tr: sepLine,
	atom.Td: sepSpace, atom.Th: sepSpace,
	atom.Article: sepLine, atom.Aside: sepLine, atom.Section: sepLine, atom.Details: sepLine, atom.Summary: sepLine,
	atom.Figure: sepLine, atom.Figcaption: sepLine, atom.Hgroup: sepLine,
}

// textBuilder gives the text a reader sees: tags dropped, entities decoded
// (the parser did that), whitespace collapsed, and a line break between
// blocks so that words of adjacent paragraphs do not run together in
// excerpts and the search index. Whitespace is Unicode's, as for
// strings.Fields: &nbsp; padding or a stray vertical tab leaves no odd
// characters between words. It writes a separator only when more
// text follows, so the result has no leading or trailing space and no
// blank lines.
//
// It reads the sanitised tree rather than goldmark's syntax tree because
// that tree is what readers see: goldmark's also holds raw HTML, whose
// text (a script's, say) the sanitiser may have dropped.
type textBuilder struct {
	b   strings.Builder
	sep int // the strongest separator seen since the last word
}

func (t *textBuilder) node(n *xhtml.Node) {
	switch n.Type {
	case xhtml.TextNode:
		t.text(n.Data)
		return
	case xhtml.ElementNode:
		if hidden[n.DataAtom] {
			return
		}
	}
	t.boundary(blocks[n.DataAtom])
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		t.node(c)
	}
	t.boundary(blocks[n.DataAtom])
}

func (t *textBuilder) boundary(sep int) {
	t.sep = max(t.sep, sep)
}

func (t *textBuilder) text(s string) {
	for len(s) > 0 {
		i := strings.IndexFunc(s, unicode.IsSpace)
		if i == 0 {
			t.boundary(sepSpace)
			_, n := utf8.DecodeRuneInString(s)
			s = s[n:]
			continue
		}
		if i < 0 {
			i = len(s)
		}
		if t.b.Len() > 0 {
			switch t.sep {
			case sepSpace:
				t.b.WriteByte(' ')
			case sepLine:
				t.b.WriteByte('\n')
			}
		}
		t.sep = sepNone
		t.b.WriteString(s[:i])
		s = s[i:]
	}
}
