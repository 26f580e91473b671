package markdown

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer/html"
)

// goldmarkAlone is goldmark as New configured it before the limits.
func goldmarkAlone() goldmark.Markdown {
	return goldmark.New(
		goldmark.WithExtensions(
			extension.Linkify,
			extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignAttribute)),
			extension.Strikethrough,
			extension.TaskList,
		),
		goldmark.WithRendererOptions(html.WithUnsafe()),
	)
}

// convert returns md's HTML for src, and whether a limit changed how it
// was parsed.
func convert(t testing.TB, md goldmark.Markdown, src string) (string, bool) {
	t.Helper()
	pc := parser.NewContext()
	var b bytes.Buffer
	if err := md.Convert([]byte(src), &b, parser.WithContext(pc)); err != nil {
		t.Fatalf("Convert: %v", err)
	}
	return b.String(), pc.Get(limitedKey) != nil
}

// documents are ordinary Markdown, some of it as close to the limits as
// writing gets: each must render exactly as goldmark alone renders it.
var documents = map[string]string{
	"Features": "# Title\n\nSetext\n======\n\n" +
		"Some *em*, **strong**, ***both***, _em_, __strong__, ~~gone~~, ~one~, snake_case_words, 2*3*4, a * b.\n" +
		"Code `x`, ``a ` b``, ` `` `, unclosed ` tick, \\`escaped\\`, and ```triple```.\n" +
		"Links: [inline](/a \"T\"), [ref][r], [collapsed][], [shortcut], <https://auto.example>, https://bare.example/x?y=1, www.example.org, a@example.com.\n" +
		"Images: ![alt *em*](/i.png 'T'), ![ref][r]. Not links: [sic], f(x)[1], array[i](j, [a](<b), [a]( b c ), \\[escaped\\].\n" +
		"Nested: [a [b] c](/d), [a [b](/c) d](/e), [![img](/i.png)](/l), *[link *inside*](/x)* and **[a](/b)**.\n" +
		"Raw <em>html</em>, <span class=\"x\">span</span>, <!-- comment -->, &amp; &copy; &#x27; &#39;.\n" +
		"Hard  \nbreak and \\\nbackslash break.\n\n" +
		"[r]: /ref \"Ref title\"\n[collapsed]: /c\n[shortcut]: </s s> 'T'\n\n" +
		"> Quote with *em*\n> - and a list\n>   1. nested\n>\n> > deeper `code`\n\n" +
		"- one\n- two\n  - three\n    - four\n\n      code in item\n- [x] done\n- [ ] todo\n\n" +
		"3. three\n4. four\n\n---\n\n" +
		"| left | center | right | none |\n|:--|:-:|--:|---|\n| `a\\|b` | *c* | [d](/d) | e |\n| short |\n\n" +
		"```go\nfunc main() { fmt.Println(\"`*[x]*`\") }\n```\n\n    indented\n    code\n\n" +
		"<div>\n*block html*\n</div>\n\nEnd.\n",
	"QuotesAtTheLimit":               strings.Repeat("> ", 32) + "x\n" + strings.Repeat("> ", 32) + "y",
	"ListsAtTheLimit":                strings.Repeat("- ", 32) + "x\n",
	"OrderedListsAtTheLimit":         strings.Repeat("1. ", 32) + "x\n",
	"QuotedListsAtTheLimit":          strings.Repeat("> - ", 16) + "x\n",
	"IndentedListsAtTheLimit":        indented(32),
	"BracketsAtTheLimit":             strings.Repeat("[", 32) + "a" + strings.Repeat("]", 32) + "(/b) " + strings.Repeat("![", 31) + "a" + strings.Repeat("](/i)", 31),
	"ManyLinksOneParagraph":          lines(2000, "See [link %d](https://example.com/%d) and [ref] here."),
	"ManyLinksOneLine":               strings.ReplaceAll(lines(500, "[*link* %d](https://example.com/%d), "), "\n", ""),
	"LinksWithEmphasis":              lines(400, "[*Title %d*](https://example.com/%d) "),
	"EmphasisDense":                  lines(2000, "**A%d** · *b%d* _c_ ~~d~~ e*f*g "),
	"FailedLinks":                    lines(500, "[sic] f(x)[%d](%d and [a](b c) [x]( "),
	"CodeSpans":                      lines(500, "`a%d` ``b ` %d`` ` c ```d``` "),
	"ReferenceDefinitions":           lines(500, "[ref-%d]: https://example.com/%d \"Title\"") + "\n[ref-1] [ref-499] [ref-250][]",
	"ReferenceDefinitionsOnTwoLines": lines(300, "[ref-%d]:\n  https://example.com/%d\n  'Title'") + "\n[ref-1] [ref-299]",
	"BigTable":                       "| a | b | c |\n|---|:-:|--:|\n" + lines(500, "| %d | `x\\|y` | [l](/%d) |"),
	"SparseTable":                    "| a | b | c | d | e | f | g | h |\n|---|---|---|---|---|---|---|---|\n" + lines(150, "| %d%d |"),
}

func indented(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.Repeat("  ", i) + "- x\n")
	}
	return b.String()
}

// lines is format, which has two %d, for 0 to n-1, joined with newlines.
func lines(n int, format string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format, i, i)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestLimitsKeepDocuments(t *testing.T) {
	t.Parallel()
	md, alone := New().md, goldmarkAlone()
	for name, doc := range documents {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, limited := convert(t, md, doc)
			want, _ := convert(t, alone, doc)
			if got != want {
				t.Errorf("HTML differs from goldmark's:\n%s", firstDifference(got, want))
			}
			// More than refDefWindow definitions are parsed a window at a
			// time, which is a limit, but with the same result.
			if limited && !strings.HasPrefix(name, "ReferenceDefinitions") {
				t.Error("a limit applied")
			}
		})
	}
}

// TestLimitsBelowLimits renders the pathological patterns in small
// amounts, where no limit applies: the guards must change nothing.
func TestLimitsBelowLimits(t *testing.T) {
	t.Parallel()
	md, alone := New().md, goldmarkAlone()
	for _, unit := range []string{
		"> ", "- ", "1. ", "> - ", "[a](", "[](", "[a](b", "[a](<b", "![a](", "]([\n",
		"[a](b (\n", "[a](b \"\n", "[a]\n", "[*a*](b) ", "*a_b*c_d**e_f*g**h*i_j**", "[*_a",
		"**_* ", "\\``", "``\\", "`", "[a]: u\n", "[a]: /u 'x\n", "|`\\|`|\n", "*a", "a_", "~a~~",
	} {
		doc := strings.Repeat(unit, 15) + "x"
		if unit == "|`\\|`|\n" {
			doc = "|a|\n|-|\n" + doc
		}
		got, limited := convert(t, md, doc)
		want, _ := convert(t, alone, doc)
		if limited {
			t.Errorf("%q: a limit applied", doc)
		}
		if got != want {
			t.Errorf("%q: HTML differs from goldmark's:\n%s", doc, firstDifference(got, want))
		}
	}
}

// FuzzLimits checks that whenever no limit applies, the HTML is goldmark's.
func FuzzLimits(f *testing.F) {
	for _, doc := range documents {
		if len(doc) < 4096 {
			f.Add(doc)
		}
	}
	f.Add("*a [b* c](d) e* [f *g](h) i*")
	f.Add("[a `]` b](c) ``[`` [d]]` e`")
	f.Add("> a\n> ```\n> b\n\n- [ ] c\n  > d\n")
	md, alone := New().md, goldmarkAlone()
	f.Fuzz(func(t *testing.T, doc string) {
		if len(doc) > 4096 {
			return // goldmark alone may be slow
		}
		got, limited := convert(t, md, doc)
		if limited {
			return
		}
		if want, _ := convert(t, alone, doc); got != want {
			t.Fatalf("%q: HTML differs from goldmark's:\n%s", doc, firstDifference(got, want))
		}
	})
}

func firstDifference(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-80)
	return fmt.Sprintf("at byte %d:\ngot  %q\nwant %q", i, got[from:min(len(got), i+80)], want[from:min(len(want), i+80)])
}
