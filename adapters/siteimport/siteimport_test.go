package siteimport_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/siteimport"
	"github.com/keelhq/keel/domain"
)

// recorder is a Sink that keeps everything.
type recorder struct {
	authors []domain.ImportedAuthor
	tags    []domain.ImportedTag
	entries []domain.ImportedEntry
	notes   []string
}

func (r *recorder) Author(a domain.ImportedAuthor) error {
	r.authors = append(r.authors, a)
	return nil
}
func (r *recorder) Tag(t domain.ImportedTag) error     { r.tags = append(r.tags, t); return nil }
func (r *recorder) Entry(e domain.ImportedEntry) error { r.entries = append(r.entries, e); return nil }
func (r *recorder) Note(n domain.ImportNote)           { r.notes = append(r.notes, n.String()) }

func (r *recorder) entry(t *testing.T, source string) domain.ImportedEntry {
	t.Helper()
	for _, e := range r.entries {
		if e.Source == source {
			return e
		}
	}
	t.Fatalf("no entry %s among %d", source, len(r.entries))
	return domain.ImportedEntry{}
}

func (r *recorder) hasNote(t *testing.T, parts ...string) {
	t.Helper()
	for _, n := range r.notes {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(n, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no note with %q among:\n%s", parts, strings.Join(r.notes, "\n"))
}

func read(t *testing.T, path string, fn func(*os.File, siteimport.Sink) error) *recorder {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &recorder{}
	if err := fn(f, r); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return r
}

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func TestReadGhostFixture(t *testing.T) {
	t.Parallel()
	r := read(t, "testdata/ghost.json", func(f *os.File, s siteimport.Sink) error { return siteimport.ReadGhost(f, s) })

	if len(r.authors) != 2 || r.authors[0] != (domain.ImportedAuthor{Key: "1", Email: "maren@example.com", Name: "Maren Quay", Slug: "maren",
		Bio: "Harbour master.", AvatarURL: "https://example.com/content/images/maren.jpg", WebsiteURL: "https://maren.example.com"}) {
		t.Errorf("authors = %+v", r.authors)
	}
	wantTags := []domain.ImportedTag{{Name: "News", Slug: "news", Description: "What happened in the harbour."}, {Name: "Getting Started", Slug: "getting-started"}}
	if !slices.Equal(r.tags, wantTags) {
		t.Errorf("tags = %+v, want %+v", r.tags, wantTags)
	}
	r.hasNote(t, `tag "#hidden"`, "internal")

	var sources []string
	for _, e := range r.entries {
		sources = append(sources, e.Source)
	}
	want := []string{"ghost:5f3a1c2b9d1e4a0001a1b001", "ghost:5f3a1c2b9d1e4a0001a1b002", "ghost:5f3a1c2b9d1e4a0001a1b003", "ghost:5f3a1c2b9d1e4a0001a1b004", "ghost:5f3a1c2b9d1e4a0001a1b006"}
	if !slices.Equal(sources, want) {
		t.Errorf("entries = %v, want %v", sources, want)
	}

	post := r.entry(t, "ghost:5f3a1c2b9d1e4a0001a1b001")
	if post.Kind != domain.KindPost || post.Status != domain.EntryPublished || post.Title != "Welcome to the Harbour Log" || post.Slug != "welcome" ||
		!post.PublishedAt.Equal(*at("2019-05-01T08:30:00Z")) || !post.CreatedAt.Equal(*at("2019-04-30T10:00:00Z")) ||
		post.Excerpt != "Tides, twice a day." || post.CoverImageURL != "https://example.com/content/images/cover.jpg" ||
		post.SEO != (domain.SEO{Title: "Harbour Log: welcome", Description: "Tides and harbours."}) {
		t.Errorf("post = %+v", post)
	}
	if !slices.Equal(post.Tags, []string{"News", "Getting Started"}) || !slices.Equal(post.Authors, []string{"1"}) {
		t.Errorf("post tags %q (sort order, no internal tag), authors %q", post.Tags, post.Authors)
	}
	for _, md := range []string{
		"Tides are **twice** a day, *mostly*. See [the tables](https://example.com/tides \"Tide tables\").",
		"## What to bring",
		"- A coat\n- Boots \\& `rope`",
		"![The harbour at dawn](https://example.com/content/images/harbour.jpg)",
		"```sh\ntide --port brest\n\necho done\n```",
		"> Time and tide wait for no one.",
		"<table><tbody><tr><th>Port</th><th>High</th></tr><tr><td>Brest</td><td>06:12</td></tr></tbody></table>",
		"1\\. Not a list, and \\*not\\* emphasis.",
	} {
		if !strings.Contains(post.Body, md) {
			t.Errorf("the body lacks %q:\n%s", md, post.Body)
		}
	}
	if strings.Contains(post.Body, "iframe") {
		t.Errorf("the body keeps the iframe:\n%s", post.Body)
	}
	r.hasNote(t, "Welcome to the Harbour Log", "<iframe>")

	if d := r.entry(t, "ghost:5f3a1c2b9d1e4a0001a1b002"); d.Status != domain.EntryDraft || d.PublishedAt != nil || !slices.Equal(d.Authors, []string{"5f3a1c2b9d1e4a0001a1d002"}) {
		t.Errorf("draft = %+v", d)
	}
	if p := r.entry(t, "ghost:5f3a1c2b9d1e4a0001a1b003"); p.Kind != domain.KindPage || p.Status != domain.EntryPublished ||
		!strings.Contains(p.Body, "![The quay](/content/images/2018/12/quay.jpg)") {
		t.Errorf("page = %+v", p)
	}
	r.hasNote(t, "About", "made relative")
	// Given the old site's address, its links stay absolute.
	withURL := read(t, "testdata/ghost.json", func(f *os.File, s siteimport.Sink) error {
		return siteimport.ReadGhostFrom(f, s, "https://harbour.example.com/")
	})
	if p := withURL.entry(t, "ghost:5f3a1c2b9d1e4a0001a1b003"); !strings.Contains(p.Body, "![The quay](https://harbour.example.com/content/images/2018/12/quay.jpg)") {
		t.Errorf("page body with the site's URL:\n%s", p.Body)
	}
	for _, n := range withURL.notes {
		if strings.Contains(n, "made relative") {
			t.Errorf("a note about relative links with the site's URL given: %s", n)
		}
	}
	if s := r.entry(t, "ghost:5f3a1c2b9d1e4a0001a1b004"); s.Status != domain.EntryScheduled || !s.PublishedAt.Equal(*at("2099-03-20T06:00:00Z")) {
		t.Errorf("scheduled = %+v", s)
	}
	r.hasNote(t, "Newsletter only", `status "sent"`)
	r.hasNote(t, "For members", "imported as public")
}

func TestReadWordPressFixture(t *testing.T) {
	t.Parallel()
	r := read(t, "testdata/wordpress.xml", func(f *os.File, s siteimport.Sink) error { return siteimport.ReadWordPress(f, s) })

	wantAuthors := []domain.ImportedAuthor{{Key: "maren", Email: "maren@example.com", Name: "Maren Quay", Slug: "maren"}, {Key: "olaf", Email: "olaf@elsewhere.example", Name: "Olaf", Slug: "olaf"}}
	if !slices.Equal(r.authors, wantAuthors) {
		t.Errorf("authors = %+v, want %+v", r.authors, wantAuthors)
	}
	wantTags := []domain.ImportedTag{{Name: "Recipes", Slug: "recipes", Description: "Things to bake at home."}, {Name: "Sourdough", Slug: "sourdough"}}
	if !slices.Equal(r.tags, wantTags) {
		t.Errorf("tags = %+v, want %+v (no Uncategorized)", r.tags, wantTags)
	}
	var sources []string
	for _, e := range r.entries {
		sources = append(sources, e.Source)
	}
	want := []string{"wordpress:https://bakery.example.com/?p=10", "wordpress:https://bakery.example.com/?p=11", "wordpress:https://bakery.example.com/?p=12",
		"wordpress:https://bakery.example.com/?page_id=2", "wordpress:https://bakery.example.com/?p=15"}
	if !slices.Equal(sources, want) {
		t.Errorf("entries = %v, want %v", sources, want)
	}

	loaf := r.entry(t, "wordpress:https://bakery.example.com/?p=10")
	if loaf.Kind != domain.KindPost || loaf.Status != domain.EntryPublished || loaf.Title != "A loaf a day" || loaf.Slug != "a-loaf-a-day" ||
		!loaf.PublishedAt.Equal(*at("2019-05-01T08:30:00Z")) || loaf.Excerpt != "The daily loaf." ||
		!slices.Equal(loaf.Tags, []string{"Recipes", "Sourdough"}) || !slices.Equal(loaf.Authors, []string{"maren"}) {
		t.Errorf("post = %+v", loaf)
	}
	// The classic editor's blank lines are paragraphs and its single
	// newlines line breaks, as WordPress shows them; pre keeps its lines.
	for _, md := range []string{"Flour, water and **salt**.\\\nNothing else.", "Knead for [ten minutes](https://bakery.example.com/knead).", "```\nmix\n  \nrest\n```"} {
		if !strings.Contains(loaf.Body, md) {
			t.Errorf("the body lacks %q:\n%s", md, loaf.Body)
		}
	}
	r.hasNote(t, "A loaf a day", "its comment is not imported")

	rye := r.entry(t, "wordpress:https://bakery.example.com/?p=11")
	if rye.Body != "## Why rye\n\nRye is *denser* than wheat.\n\n1. Soak\n2. Bake\n" {
		t.Errorf("block editor body = %q", rye.Body)
	}
	if rye.Slug != "%c3%a9peautre-%26-rye" || !slices.Equal(rye.Authors, []string{"olaf"}) {
		t.Errorf("rye slug %q (kept for the importer to map), authors %q", rye.Slug, rye.Authors)
	}
	if d := r.entry(t, "wordpress:https://bakery.example.com/?p=12"); d.Status != domain.EntryDraft || d.PublishedAt != nil || !d.CreatedAt.Equal(*at("2021-03-01T12:00:00Z")) {
		t.Errorf("draft = %+v", d)
	}
	if p := r.entry(t, "wordpress:https://bakery.example.com/?page_id=2"); p.Kind != domain.KindPage || p.Body != "We bake on Fridays.\n" {
		t.Errorf("page = %+v", p)
	}
	if p := r.entry(t, "wordpress:https://bakery.example.com/?p=15"); p.Status != domain.EntryDraft {
		t.Errorf("private post = %+v, want a draft", p)
	}
	r.hasNote(t, "Staff notes", "draft", "private")
	r.hasNote(t, "loaf.jpg", "not imported")
	r.hasNote(t, "Home", `"nav_menu_item"`)
	r.hasNote(t, "Burnt batch", `"trash"`)
}

// TestReadWordPressRefusesHostileFiles: encoding/xml expands no entity a
// document declares, so an entity bomb or an external entity fails at its
// first use instead of growing or reading a file; nesting and a body over
// their limits fail or are noted, without reading them whole.
func TestReadWordPressRefusesHostileFiles(t *testing.T) {
	t.Parallel()
	laughs := `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;">]>` +
		`<rss xmlns:wp="http://wordpress.org/export/1.2/"><channel><item><title>&lol9;</title><wp:post_type>post</wp:post_type></item></channel></rss>`
	external := `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
		`<rss><channel><item><title>&xxe;</title></item></channel></rss>`
	deep := `<rss><channel><item>` + strings.Repeat("<x>", 100_000) + strings.Repeat("</x>", 100_000) + `</item></channel></rss>`
	for name, doc := range map[string]string{"entity bomb": laughs, "external entity": external, "deep nesting": deep, "not rss": `<html><body/></html>`, "not xml": `{"db":[]}`} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{}
			err := siteimport.ReadWordPress(strings.NewReader(doc), r)
			if err == nil {
				t.Fatalf("read without error: %+v", r)
			}
			if len(r.entries) != 0 {
				t.Errorf("entries from a hostile file: %+v", r.entries)
			}
			if strings.Contains(err.Error(), "root:") {
				t.Errorf("the error shows a file's content: %v", err)
			}
		})
	}

	t.Run("huge body", func(t *testing.T) {
		t.Parallel()
		doc := `<rss xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:wp="http://wordpress.org/export/1.2/"><channel><item><title>Big</title>` +
			`<guid>g1</guid><wp:status>publish</wp:status><content:encoded>` + strings.Repeat("a", siteimport.MaxBodyHTMLBytes+10) +
			`</content:encoded></item></channel></rss>`
		r := &recorder{}
		if err := siteimport.ReadWordPress(strings.NewReader(doc), r); err != nil {
			t.Fatal(err)
		}
		if len(r.entries) != 0 {
			t.Errorf("the huge body was imported")
		}
		r.hasNote(t, "Big", "over the limit")
	})
}

// TestReadWordPressFieldsAfterCategories: exporters differ in the order
// of an item's elements; fields after its categories, and a category
// holding an element, are read as well.
func TestReadWordPressFieldsAfterCategories(t *testing.T) {
	t.Parallel()
	doc := `<rss xmlns:wp="http://wordpress.org/export/1.2/"><channel><item><title>Late fields</title>` +
		`<category domain="post_tag" nicename="a"><b/>A</category><category domain="post_tag" nicename="b">B</category>` +
		`<guid>g-late</guid><wp:status>draft</wp:status><wp:post_name>late-fields</wp:post_name><wp:post_type>post</wp:post_type></item></channel></rss>`
	r := &recorder{}
	if err := siteimport.ReadWordPress(strings.NewReader(doc), r); err != nil {
		t.Fatal(err)
	}
	e := r.entry(t, "wordpress:g-late")
	if e.Slug != "late-fields" || e.Status != domain.EntryDraft || !slices.Equal(e.Tags, []string{"A", "B"}) {
		t.Errorf("entry = %+v", e)
	}
}

func TestReadGhostRefusesOtherFiles(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{"not json": `<rss/>`, "no data": `{"meta":{}}`, "wrong shape": `{"db":[{"data":{"posts":"x"}}]}`} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := siteimport.ReadGhost(strings.NewReader(doc), &recorder{}); err == nil {
				t.Error("read without error")
			}
		})
	}
}
