package siteimport

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keelhq/keel/domain"
)

// discard is a Sink that keeps nothing.
type discard struct{}

func (discard) Author(domain.ImportedAuthor) error { return nil }
func (discard) Tag(domain.ImportedTag) error       { return nil }
func (discard) Entry(e domain.ImportedEntry) error { return nil }
func (discard) Note(domain.ImportNote)             {}

// FuzzToMarkdown: any HTML converts without panicking, to valid UTF-8
// when the input is, in bounded size.
func FuzzToMarkdown(f *testing.F) {
	for _, s := range []string{"<p>a <b>b</b></p>", "<ul><li><ol><li>x</ol></ul>", "<pre><code>```</code></pre>",
		"<blockquote><p>1. x</p></blockquote>", "<a href='x (y)'>[z]</a>", "<table><tr><td>\n\n</td></tr></table>", "`*_#>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, html string) {
		md, _ := toMarkdown(html)
		if utf8.ValidString(html) && !utf8.ValidString(md) {
			t.Errorf("invalid UTF-8 from %q: %q", html, md)
		}
		if len(md) > 16*len(html)+64 {
			t.Errorf("%d bytes of Markdown from %d of HTML", len(md), len(html))
		}
	})
}

// FuzzReadWordPress: any file is read or refused without panicking.
func FuzzReadWordPress(f *testing.F) {
	fixture, err := os.ReadFile("testdata/wordpress.xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(fixture))
	f.Add(`<rss><channel><item><category domain="post_tag"><x/>A</category><title>t</title></item></channel></rss>`)
	f.Fuzz(func(t *testing.T, doc string) {
		_ = ReadWordPress(strings.NewReader(doc), discard{})
	})
}

// FuzzReadGhost: any file is read or refused without panicking.
func FuzzReadGhost(f *testing.F) {
	fixture, err := os.ReadFile("testdata/ghost.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(fixture))
	f.Fuzz(func(t *testing.T, doc string) {
		_ = ReadGhost(strings.NewReader(doc), discard{})
	})
}
