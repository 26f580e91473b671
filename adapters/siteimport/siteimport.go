// Package siteimport reads other platforms' exports, Ghost's JSON export
// and WordPress's WXR, into the neutral values of domain.ImportedEntry,
// ImportedAuthor and ImportedTag, converting HTML bodies to Markdown and
// noting, one line each, what it could not map. It writes nothing: the
// content use cases do, through a Sink.
package siteimport

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keelhq/keel/domain"
)

// Sink receives what a reader finds, in the file's order: a format that
// lists its authors and tags before its posts (both do) hands them over
// first. An error from the sink stops the reading and is returned.
type Sink interface {
	Author(domain.ImportedAuthor) error
	Tag(domain.ImportedTag) error
	Entry(domain.ImportedEntry) error
	Note(domain.ImportNote)
}

// Limits on what a reader takes from a file. A field over its limit is
// cut (short text) or refused with a note (a body); they keep a hostile
// or broken export from costing much memory.
const (
	// MaxBodyHTMLBytes bounds one post's HTML; the Markdown made from it
	// must also fit domain.MaxBodyBytes.
	MaxBodyHTMLBytes = 4 << 20
	// MaxFieldBytes bounds every other text field.
	MaxFieldBytes = 64 << 10
	// MaxGhostBytes bounds a Ghost export, which is one JSON document
	// read whole.
	MaxGhostBytes = 256 << 20
	// maxXMLDepth bounds the nesting of a WXR file's elements; real ones
	// nest five deep.
	maxXMLDepth = 32
)

// body converts an export's HTML body to Markdown and notes what the
// conversion left out.
func body(sink Sink, item string, htmlText string) (string, bool) {
	if len(htmlText) > MaxBodyHTMLBytes {
		sink.Note(domain.ImportNote{Item: item, Reason: fmt.Sprintf("skipped: its HTML body is %d bytes, over the limit of %d", len(htmlText), MaxBodyHTMLBytes)})
		return "", false
	}
	md, dropped := toMarkdown(htmlText)
	if len(dropped) > 0 {
		sink.Note(domain.ImportNote{Item: item, Reason: "left out of the body (the sanitiser keeps none): " + strings.Join(dropped, ", ")})
	}
	return md, true
}

// itemName names an item in notes: its kind, title and source.
func itemName(kind, title, source string) string {
	title = clip(strings.TrimSpace(title), 80)
	if title == "" {
		title = "(untitled)"
	}
	return fmt.Sprintf("%s %q (%s)", kind, title, source)
}

// clip cuts s to at most n bytes on a character boundary, and makes it
// valid UTF-8.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// parseTime reads the times exports write: RFC 3339 (Ghost), and
// WordPress's "2006-01-02 15:04:05" in UTC (its _gmt fields), where
// "0000-00-00 00:00:00" means none.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "0000-00-00") {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", time.RFC1123Z, time.RFC1123} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
