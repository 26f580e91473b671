package siteimport

import (
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Keel stores an entry's body as Markdown, which its editors write and
// its renderer sanitises. Exports hold HTML, so an import converts it:
// what Markdown says (paragraphs, headings, emphasis, links, images,
// lists, quotes, code, rules) becomes Markdown an editor can go on
// writing; tables and definition lists stay HTML inside the Markdown,
// which the renderer passes through its sanitiser as it does any inline
// HTML; what the sanitiser would drop anyway (scripts, embeds, forms) is
// left out and reported.

// maxDepth bounds the nesting the converter follows: deeper content is
// kept as its text, so a hostile body cannot make the recursion deep.
const maxDepth = 100

// toMarkdown converts an HTML fragment to Markdown and names the elements
// it left out, once each.
func toMarkdown(src string) (md string, dropped []string) {
	nodes, err := html.ParseFragment(strings.NewReader(src), &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body})
	if err != nil { // only a failing reader errs; a string reader does not
		return src, nil
	}
	c := &converter{}
	root := &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body}
	for _, n := range nodes {
		root.AppendChild(n)
	}
	out := c.blocks(root, 0)
	return strings.Join(out, "\n\n") + "\n", c.dropped
}

type converter struct {
	dropped []string
}

func (c *converter) drop(name string) {
	for _, d := range c.dropped {
		if d == name {
			return
		}
	}
	c.dropped = append(c.dropped, name)
}

// removed are the elements left out with their content: the sanitiser
// would drop them, and their text is not part of the post.
var removed = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true, atom.Iframe: true,
	atom.Embed: true, atom.Object: true, atom.Video: true, atom.Audio: true, atom.Form: true,
	atom.Input: true, atom.Button: true, atom.Select: true, atom.Textarea: true, atom.Canvas: true,
	atom.Svg: true, atom.Math: true, atom.Head: true, atom.Title: true, atom.Link: true, atom.Meta: true,
}

// kept are the elements Markdown has no syntax for, kept as HTML.
var kept = map[atom.Atom]bool{atom.Table: true, atom.Dl: true, atom.Details: true}

// containers hold blocks and add nothing of their own.
var containers = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Header: true, atom.Footer: true,
	atom.Main: true, atom.Figure: true, atom.Figcaption: true, atom.Center: true, atom.Aside: true, atom.Nav: true,
	atom.Body: true, atom.Html: true, atom.Address: true, atom.Hgroup: true,
}

func isBlock(n *html.Node) bool {
	if n.Type != html.ElementNode {
		return false
	}
	switch n.DataAtom {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Ul, atom.Ol, atom.Blockquote, atom.Pre, atom.Hr, atom.Li:
		return true
	}
	return containers[n.DataAtom] || kept[n.DataAtom] || removed[n.DataAtom]
}

// blocks converts n's children to Markdown blocks.
func (c *converter) blocks(n *html.Node, depth int) []string {
	var out []string
	var para strings.Builder
	flush := func() {
		if p := strings.TrimSpace(para.String()); p != "" {
			out = append(out, escapeLineStarts(p))
		}
		para.Reset()
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		if !isBlock(ch) || depth > maxDepth {
			para.WriteString(c.inline(ch, depth+1))
			continue
		}
		flush()
		out = append(out, c.block(ch, depth+1)...)
	}
	flush()
	return out
}

// block converts one block element.
func (c *converter) block(n *html.Node, depth int) []string {
	switch a := n.DataAtom; {
	case removed[a]:
		c.drop("<" + n.Data + ">")
		return nil
	case kept[a]:
		var b strings.Builder
		if err := html.Render(&b, n); err != nil {
			return nil
		}
		// A blank line would end Markdown's HTML block early.
		return []string{blankLines.ReplaceAllString(b.String(), "\n")}
	case containers[a]:
		return c.blocks(n, depth)
	case a == atom.Hr:
		return []string{"---"}
	case a == atom.Pre:
		return []string{fence(n)}
	case a == atom.Blockquote:
		inner := strings.Join(c.blocks(n, depth), "\n\n")
		if inner == "" {
			return nil
		}
		return []string{prefixLines(inner, "> ", "> ")}
	case a == atom.Ul || a == atom.Ol:
		return c.list(n, depth)
	case a == atom.Li: // outside a list
		return c.blocks(n, depth)
	default: // headings
		level := int(n.Data[1] - '0')
		text := strings.TrimSpace(oneLine(c.inlineChildren(n, depth)))
		if text == "" {
			return nil
		}
		return []string{strings.Repeat("#", level) + " " + text}
	}
}

// list converts a ul or ol: tight when every item is one paragraph.
func (c *converter) list(n *html.Node, depth int) []string {
	num := 1
	if v, err := strconv.Atoi(attr(n, "start")); err == nil && v >= 0 && v < 1_000_000_000 {
		num = v
	}
	var items []string
	loose := false
	for li := n.FirstChild; li != nil; li = li.NextSibling {
		if li.Type == html.TextNode && strings.TrimSpace(li.Data) == "" {
			continue
		}
		var blocks []string
		if li.Type == html.ElementNode && li.DataAtom == atom.Li {
			blocks = c.blocks(li, depth+1)
		} else {
			blocks = c.blocks(&html.Node{Type: html.ElementNode, DataAtom: atom.Div, Data: "div", FirstChild: li, LastChild: li}, depth+1)
		}
		if len(blocks) > 1 {
			loose = true
		}
		marker := "- "
		if n.DataAtom == atom.Ol {
			marker = strconv.Itoa(num) + ". "
			num++
		}
		inner := strings.Join(blocks, "\n\n")
		items = append(items, prefixLines(inner, marker, strings.Repeat(" ", len(marker))))
	}
	if len(items) == 0 {
		return nil
	}
	sep := "\n"
	if loose {
		sep = "\n\n"
	}
	return []string{strings.Join(items, sep)}
}

func (c *converter) inlineChildren(n *html.Node, depth int) string {
	var b strings.Builder
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		b.WriteString(c.inline(ch, depth+1))
	}
	return b.String()
}

// inline converts an inline node. Block elements met here (inside a
// link, say) give their text.
func (c *converter) inline(n *html.Node, depth int) string {
	switch n.Type {
	case html.TextNode:
		return escapeText(collapseSpace(n.Data))
	case html.ElementNode:
	default: // comments (WordPress's block markers), doctypes
		return ""
	}
	if removed[n.DataAtom] {
		c.drop("<" + n.Data + ">")
		return ""
	}
	if depth > maxDepth {
		return escapeText(collapseSpace(textOf(n)))
	}
	switch n.DataAtom {
	case atom.Br:
		return "\\\n"
	case atom.Strong, atom.B:
		return wrap(c.inlineChildren(n, depth), "**")
	case atom.Em, atom.I, atom.Cite:
		return wrap(c.inlineChildren(n, depth), "*")
	case atom.Del, atom.S, atom.Strike:
		return wrap(c.inlineChildren(n, depth), "~~")
	case atom.Code, atom.Kbd, atom.Samp, atom.Tt:
		return codeSpan(textOf(n))
	case atom.A:
		text := c.inlineChildren(n, depth)
		href := strings.TrimSpace(attr(n, "href"))
		if href == "" || strings.TrimSpace(text) == "" {
			return text
		}
		return "[" + strings.TrimSpace(text) + "](" + destination(href) + title(attr(n, "title")) + ")"
	case atom.Img:
		src := strings.TrimSpace(attr(n, "src"))
		if src == "" {
			return ""
		}
		return "![" + escapeText(collapseSpace(attr(n, "alt"))) + "](" + destination(src) + title(attr(n, "title")) + ")"
	}
	if isBlock(n) {
		return " " + c.inlineChildren(n, depth) + " "
	}
	return c.inlineChildren(n, depth) // span, u, sup, font...: their content
}

var (
	blankLines = regexp.MustCompile(`\n[ \t]*\n+`)
	// lineStart matches what would begin a list, heading, quote or rule
	// at the start of a line of plain text.
	lineStart = regexp.MustCompile(`^(\s*)([-+=]|\d{1,9}[.)])(\s|$)`)
)

// collapseSpace makes each run of HTML white space one space, as a
// browser shows it. A loop, not a regular expression: it ran for every
// text node and took a tenth of an import's CPU.
func collapseSpace(s string) string {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
	clean := true
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) && (s[i] != ' ' || (i+1 < len(s) && isSpace(s[i+1]))) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			b.WriteByte(s[i])
			continue
		}
		b.WriteByte(' ')
		for i+1 < len(s) && isSpace(s[i+1]) {
			i++
		}
	}
	return b.String()
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\\\n", " ") }

var textEscaper = strings.NewReplacer(`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`,
	`<`, `\<`, `>`, `\>`, `#`, `\#`, `!`, `\!`, `|`, `\|`, `~`, `\~`, `&`, `\&`)

func escapeText(s string) string { return textEscaper.Replace(s) }

// escapeLineStarts escapes what would make a paragraph's line a list
// item or a rule.
func escapeLineStarts(p string) string {
	lines := strings.Split(p, "\n")
	for i, l := range lines {
		lines[i] = lineStart.ReplaceAllStringFunc(l, func(m string) string {
			sub := lineStart.FindStringSubmatch(m)
			mark := sub[2]
			if last := mark[len(mark)-1]; last == '.' || last == ')' {
				mark = mark[:len(mark)-1] + `\` + string(last)
			} else {
				mark = `\` + mark
			}
			return sub[1] + mark + sub[3]
		})
		lines[i] = strings.TrimLeft(lines[i], " ")
	}
	return strings.Join(lines, "\n")
}

// wrap puts delimiters around text, outside its surrounding spaces,
// which would otherwise stop them from counting as emphasis.
func wrap(text, delim string) string {
	t := strings.TrimSpace(text)
	if t == "" {
		return text
	}
	lead := text[:len(text)-len(strings.TrimLeft(text, " "))]
	trail := text[len(strings.TrimRight(text, " ")):]
	return lead + delim + t + delim + trail
}

func codeSpan(s string) string {
	s = collapseSpace(s)
	if strings.TrimSpace(s) == "" {
		return ""
	}
	ticks := "`"
	for strings.Contains(s, ticks) {
		ticks += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return ticks + s + ticks
}

// fence is a pre element as a fenced code block, its language from a
// "language-x" class on it or its code element.
func fence(n *html.Node) string {
	text := textOf(n)
	text = strings.TrimSuffix(strings.TrimPrefix(text, "\n"), "\n")
	lang := ""
	for _, el := range []*html.Node{n, n.FirstChild} {
		if el == nil || el.Type != html.ElementNode {
			continue
		}
		for _, cl := range strings.Fields(attr(el, "class")) {
			if l, ok := strings.CutPrefix(cl, "language-"); ok && !strings.ContainsAny(l, "`~") {
				lang = l
			}
		}
	}
	ticks := "```"
	for strings.Contains(text, ticks) {
		ticks += "`"
	}
	return ticks + lang + "\n" + text + "\n" + ticks
}

func textOf(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	var walk func(*html.Node, int)
	walk = func(n *html.Node, depth int) {
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			switch {
			case ch.Type == html.TextNode:
				b.WriteString(ch.Data)
			case ch.Type == html.ElementNode && ch.DataAtom == atom.Br:
				b.WriteString("\n")
			case ch.Type == html.ElementNode && depth < maxDepth*10:
				walk(ch, depth+1)
			}
		}
	}
	walk(n, 0)
	return b.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key && a.Namespace == "" {
			return a.Val
		}
	}
	return ""
}

// destination writes a link's URL, in angle brackets when it holds what
// would end it.
func destination(u string) string {
	if strings.ContainsAny(u, " ()<>\n") {
		return "<" + strings.NewReplacer("<", "%3C", ">", "%3E", "\n", "").Replace(u) + ">"
	}
	return u
}

func title(t string) string {
	t = strings.TrimSpace(collapseSpace(t))
	if t == "" {
		return ""
	}
	return ` "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(t) + `"`
}

// prefixLines puts first before the first line of s and rest before the
// others (blank lines get rest without its trailing spaces).
func prefixLines(s, first, rest string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		p := rest
		if i == 0 {
			p = first
		}
		if l == "" {
			p = strings.TrimRight(p, " ")
		}
		lines[i] = p + l
	}
	return strings.Join(lines, "\n")
}
