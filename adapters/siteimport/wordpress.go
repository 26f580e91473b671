package siteimport

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/keelhq/keel/domain"
)

// WordPress's export (Tools → Export) is WXR, an RSS 2.0 document with
// WordPress's namespaces:
//
//	<rss><channel>
//	  <wp:wxr_version>1.2</wp:wxr_version>
//	  <wp:author>…</wp:author> <wp:category>…</wp:category> <wp:tag>…</wp:tag>
//	  <item><title/><guid/><dc:creator/><content:encoded/><excerpt:encoded/>
//	        <wp:post_name/><wp:status/><wp:post_type/><wp:post_date_gmt/>
//	        <category domain="post_tag" nicename="…">Name</category>
//	        <wp:postmeta/> <wp:comment/></item>
//	</channel></rss>
//
// ReadWordPress decodes it token by token, never holding more than one
// item, each field cut at its limit; encoding/xml expands no entity a
// document declares (an undeclared one is a syntax error), so entity
// bombs and external entities fail at their first use.

// wxrField is where a text field of the file goes.
type wxrField struct {
	b        strings.Builder
	limit    int
	overflow bool
}

func (f *wxrField) add(s []byte) {
	if f.b.Len()+len(s) > f.limit {
		f.overflow = true
		s = s[:max(0, f.limit-f.b.Len())]
	}
	f.b.Write(s)
}

type wxrItem struct {
	fields     map[string]*wxrField
	categories []wxrCategory
	comments   int
}

type wxrCategory struct {
	domain, nicename, name string
	text                   *wxrField
}

// wxrNamespace gives a namespace URL the prefix WXR files use for it.
func wxrNamespace(space string) string {
	switch {
	case strings.Contains(space, "wordpress.org/export") && strings.Contains(space, "excerpt"), space == "excerpt":
		return "excerpt:"
	case strings.Contains(space, "wordpress.org/export"), space == "wp":
		return "wp:"
	case strings.Contains(space, "purl.org/rss/1.0/modules/content"), space == "content":
		return "content:"
	case strings.Contains(space, "purl.org/dc/elements"), space == "dc":
		return "dc:"
	case space == "":
		return ""
	}
	return "?:"
}

// ReadWordPress reads a WXR file into sink: its authors, categories and
// tags (both become tags; WordPress's default "Uncategorized" does not),
// then its posts and pages. Attachments, menus, revisions, trashed and
// auto-drafts, and comments are noted, not imported.
func ReadWordPress(r io.Reader, sink Sink) error {
	d := xml.NewDecoder(r)
	d.Strict = true
	var (
		stack  []string // element names, prefixed: "wp:author"
		item   *wxrItem
		field  *wxrField // the text field being read, if any
		group  map[string]*wxrField
		sawRSS bool
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not a readable WXR file: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := wxrNamespace(t.Name.Space) + t.Name.Local
			stack = append(stack, name)
			if len(stack) > maxXMLDepth {
				return fmt.Errorf("not a WXR file: elements nest deeper than %d", maxXMLDepth)
			}
			if len(stack) == 1 {
				if name != "rss" {
					return fmt.Errorf("not a WXR file: its root is <%s>, not <rss>", name)
				}
				sawRSS = true
			}
			field = nil
			switch {
			case len(stack) == 3 && stack[1] == "channel" && name == "item":
				item = &wxrItem{fields: map[string]*wxrField{}}
				group = item.fields
			case len(stack) == 3 && stack[1] == "channel" && (name == "wp:author" || name == "wp:category" || name == "wp:tag"):
				group = map[string]*wxrField{}
			case len(stack) == 4 && item != nil && name == "wp:comment":
				item.comments++
				group = nil
			case len(stack) == 4 && item != nil && name == "category":
				c := wxrCategory{}
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "domain":
						c.domain = clip(a.Value, 64)
					case "nicename":
						c.nicename = clip(a.Value, MaxFieldBytes)
					}
				}
				c.text = &wxrField{limit: MaxFieldBytes}
				item.categories = append(item.categories, c)
				field, group = c.text, nil
			case len(stack) == 4 && group != nil:
				limit := MaxFieldBytes
				if name == "content:encoded" {
					limit = MaxBodyHTMLBytes + 1
				}
				field = &wxrField{limit: limit}
				group[name] = field
			}
		case xml.CharData:
			if field != nil {
				field.add(t)
			}
		case xml.EndElement:
			name := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			switch {
			case len(stack) == 3 && item != nil && name == "category":
				c := &item.categories[len(item.categories)-1]
				c.name = strings.TrimSpace(c.text.b.String())
				c.text, field = nil, nil
				group = item.fields
			case len(stack) == 3 && item != nil && name == "wp:comment":
				group = item.fields
			case len(stack) == 4 && item != nil && stack[3] == "category":
				// Text after an element inside a category is still its name.
				field = item.categories[len(item.categories)-1].text
			case len(stack) == 3:
				field = nil
			case len(stack) == 2 && name == "item" && item != nil:
				if err := wxrEntry(sink, item); err != nil {
					return err
				}
				item, group = nil, nil
			case len(stack) == 2 && group != nil:
				if err := wxrTerm(sink, name, group); err != nil {
					return err
				}
				group = nil
			}
		}
	}
	if !sawRSS {
		return errors.New("not a WXR file: no <rss> element")
	}
	return nil
}

func text(fields map[string]*wxrField, name string) string {
	if f, ok := fields[name]; ok {
		return strings.TrimSpace(f.b.String())
	}
	return ""
}

// wxrTerm hands over one of the channel's authors, categories or tags.
func wxrTerm(sink Sink, name string, f map[string]*wxrField) error {
	switch name {
	case "wp:author":
		a := domain.ImportedAuthor{Key: text(f, "wp:author_login"), Email: clip(text(f, "wp:author_email"), 320),
			Name: text(f, "wp:author_display_name"), Slug: text(f, "wp:author_login")}
		if a.Name == "" {
			a.Name = strings.TrimSpace(text(f, "wp:author_first_name") + " " + text(f, "wp:author_last_name"))
		}
		return sink.Author(a)
	case "wp:category":
		slug := text(f, "wp:category_nicename")
		if slug == "uncategorized" {
			return nil
		}
		return sink.Tag(domain.ImportedTag{Name: text(f, "wp:cat_name"), Slug: slug, Description: text(f, "wp:category_description")})
	case "wp:tag":
		return sink.Tag(domain.ImportedTag{Name: text(f, "wp:tag_name"), Slug: text(f, "wp:tag_slug"), Description: text(f, "wp:tag_description")})
	}
	return nil
}

// wxrEntry hands over one item that is a post or a page, or notes why
// it is not imported.
func wxrEntry(sink Sink, it *wxrItem) error {
	f := it.fields
	postType := text(f, "wp:post_type")
	if postType == "" {
		postType = "post"
	}
	guid := text(f, "guid")
	if guid == "" {
		guid = "post-" + text(f, "wp:post_id")
	}
	source := "wordpress:" + clip(guid, domain.MaxImportSourceLen-10)
	title := text(f, "title")
	item := itemName(postType, title, source)
	var kind domain.EntryKind
	switch postType {
	case "post":
		kind = domain.KindPost
	case "page":
		kind = domain.KindPage
	case "attachment":
		sink.Note(domain.ImportNote{Item: item, Reason: "not imported: media stay where they are, and bodies keep linking to them"})
		return nil
	default: // nav_menu_item, revision, custom post types, blocks…
		sink.Note(domain.ImportNote{Item: item, Reason: fmt.Sprintf("not imported: Keel has no %q", clip(postType, 40))})
		return nil
	}
	if guid == "post-" {
		sink.Note(domain.ImportNote{Item: item, Reason: "skipped: it has neither a guid nor a post id"})
		return nil
	}
	var status domain.EntryStatus
	switch s := text(f, "wp:status"); s {
	case "publish":
		status = domain.EntryPublished
	case "future":
		status = domain.EntryScheduled
	case "draft", "pending":
		status = domain.EntryDraft
	case "private":
		status = domain.EntryDraft
		sink.Note(domain.ImportNote{Item: item, Reason: "imported as a draft: it was private"})
	default: // trash, auto-draft, inherit
		sink.Note(domain.ImportNote{Item: item, Reason: fmt.Sprintf("skipped: its status is %q", clip(s, 40))})
		return nil
	}
	if text(f, "wp:post_password") != "" {
		sink.Note(domain.ImportNote{Item: item, Reason: "imported without its password: Keel has no password-protected entries"})
	}
	if c := f["content:encoded"]; c != nil && c.overflow {
		sink.Note(domain.ImportNote{Item: item, Reason: fmt.Sprintf("skipped: its HTML body is over the limit of %d bytes", MaxBodyHTMLBytes)})
		return nil
	}
	md, ok := body(sink, item, autop(text(f, "content:encoded")))
	if !ok {
		return nil
	}
	e := domain.ImportedEntry{Source: source, Kind: kind, Title: title, Slug: text(f, "wp:post_name"), Body: md,
		Excerpt: text(f, "excerpt:encoded"), Status: status}
	if creator := text(f, "dc:creator"); creator != "" {
		e.Authors = []string{creator}
	}
	date, ok := parseTime(text(f, "wp:post_date_gmt"))
	if !ok {
		// Drafts have no GMT date; their local one is the best there is.
		date, ok = parseTime(text(f, "wp:post_date"))
	}
	if ok {
		e.CreatedAt = date
		if status != domain.EntryDraft {
			e.PublishedAt = &date
		}
	}
	for _, c := range it.categories {
		if (c.domain == "category" || c.domain == "post_tag") && c.nicename != "uncategorized" && c.name != "" {
			e.Tags = append(e.Tags, c.name)
		}
	}
	if it.comments > 0 {
		what := fmt.Sprintf("its %d comments are", it.comments)
		if it.comments == 1 {
			what = "its comment is"
		}
		sink.Note(domain.ImportNote{Item: item, Reason: what + " not imported: Keel has no comments"})
	}
	return sink.Entry(e)
}

var (
	blockStart = regexp.MustCompile(`(?i)^\s*<(?:p|div|h[1-6]|ul|ol|li|blockquote|pre|table|thead|tbody|tr|td|th|figure|figcaption|hr|dl|dd|dt|section|article|aside|header|footer|nav|address|form|iframe|script|style|!--)[\s>/]`)
	preBlock   = regexp.MustCompile(`(?is)<pre[\s>].*?</pre>`)
)

// autop does what WordPress does to post_content when it shows it
// (wpautop): the classic editor stores paragraphs as text separated by
// blank lines, and single line breaks as newlines. Block editor content
// is already HTML and passes through unchanged; pre blocks keep their
// blank lines.
func autop(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	var pres []string
	s = preBlock.ReplaceAllStringFunc(s, func(m string) string {
		pres = append(pres, m)
		return fmt.Sprintf("\x00pre%d\x00", len(pres)-1)
	})
	chunks := blankLines.Split(strings.ReplaceAll(s, "\r\n", "\n"), -1)
	for i, c := range chunks {
		c = strings.TrimSpace(c)
		if c == "" || blockStart.MatchString(c) || strings.HasPrefix(c, "\x00pre") {
			chunks[i] = c
			continue
		}
		chunks[i] = "<p>" + strings.ReplaceAll(c, "\n", "<br>\n") + "</p>"
	}
	s = strings.Join(chunks, "\n\n")
	for i, p := range pres {
		s = strings.Replace(s, fmt.Sprintf("\x00pre%d\x00", i), p, 1)
	}
	return s
}
