package markdown_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/keelhq/keel/adapters/markdown"
	"github.com/keelhq/keel/domain"
)

// pathological are bodies on which goldmark alone is super-linear (see
// limits.go). size is where a body took over a second to render before the
// limits, on the machine of BENCHMARKS.md; the benchmarks use a megabyte.
// check says what the body renders to now.
var pathological = []struct {
	name  string
	size  int
	body  func(n int) string
	check func(t *testing.T, body string, got domain.Rendered)
}{
	{"Blockquotes", 128 << 10, repeat("> ", "x"), capped("<blockquote>", "> ")},
	{"Lists", 64 << 10, repeat("- ", "x"), capped("<ul>", "- ")},
	{"OrderedLists", 128 << 10, repeat("1. ", "x"), capped("<ol>", "1. ")},
	{"QuotedLists", 128 << 10, repeat("> - ", "x"), func(t *testing.T, _ string, got domain.Rendered) {
		if n := strings.Count(got.HTML, "<blockquote>") + strings.Count(got.HTML, "<li>"); n != 32 {
			t.Errorf("%d block quotes and list items, want 32", n)
		}
	}},
	{"IndentedLists", 1 << 20, indentedLists, func(t *testing.T, body string, got domain.Rendered) {
		if n := strings.Count(got.HTML, "<li>"); n != 32 {
			t.Errorf("%d list items, want 32", n)
		}
		// The markers of the 32 items go; the others are text.
		if n, want := strings.Count(got.Text, "-"), strings.Count(body, "-")-32; n != want {
			t.Errorf("%d markers in the text, want %d", n, want)
		}
		sameLetters(t, body, got)
	}},
	{"UnclosedLinks", 64 << 10, repeat("[a](", ""), asText},
	{"EmptyLinks", 64 << 10, repeat("[](", ""), asText},
	{"UnclosedDestinations", 128 << 10, repeat("[a](b", ""), asText},
	{"UnclosedAngleDestinations", 128 << 10, repeat("[a](<b", ""), asText},
	{"UnclosedImages", 64 << 10, repeat("![a](", ""), asText},
	{"NestedBrackets", 256 << 10, nested("[", "a", "]"), asText},
	{"BracketLines", 256 << 10, repeat("]([\n", ""), asText},
	{"LinkTitleLines", 512 << 10, repeat("[a](b (\n", ""), asText},
	{"LinkTitleQuoteLines", 512 << 10, repeat("[a](b \"\n", ""), asText},
	{"ShortcutLinkLines", 256 << 10, func(n int) string { return "[a]: /a\n\n" + strings.Repeat("[a]\n", n/4) }, func(t *testing.T, body string, got domain.Rendered) {
		if !strings.Contains(got.HTML, `<a href="/a">a</a>`) {
			t.Error("no link")
		}
		// Each "[a]" is a link or, past the budget, text.
		if n, want := strings.Count(got.Text, "a"), strings.Count(body, "[a]\n"); n != want {
			t.Errorf("%d letters a, want %d", n, want)
		}
	}},
	{"LinksWithEmphasis", 128 << 10, repeat("[*a*](b) ", ""), func(t *testing.T, body string, got domain.Rendered) {
		if !strings.Contains(got.HTML, `<a href="b"><em>a</em></a>`) {
			t.Error("no link")
		}
		if n, want := strings.Count(got.Text, "a"), strings.Count(body, "a"); n != want {
			t.Errorf("%d letters a, want %d", n, want)
		}
	}},
	{"MixedEmphasis", 256 << 10, repeat("*a_b*c_d**e_f*g**h*i_j**", ""), sameLetters},
	{"BracketedEmphasis", 256 << 10, repeat("[*_a", ""), sameLetters},
	{"EmphasisRuns", 128 << 10, repeat("**_* ", "x"), func(t *testing.T, _ string, got domain.Rendered) {
		if !strings.HasSuffix(got.Text, "x") {
			t.Errorf("text ends %q, want x", got.Text[max(0, len(got.Text)-10):])
		}
	}},
	{"UnclosedCodeSpans", 128 << 10, repeat("\\``", ""), func(t *testing.T, body string, got domain.Rendered) {
		if n, want := strings.Count(got.Text, "`"), strings.Count(body, "`"); n != want {
			t.Errorf("%d backticks, want %d", n, want)
		}
	}},
	{"PaddedTable", 16 << 10, paddedTable, func(t *testing.T, body string, got domain.Rendered) {
		if strings.Contains(got.HTML, "<table") {
			t.Error("made a table")
		}
		sameWords(t, body, got)
	}},
	{"EscapedPipes", 256 << 10, func(n int) string { return "|a|\n|-|\n" + strings.Repeat("|`\\|`|\n", n/7) }, func(t *testing.T, _ string, got domain.Rendered) {
		if strings.Contains(got.HTML, "<table") {
			t.Error("made a table")
		}
	}},
	{"ReferenceDefinitions", 512 << 10, repeat("[a]: u\n", ""), func(t *testing.T, _ string, got domain.Rendered) {
		if got.HTML != "" {
			t.Errorf("HTML = %.100q, want none", got.HTML)
		}
	}},
	{"ReferenceDefinitionTitles", 1 << 20, repeat("[a]: /u 'x\n", ""), asText},
}

// repeat returns a body of unit repeated to n bytes, then end.
func repeat(unit, end string) func(n int) string {
	return func(n int) string { return strings.Repeat(unit, n/len(unit)) + end }
}

// nested returns open n/2 times, mid, then close n/2 times.
func nested(open, mid, close string) func(n int) string {
	return func(n int) string {
		k := n / (len(open) + len(close))
		return strings.Repeat(open, k) + mid + strings.Repeat(close, k)
	}
}

// indentedLists is a list item on every line, each indented under the last.
func indentedLists(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString(strings.Repeat("  ", i))
		b.WriteString("- x\n")
	}
	return b.String()
}

// paddedTable is a table with as many columns as one-cell rows.
func paddedTable(n int) string {
	c := n / 6
	return strings.Repeat("|a", c) + "|\n" + strings.Repeat("|-", c) + "|\n" + strings.Repeat("b\n", c)
}

// capped checks that a body of a container marker repeated makes 32
// containers, the limit, and leaves the other markers as text.
func capped(tag, marker string) func(t *testing.T, body string, got domain.Rendered) {
	return func(t *testing.T, body string, got domain.Rendered) {
		t.Helper()
		if n := strings.Count(got.HTML, tag); n != 32 {
			t.Errorf("%d %s, want 32", n, tag)
		}
		if want := strings.Repeat(marker, strings.Count(body, marker)-32) + "x"; got.Text != want {
			t.Errorf("Text = %.40q... (%d bytes), want %.40q... (%d bytes)", got.Text, len(got.Text), want, len(want))
		}
	}
}

// asText checks that the body, none of which goldmark makes a link of,
// reads as it was written.
func asText(t *testing.T, body string, got domain.Rendered) {
	t.Helper()
	if strings.Contains(got.HTML, "<a ") {
		t.Error("made a link")
	}
	sameWords(t, body, got)
}

func sameWords(t *testing.T, body string, got domain.Rendered) {
	t.Helper()
	if want := strings.Join(strings.Fields(body), " "); got.Text != want {
		t.Errorf("Text = %.40q... (%d bytes), want %.40q... (%d bytes)", got.Text, len(got.Text), want, len(want))
	}
}

// sameLetters checks that every letter of the body is in the text.
func sameLetters(t *testing.T, body string, got domain.Rendered) {
	t.Helper()
	for c := 'a'; c <= 'z'; c++ {
		if n, want := strings.Count(got.Text, string(c)), strings.Count(body, string(c)); n != want {
			t.Errorf("%d letters %c, want %d", n, c, want)
		}
	}
}

func TestRenderPathological(t *testing.T) {
	t.Parallel()
	r := markdown.New()
	for _, p := range pathological {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			body := p.body(p.size)
			got := r.Render(body)
			if why := whyUnsafe(got.HTML); why != "" {
				t.Fatalf("HTML unsafe: %s", why)
			}
			p.check(t, body, got)
		})
	}
}

// stressful are bodies goldmark was always linear on but which are made
// of one construct, for BenchmarkRenderPathological: the limits must not
// slow them down.
var stressful = []struct {
	name string
	body func(n int) string
}{
	{"Post", func(n int) string { return strings.Repeat(post+"\n", n/(len(post)+1)) }},
	{"Emphasis", repeat("*a", "")},
	{"StrongRuns", repeat("**", "x")},
	{"Brackets", repeat("[", "")},
	{"ImageBrackets", repeat("![", "")},
	{"AngleBrackets", repeat("<", "")},
	{"Backticks", repeat("`", "x")},
	{"Backslashes", repeat("\\", "")},
	{"EntityStarts", repeat("&#", "")},
	{"WideTable", func(n int) string { return strings.Repeat("|a", n/4) + "|\n" + strings.Repeat("|-", n/4) + "|\n" }},
	{"LongTable", repeat("|1|2|\n", "")},
	{"LongLine", repeat("a", "")},
	{"ListItems", repeat("- a\n", "")},
	{"NestedHTML", repeat("<div>", "x")},
	{"UnclosedComments", repeat("a <!--a\n", "")},
	{"EmailLike", func(n int) string { return " " + strings.Repeat("a_", n/2) }},
}

// BenchmarkRenderPathological renders a megabyte of each pathological and
// each stressful body.
func BenchmarkRenderPathological(b *testing.B) {
	r := markdown.New()
	run := func(name string, body func(n int) string) {
		b.Run(name, func(b *testing.B) {
			s := body(1 << 20)
			b.SetBytes(int64(len(s)))
			b.ReportAllocs()
			for b.Loop() {
				r.Render(s)
			}
		})
	}
	for _, p := range stressful {
		run(p.name, p.body)
	}
	for _, p := range pathological {
		run(p.name, p.body)
	}
}

func ExampleRenderer_Render_nesting() {
	got := markdown.New().Render(strings.Repeat("> ", 40) + "deep")
	fmt.Println(strings.Count(got.HTML, "<blockquote>"), got.Text)
	// Output: 32 > > > > > > > > deep
}
