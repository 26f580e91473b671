package markdown

// # Why goldmark runs with limits
//
// Any editor or API key with content:write may submit a body of up to
// domain.MaxBodyBytes, and Render runs inside the create and update use
// cases. goldmark v1.8.7 is linear on ordinary text, but several of its
// algorithms are quadratic in some count a crafted body controls, and a
// single megabyte then ties up a CPU for minutes:
//
//   - Container blocks. text.Reader.LineOffset counts a line's columns from
//     its start again after every advance, and the parser asks for it once
//     for every block quote or list item it opens or continues on a line:
//     "> " repeated 200,000 times took 54 s, "- " (then a letter) longer.
//   - Link labels. Every "]" that closes a label copies the label's text
//     (reader.Value) and walks its nodes (containsLink), so nested
//     brackets cost the square of their depth; blockReader.Value also
//     walks back over every line after the label, so one bracket per line
//     in a long paragraph is quadratic in its lines; and a "](" whose
//     destination fails scans to the end of its line each time ("[a](" ×
//     200,000: 4.5 min).
//   - Emphasis. ProcessDelimiters looks for each closer's opener by
//     walking back over every delimiter still open, with no "openers
//     bottom", so closers that match nothing ("**_* " repeated) are
//     quadratic; and each link that contains a delimiter walks the
//     paragraph's nodes back to where the link's label began.
//   - Code spans. A backtick run that no later run of the same length
//     closes scans to the end of the paragraph, once per such run.
//   - Link reference definitions. Each definition in a paragraph reads the
//     lines after it again (reader.Value and the bookkeeping that removes
//     its lines), so a paragraph of definitions is quadratic in its lines.
//   - Tables. Every body row is padded to the header's width, so a wide
//     header over many one-cell rows allocates width × rows cells (16 KB
//     took 18 s and gigabytes), and cells whose code spans hold escaped
//     pipes are revisited once per other such cell.
//
// The guards below bound each of these where goldmark makes the decision,
// by wrapping the parser that makes it: a marker past a limit is left as
// literal text, exactly as if it had been escaped with a backslash, and
// everything below the limits parses as goldmark alone would. Rewriting the
// Markdown beforehand would have to guess goldmark's view of it (what is a
// paragraph, which brackets sit in code spans or raw HTML), and a wrong
// guess either changes an ordinary document or lets a crafted one through.
//
// The limits are far above anything written by hand; TestLimitsKeepDocuments
// checks that ordinary documents render exactly as goldmark renders them.

import (
	"bytes"
	"regexp"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

const (
	// maxNesting is how many block quotes and list items may contain one
	// another. A container past it is not opened, and its marker stays in
	// the text. Each level costs every line inside it a scan of the line's
	// prefix; at 32 that is a few dozen bytes read per byte of input.
	// Browsers indent each level, so real documents stop at four or five.
	maxNesting = 32

	// maxLabelNesting is how many link labels ("[" and "![") may be open
	// at once in one paragraph; a further "[" is text. Each character is
	// copied and walked once per open label around it when the labels
	// close. Real text nests brackets two or three deep.
	maxLabelNesting = 32

	// inlineBudgetPerByte is the work a paragraph (or heading, or table
	// cell) may cost in the places above where the cost depends on more
	// than the text itself, per byte of its text, in units of about a
	// nanosecond on the machine of BENCHMARKS.md (see costLine and the
	// others). inlineBudgetPool is more work, shared by a document's
	// paragraphs, for the one that needs it: a long paragraph of links with
	// emphasis in their text, which goldmark walks again for every link,
	// needs a few milliseconds. Once a paragraph has spent its budget and
	// the pool, its remaining "[" and emphasis markers are text; so a
	// document adds at most about 100 ms per megabyte to what goldmark
	// spends anyway. Ordinary paragraphs spend a few units per byte.
	inlineBudgetPerByte = 64
	inlineBudgetPool    = 1 << 25

	// What a step of that work costs, measured: a line walked back by
	// blockReader.Value (a loop over an array), a byte scanned by a
	// destination that fails, a node walked by ProcessDelimiters or
	// ClearDelimiters (a pointer followed), a delimiter visited by
	// ProcessDelimiters (a pointer followed, an interface called).
	costLine  = 1
	costByte  = 3
	costNode  = 16
	costDelim = 16

	// refDefWindow is how many lines of a paragraph goldmark's link
	// reference definition parser is shown at a time. It walks all the
	// lines after a definition for every definition, so a paragraph of n
	// definitions costs n²; shown windows of this many lines, it costs
	// n × refDefWindow. A window ends before a line that starts with "[",
	// where one definition ends and the next begins, so definitions that
	// each fit on a few lines parse exactly as they would whole.
	refDefWindow = 128

	// tableCellSlack bounds a table's cells: goldmark pads every row to the
	// header's width, so a table may make more cells than it has bytes
	// only by this many. A table over it stays a paragraph. An ordinary
	// table has no more cells than bytes: each one is written with a "|".
	tableCellSlack = 1024

	// maxEscapedPipes bounds, per document, the "\|" in table rows that
	// hold code spans. goldmark splits such code spans at each of them,
	// looking at every one for every text node it visits, so their cost
	// is the square of their number. A table that would pass it stays a
	// paragraph.
	maxEscapedPipes = 1024
)

// newParser is goldmark's default parser with the guards around the
// parsers that need them; limitedTable and limitedStrikethrough guard the
// extensions'.
func newParser() parser.Parser {
	blocks := parser.DefaultBlockParsers()
	for i, v := range blocks {
		switch v.Value {
		case parser.NewBlockquoteParser():
			blocks[i].Value = quoteLimit{parser.NewBlockquoteParser()}
		case parser.NewListParser():
			blocks[i].Value = listLimit{parser.NewListParser()}
		}
	}
	inlines := parser.DefaultInlineParsers()
	for i, v := range inlines {
		switch v.Value {
		case parser.NewCodeSpanParser():
			inlines[i].Value = codeSpanLimit{parser.NewCodeSpanParser()}
		case parser.NewLinkParser():
			inlines[i].Value = linkLimit{parser.NewLinkParser()}
		case parser.NewEmphasisParser():
			inlines[i].Value = delimiterLimit{parser.NewEmphasisParser()}
		}
	}
	paragraphs := parser.DefaultParagraphTransformers()
	for i, v := range paragraphs {
		if v.Value == parser.LinkReferenceParagraphTransformer {
			paragraphs[i].Value = refDefLimit{parser.LinkReferenceParagraphTransformer}
		}
	}
	return parser.NewParser(
		parser.WithBlockParsers(blocks...),
		parser.WithInlineParsers(inlines...),
		parser.WithParagraphTransformers(paragraphs...),
	)
}

// limitedTable is extension.Table with its paragraph transformer guarded.
type limitedTable struct{ option extension.TableOption }

func (e limitedTable) Extend(m goldmark.Markdown) {
	m.Parser().AddOptions(
		parser.WithParagraphTransformers(util.Prioritized(tableLimit{extension.NewTableParagraphTransformer()}, 200)),
		parser.WithASTTransformers(util.Prioritized(extension.NewTableASTTransformer(), 0)),
	)
	m.Renderer().AddOptions(renderer.WithNodeRenderers(util.Prioritized(extension.NewTableHTMLRenderer(e.option), 500)))
}

// limitedStrikethrough is extension.Strikethrough with its "~" delimiters
// counted against the paragraph's budget like emphasis.
type limitedStrikethrough struct{}

func (limitedStrikethrough) Extend(m goldmark.Markdown) {
	m.Parser().AddOptions(parser.WithInlineParsers(util.Prioritized(delimiterLimit{extension.NewStrikethroughParser()}, 500)))
	m.Renderer().AddOptions(renderer.WithNodeRenderers(util.Prioritized(extension.NewStrikethroughHTMLRenderer(), 500)))
}

// limitedKey is set in a parse's context when a guard made goldmark parse
// the document differently from how it would alone: the tests compare
// every other document with goldmark's own rendering.
var limitedKey = parser.NewContextKey()

func limited(pc parser.Context) { pc.Set(limitedKey, true) }

// containers counts the block quotes and list items n is, or is inside.
func containers(n ast.Node) int {
	d := 0
	for ; n != nil; n = n.Parent() {
		switch n.Kind() {
		case ast.KindBlockquote, ast.KindListItem:
			d++
		}
	}
	return d
}

// quoteLimit opens no block quote inside maxNesting containers. It decides
// before goldmark's parser, which advances the reader as it opens.
type quoteLimit struct{ parser.BlockParser }

func (p quoteLimit) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	if containers(parent) >= maxNesting {
		limited(pc)
		return nil, parser.NoChildren
	}
	return p.BlockParser.Open(parent, reader, pc)
}

// listLimit opens no list inside maxNesting containers. It decides after
// goldmark's parser, which reads its state from the context whether or
// not it opens a list and does not advance the reader.
type listLimit struct{ parser.BlockParser }

func (p listLimit) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	n, state := p.BlockParser.Open(parent, reader, pc)
	if n != nil && containers(parent) >= maxNesting {
		limited(pc)
		return nil, parser.NoChildren
	}
	return n, state
}

// refDefLimit shows goldmark's link reference definition parser a long
// paragraph refDefWindow lines at a time (see refDefWindow).
type refDefLimit struct{ parser.ParagraphTransformer }

func (t refDefLimit) Transform(node *ast.Paragraph, reader text.Reader, pc parser.Context) {
	lines, src := node.Lines(), reader.Source()
	if lines.Len() <= refDefWindow || !startsDefinition(lines.At(0), src) {
		t.ParagraphTransformer.Transform(node, reader, pc)
		return
	}
	// Definitions come first in a paragraph, one after another; the
	// first line that is not one ends them, and it and the lines after
	// it stay the paragraph.
	all := append([]text.Segment(nil), lines.Sliced(0, lines.Len())...)
	parent := node.Parent()
	start := 0
	for start < len(all) {
		if start > 0 {
			limited(pc)
		}
		end := windowEnd(all, start, src)
		window := ast.NewParagraph()
		window.Lines().AppendAll(all[start:end])
		window.SetBlankPreviousLines(start == 0 && node.HasBlankPreviousLines())
		parent.InsertBefore(parent, node, window)
		t.ParagraphTransformer.Transform(window, reader, pc)
		if window.Parent() == nil { // all definitions
			start = end
			continue
		}
		parent.RemoveChild(parent, window)
		first := window.Lines().At(0).Start
		k := start
		for all[k].Start != first {
			k++
		}
		if k > start && end < len(all) {
			// The definition at k may run past the window: look again
			// with a window that starts there.
			start = k
			continue
		}
		rest := text.NewSegments()
		rest.AppendAll(all[k:])
		node.SetLines(rest)
		return
	}
	parent.RemoveChild(parent, node)
}

// startsDefinition reports whether line may start a link reference
// definition: after at most three spaces, a "[".
func startsDefinition(line text.Segment, src []byte) bool {
	v := line.Value(src)
	w, pos := util.IndentWidth(v, 0)
	return w <= 3 && pos < len(v) && v[pos] == '['
}

// windowEnd is where the window of lines starting at start ends: after
// refDefWindow lines, at the next line that starts a definition, or at the
// end.
func windowEnd(lines []text.Segment, start int, src []byte) int {
	end := start + refDefWindow
	for ; end < len(lines) && end < start+2*refDefWindow; end++ {
		if startsDefinition(lines[end], src) {
			return end
		}
	}
	return min(end, len(lines))
}

// tableLimit leaves a paragraph that would make a table with more cells
// than tableCellSlack over its size, or one that would take the document
// past maxEscapedPipes, as a paragraph.
type tableLimit struct{ parser.ParagraphTransformer }

var escapedPipesKey = parser.NewContextKey()

func (t tableLimit) Transform(node *ast.Paragraph, reader text.Reader, pc parser.Context) {
	lines, src := node.Lines(), reader.Source()
	for i := 1; i < lines.Len(); i++ {
		delim := lines.At(i)
		cols := delimiterColumns(delim.Value(src))
		if cols == 0 {
			continue
		}
		// goldmark makes a table of line i-1 (the header) and every line
		// after the delimiter row, each row padded or cut to cols cells.
		size, pipes := 0, 0
		for j := i - 1; j < lines.Len(); j++ {
			seg := lines.At(j)
			line := seg.Value(src)
			size += len(line)
			if bytes.IndexByte(line, '`') >= 0 {
				pipes += bytes.Count(line, []byte(`\|`))
			}
		}
		if pipes > 0 {
			total, _ := pc.Get(escapedPipesKey).(int)
			if total+pipes > maxEscapedPipes {
				limited(pc)
				return
			}
			pc.Set(escapedPipesKey, total+pipes)
		}
		if cols*(lines.Len()-i) > size+tableCellSlack {
			limited(pc)
			return
		}
		break
	}
	t.ParagraphTransformer.Transform(node, reader, pc)
}

var tableDelimiterCell = regexp.MustCompile(`^\s*:?-+:?\s*$`)

// delimiterColumns is the number of columns of a table delimiter row
// ("|:--|--:|"), or 0 when line is not one, decided as goldmark's table
// extension decides it.
func delimiterColumns(line []byte) int {
	if w, _ := util.IndentWidth(line, 0); w > 3 {
		return 0
	}
	allDashes := true
	for _, b := range line {
		if b != '-' {
			allDashes = false
		}
		if !util.IsSpace(b) && b != '-' && b != '|' && b != ':' {
			return 0
		}
	}
	if allDashes {
		return 0
	}
	cols := bytes.Split(line, []byte{'|'})
	if util.IsBlank(cols[0]) {
		cols = cols[1:]
	}
	if len(cols) > 0 && util.IsBlank(cols[len(cols)-1]) {
		cols = cols[:len(cols)-1]
	}
	for _, c := range cols {
		if !tableDelimiterCell.Match(c) {
			return 0
		}
	}
	return len(cols)
}

// inline is what the inline guards know about the block whose text
// goldmark is parsing: a paragraph, heading or table cell.
type inline struct {
	block  ast.Node
	lines  int // in the block
	spent  int // units of work; see inlineBudgetPerByte
	budget int
	pool   int                 // what is left of the document's inlineBudgetPool
	labels []*parser.Delimiter // per open link label, goldmark's last delimiter when it opened
	runs   map[int]int         // backtick run length → start of the last run of that length
	em     delimiters          // goldmark's delimiter list, as ProcessDelimiters will leave it
	label  delimiters          // scratch, for the delimiters in a closing link label
}

var inlineKey = parser.NewContextKey()

// inlineFor returns the state of block, which goldmark passes to inline
// parsers as their parent. goldmark parses the blocks of a document one
// after another, so one value per document serves them all.
func inlineFor(block ast.Node, pc parser.Context) *inline {
	st, _ := pc.Get(inlineKey).(*inline)
	if st == nil {
		st = &inline{pool: inlineBudgetPool}
		pc.Set(inlineKey, st)
	}
	if st.block != block {
		st.pool -= max(0, st.spent-st.budget)
		size := 0
		lines := block.Lines()
		for i := range lines.Len() {
			s := lines.At(i)
			size += s.Len()
		}
		st.block, st.lines, st.spent = block, lines.Len(), 0
		st.budget = inlineBudgetPerByte * size
		st.labels, st.runs = st.labels[:0], nil
		st.em.reset()
	}
	return st
}

func (st *inline) exhausted() bool { return st.spent >= st.budget+st.pool }

// codeSpanLimit answers for goldmark's code span parser when a backtick
// run has no run of the same length after it in the block, which goldmark
// would find out by reading to the block's end. Its answer is goldmark's:
// the run as text.
type codeSpanLimit struct{ parser.InlineParser }

func (p codeSpanLimit) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	line, seg := block.PeekLine()
	n := 0
	for n < len(line) && line[n] == '`' {
		n++
	}
	if n > 0 {
		st := inlineFor(parent, pc)
		if st.runs == nil {
			st.runs = backtickRuns(parent, block.Source())
		}
		if last, ok := st.runs[n]; !ok || last < seg.Start+n {
			block.Advance(n)
			return ast.NewTextSegment(seg.WithStop(seg.Start + n))
		}
	}
	return p.InlineParser.Parse(parent, block, pc)
}

// backtickRuns maps the length of each run of backticks in block's lines
// to where the last run of that length starts.
func backtickRuns(block ast.Node, src []byte) map[int]int {
	runs := map[int]int{}
	lines := block.Lines()
	for i := range lines.Len() {
		s := lines.At(i)
		for j := s.Start; j < s.Stop; {
			if src[j] != '`' {
				j++
				continue
			}
			k := j
			for k < s.Stop && src[k] == '`' {
				k++
			}
			runs[k-j] = j
			j = k
		}
	}
	return runs
}

// linkLimit guards goldmark's link parser, which is called for "[", "!"
// and "]". It opens no label past maxLabelNesting or once the block's
// budget is spent, and charges the budget for what closing a label costs.
type linkLimit struct{ parser.InlineParser }

func (p linkLimit) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	line, _ := block.PeekLine()
	st := inlineFor(parent, pc)
	if line[0] != ']' {
		if line[0] == '!' && (len(line) < 2 || line[1] != '[') {
			return p.InlineParser.Parse(parent, block, pc) // not an image
		}
		if len(st.labels) >= maxLabelNesting || st.exhausted() {
			limited(pc)
			return nil // the bracket is text
		}
		l, _ := block.Position()
		n := p.InlineParser.Parse(parent, block, pc)
		if n != nil {
			st.labels = append(st.labels, pc.LastDelimiter())
			// Closing the label reads it with blockReader.Value, which
			// walks back from the block's last line to the label's.
			st.spent += costLine * (st.lines - l)
		}
		return n
	}
	if len(st.labels) == 0 {
		return p.InlineParser.Parse(parent, block, pc)
	}
	bottom := st.labels[len(st.labels)-1]
	st.labels = st.labels[:len(st.labels)-1]
	// The delimiters inside the label, which goldmark processes and drops
	// if the label becomes a link.
	first := pc.FirstDelimiter()
	if bottom != nil {
		first = bottom.NextDelimiter
	}
	st.label.reset()
	for d := first; d != nil; d = d.NextDelimiter {
		st.spent += costDelim * st.label.push(d)
	}
	l, _ := block.Position()
	n := p.InlineParser.Parse(parent, block, pc)
	switch {
	case n == nil && len(line) > 1 && line[1] == '(':
		// The destination was scanned, to the end of this line or, when
		// the "(" ends it, of the next.
		st.spent += costByte * len(line)
		if lines := parent.Lines(); l+1 < lines.Len() {
			next := lines.At(l + 1)
			st.spent += costByte * next.Len()
		}
	case n != nil && len(st.label.d) > 0:
		// ClearDelimiters walked the block's nodes back to the last
		// delimiter before the label, and ProcessDelimiters did too if
		// there was one; the delimiters inside the label are gone.
		walks := 1
		if bottom != nil {
			walks = 2
		}
		st.spent += costNode * walks * parent.ChildCount()
		st.spent += costDelim * st.em.resync(pc)
	}
	return n
}

func (p linkLimit) CloseBlock(parent ast.Node, block text.Reader, pc parser.Context) {
	p.InlineParser.(parser.CloseBlocker).CloseBlock(parent, block, pc)
}

// delimiterLimit guards the parsers of emphasis ("*", "_") and
// strikethrough ("~") delimiters: once the block's budget is spent, a
// delimiter is text. It charges each delimiter what ProcessDelimiters will
// spend on it.
type delimiterLimit struct{ parser.InlineParser }

func (p delimiterLimit) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	st := inlineFor(parent, pc)
	if st.exhausted() {
		limited(pc)
		return nil
	}
	n := p.InlineParser.Parse(parent, block, pc)
	if d, ok := n.(*parser.Delimiter); ok {
		st.spent += costDelim * st.em.push(d)
	}
	return n
}

// delimiters follows goldmark's ProcessDelimiters over a delimiter list as
// it grows, to know what it will cost: a closer that finds an opener costs
// the delimiters between them, which are dropped, and one that finds none
// costs every delimiter before it, which stay. It finds each closer's
// opener among the most recent open delimiters of each kind that could
// match it, so it costs O(1) per delimiter where goldmark may walk the list.
type delimiters struct {
	d       []delim
	openers [3][2][3][]int32 // open delimiters by character, whether they can close, and length mod 3
	others  []int32          // open delimiters that cannot open
	alive   int
	dropped int // closers that matched nothing and were dropped
}

type delim struct {
	char             int8
	canOpen          bool
	canClose         bool
	length, original int32
}

func (m *delimiters) reset() {
	m.d = m.d[:0]
	for c := range m.openers {
		for k := range m.openers[c] {
			for r := range m.openers[c][k] {
				m.openers[c][k][r] = m.openers[c][k][r][:0]
			}
		}
	}
	m.others = m.others[:0]
	m.alive, m.dropped = 0, 0
}

// resync rebuilds m from goldmark's list, after a link took the delimiters
// inside its label out of it, and returns the cost of doing so.
func (m *delimiters) resync(pc parser.Context) int {
	m.reset()
	n := 0
	for d := pc.FirstDelimiter(); d != nil; d = d.NextDelimiter {
		m.push(d)
		n++
	}
	return n
}

func delimChar(c byte) int8 {
	switch c {
	case '*':
		return 0
	case '_':
		return 1
	}
	return 2 // '~'
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// consumption is parser.Delimiter.CalcComsumption: how many characters a
// match of opener o and closer c uses, 0 when the rule of three forbids it.
func consumption(o, c *delim) int32 {
	if (o.canClose || c.canOpen) && (o.original+c.original)%3 == 0 && c.original%3 != 0 {
		return 0
	}
	if o.length >= 2 && c.length >= 2 {
		return 2
	}
	return 1
}

// push appends d, unprocessed, processes it as ProcessDelimiters would,
// and returns the number of delimiters that visits.
func (m *delimiters) push(d *parser.Delimiter) int {
	i := int32(len(m.d))
	m.d = append(m.d, delim{
		char: delimChar(d.Char), canOpen: d.CanOpen, canClose: d.CanClose,
		length: int32(d.OriginalLength), original: int32(d.OriginalLength),
	})
	c := &m.d[i]
	cost := 1
	if c.canClose {
		for c.length > 0 {
			o := m.opener(c)
			if o < 0 {
				cost += m.alive
				if !c.canOpen && !m.anyOpener(c.char) {
					m.dropped++
					return cost
				}
				break
			}
			cost += m.dropAbove(o)
			op := &m.d[o]
			n := consumption(op, c)
			op.length -= n
			c.length -= n
			if op.length == 0 {
				s := &m.openers[op.char][b2i(op.canClose)][op.original%3]
				*s = (*s)[:len(*s)-1]
				m.alive--
			}
		}
		if c.length == 0 {
			return cost
		}
	}
	if c.canOpen {
		s := &m.openers[c.char][b2i(c.canClose)][c.original%3]
		*s = append(*s, i)
	} else {
		m.others = append(m.others, i)
	}
	m.alive++
	return cost
}

// opener is the open delimiter closest before c that c can close, or -1.
func (m *delimiters) opener(c *delim) int32 {
	best := int32(-1)
	for k := range m.openers[c.char] {
		for r := range m.openers[c.char][k] {
			s := m.openers[c.char][k][r]
			if len(s) == 0 || s[len(s)-1] < best {
				continue
			}
			if top := s[len(s)-1]; consumption(&m.d[top], c) > 0 {
				best = top
			}
		}
	}
	return best
}

func (m *delimiters) anyOpener(char int8) bool {
	for k := range m.openers[char] {
		for r := range m.openers[char][k] {
			if len(m.openers[char][k][r]) > 0 {
				return true
			}
		}
	}
	return false
}

// dropAbove drops the open delimiters after o, which a match of o with a
// later closer encloses, and returns how many it dropped.
func (m *delimiters) dropAbove(o int32) int {
	n := 0
	drop := func(s *[]int32) {
		for len(*s) > 0 && (*s)[len(*s)-1] > o {
			*s = (*s)[:len(*s)-1]
			n++
		}
	}
	for c := range m.openers {
		for k := range m.openers[c] {
			for r := range m.openers[c][k] {
				drop(&m.openers[c][k][r])
			}
		}
	}
	drop(&m.others)
	m.alive -= n
	return n
}
