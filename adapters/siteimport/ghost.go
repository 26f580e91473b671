package siteimport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
)

// The Ghost export (Settings → Migration → Export, or the Admin API's
// db endpoint) is one JSON document:
//
//	{"db": [{"meta": {"exported_on": …, "version": "5.x"},
//	         "data": {"posts": […], "tags": […], "posts_tags": […],
//	                  "users": […], "posts_authors": […], "posts_meta": […]}}]}
//
// Exports of Ghost before 1.0 have {"meta", "data"} at the top. Posts and
// pages are both in posts (type "page", or page: true before 2.0); the
// body is the html field, which Ghost renders from its editor's document.

type ghostFile struct {
	DB   []ghostDB       `json:"db"`
	Meta json.RawMessage `json:"meta"`
	Data *ghostData      `json:"data"`
}

type ghostDB struct {
	Data ghostData `json:"data"`
}

type ghostData struct {
	Posts        []ghostPost     `json:"posts"`
	Tags         []ghostTag      `json:"tags"`
	PostsTags    []ghostLink     `json:"posts_tags"`
	Users        []ghostUser     `json:"users"`
	PostsAuthors []ghostLink     `json:"posts_authors"`
	PostsMeta    []ghostPostMeta `json:"posts_meta"`
}

type ghostPost struct {
	ID              string          `json:"id"`
	UUID            string          `json:"uuid"`
	Title           string          `json:"title"`
	Slug            string          `json:"slug"`
	HTML            *string         `json:"html"`
	Plaintext       *string         `json:"plaintext"`
	FeatureImage    *string         `json:"feature_image"`
	Type            string          `json:"type"`
	Page            json.RawMessage `json:"page"`
	Status          string          `json:"status"`
	Visibility      string          `json:"visibility"`
	CustomExcerpt   *string         `json:"custom_excerpt"`
	MetaTitle       *string         `json:"meta_title"`
	MetaDescription *string         `json:"meta_description"`
	AuthorID        string          `json:"author_id"`
	CreatedAt       json.RawMessage `json:"created_at"`
	PublishedAt     json.RawMessage `json:"published_at"`
}

type ghostTag struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Slug        string  `json:"slug"`
	Description *string `json:"description"`
	Visibility  string  `json:"visibility"`
}

type ghostLink struct {
	PostID    string `json:"post_id"`
	TagID     string `json:"tag_id"`
	AuthorID  string `json:"author_id"`
	SortOrder int    `json:"sort_order"`
}

type ghostUser struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Slug         string  `json:"slug"`
	Email        string  `json:"email"`
	Bio          *string `json:"bio"`
	Website      *string `json:"website"`
	ProfileImage *string `json:"profile_image"`
}

type ghostPostMeta struct {
	PostID          string  `json:"post_id"`
	MetaTitle       *string `json:"meta_title"`
	MetaDescription *string `json:"meta_description"`
}

// ghostURL is what Ghost 4 and later write in an export where their own
// address was: in bodies, cover images and profile pictures.
const ghostURL = "__GHOST_URL__"

// ReadGhost reads a Ghost JSON export into sink: its users as authors,
// its public tags, then its posts and pages with their tags and authors
// in Ghost's order. Internal tags (#name) are Ghost's own and are noted,
// not imported. Links to the Ghost site itself are made relative; see
// ReadGhostFrom.
func ReadGhost(r io.Reader, sink Sink) error { return ReadGhostFrom(r, sink, "") }

// ReadGhostFrom is ReadGhost for an export of the Ghost site at siteURL
// (such as https://blog.example.com), which replaces the placeholder
// Ghost writes for its own address, so that images and links to the old
// site stay absolute. An empty siteURL makes them relative to the new
// site's root (/content/images/…) and notes it.
func ReadGhostFrom(r io.Reader, sink Sink, siteURL string) error {
	siteURL = strings.TrimSuffix(siteURL, "/")
	raw, err := io.ReadAll(io.LimitReader(r, MaxGhostBytes+1))
	if err != nil {
		return fmt.Errorf("read the Ghost export: %w", err)
	}
	if len(raw) > MaxGhostBytes {
		return fmt.Errorf("the Ghost export is over %d MiB, the most an import reads", MaxGhostBytes>>20)
	}
	var f ghostFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return fmt.Errorf("not a Ghost JSON export: %w", err)
	}
	raw = nil
	var d ghostData
	switch {
	case len(f.DB) > 0:
		d = f.DB[0].Data
	case f.Data != nil:
		d = *f.Data
	default:
		return errors.New(`not a Ghost JSON export: no "db" or "data"`)
	}

	site := strings.NewReplacer(ghostURL, siteURL)
	for _, u := range d.Users {
		u.ProfileImage, u.Website = ptr(site.Replace(deref(u.ProfileImage))), ptr(site.Replace(deref(u.Website)))
		a := domain.ImportedAuthor{Key: u.ID, Email: clip(u.Email, 320), Name: clip(u.Name, MaxFieldBytes), Slug: clip(u.Slug, MaxFieldBytes),
			Bio: clip(deref(u.Bio), MaxFieldBytes), AvatarURL: clip(deref(u.ProfileImage), domain.MaxURLLen), WebsiteURL: clip(deref(u.Website), domain.MaxURLLen)}
		if err := sink.Author(a); err != nil {
			return err
		}
	}
	tagNames := map[string]string{}
	for _, t := range d.Tags {
		name := clip(strings.TrimSpace(t.Name), MaxFieldBytes)
		if t.Visibility == "internal" || strings.HasPrefix(name, "#") {
			sink.Note(domain.ImportNote{Item: fmt.Sprintf("tag %q", name), Reason: "not imported: an internal tag is Ghost's own"})
			continue
		}
		tagNames[t.ID] = name
		if err := sink.Tag(domain.ImportedTag{Name: name, Slug: clip(t.Slug, MaxFieldBytes), Description: clip(deref(t.Description), MaxFieldBytes)}); err != nil {
			return err
		}
	}

	tagsOf := linksByPost(d.PostsTags, func(l ghostLink) string { return l.TagID })
	authorsOf := linksByPost(d.PostsAuthors, func(l ghostLink) string { return l.AuthorID })
	meta := map[string]ghostPostMeta{}
	for _, m := range d.PostsMeta {
		meta[m.PostID] = m
	}
	for _, p := range d.Posts {
		if html := deref(p.HTML); strings.Contains(html, ghostURL) || strings.Contains(deref(p.FeatureImage), ghostURL) {
			if siteURL == "" {
				sink.Note(domain.ImportNote{Item: itemName(ghostKind(p).String(), p.Title, "ghost:"+clip(p.ID, domain.MaxImportSourceLen-6)),
					Reason: "its links and images on the Ghost site itself are made relative (/content/images/…): give the old site's URL to keep them absolute"})
			}
			p.HTML, p.FeatureImage = ptr(site.Replace(html)), ptr(site.Replace(deref(p.FeatureImage)))
		}
		if err := ghostEntry(sink, p, tagsOf[p.ID], tagNames, authorsOf[p.ID], meta[p.ID]); err != nil {
			return err
		}
	}
	return nil
}

func ghostEntry(sink Sink, p ghostPost, tagIDs []string, tagNames map[string]string, authors []string, meta ghostPostMeta) error {
	kind := ghostKind(p)
	source := "ghost:" + clip(p.ID, domain.MaxImportSourceLen-6)
	item := itemName(kind.String(), p.Title, source)
	if p.ID == "" {
		sink.Note(domain.ImportNote{Item: item, Reason: "skipped: it has no id"})
		return nil
	}
	var status domain.EntryStatus
	switch p.Status {
	case "published":
		status = domain.EntryPublished
	case "scheduled":
		status = domain.EntryScheduled
	case "draft":
		status = domain.EntryDraft
	default: // "sent": a newsletter that never was on the site
		sink.Note(domain.ImportNote{Item: item, Reason: fmt.Sprintf("skipped: its status %q has no counterpart", clip(p.Status, 40))})
		return nil
	}
	if p.Visibility != "" && p.Visibility != "public" {
		sink.Note(domain.ImportNote{Item: item, Reason: fmt.Sprintf("imported as public: Keel has no members-only content (Ghost visibility %q)", clip(p.Visibility, 40))})
	}
	md, ok := body(sink, item, deref(p.HTML))
	if !ok {
		return nil
	}
	e := domain.ImportedEntry{
		Source: source, Kind: kind, Title: clip(p.Title, MaxFieldBytes), Slug: clip(p.Slug, MaxFieldBytes), Body: md,
		Excerpt: clip(deref(p.CustomExcerpt), MaxFieldBytes), Status: status, CoverImageURL: clip(deref(p.FeatureImage), domain.MaxURLLen),
		SEO: domain.SEO{Title: clip(firstOf(meta.MetaTitle, p.MetaTitle), MaxFieldBytes), Description: clip(firstOf(meta.MetaDescription, p.MetaDescription), MaxFieldBytes)},
	}
	if t, ok := ghostTime(p.CreatedAt); ok {
		e.CreatedAt = t
	}
	if t, ok := ghostTime(p.PublishedAt); ok && status != domain.EntryDraft {
		e.PublishedAt = &t
	}
	for _, id := range tagIDs {
		if name, ok := tagNames[id]; ok {
			e.Tags = append(e.Tags, name)
		}
	}
	e.Authors = authors
	if len(e.Authors) == 0 && p.AuthorID != "" {
		e.Authors = []string{p.AuthorID}
	}
	return sink.Entry(e)
}

// ghostKind tells a page from a post: type "page", or page: true
// before Ghost 2.0.
func ghostKind(p ghostPost) domain.EntryKind {
	if p.Type == "page" || string(p.Page) == "true" || string(p.Page) == "1" {
		return domain.KindPage
	}
	return domain.KindPost
}

func ptr(s string) *string { return &s }

// linksByPost groups a join table's rows by post, in their sort order.
func linksByPost(links []ghostLink, other func(ghostLink) string) map[string][]string {
	slices.SortStableFunc(links, func(a, b ghostLink) int { return a.SortOrder - b.SortOrder })
	out := map[string][]string{}
	for _, l := range links {
		out[l.PostID] = append(out[l.PostID], other(l))
	}
	return out
}

// ghostTime reads a date as Ghost writes it: an RFC 3339 string, or
// milliseconds since 1970 in old exports; null is none.
func ghostTime(raw json.RawMessage) (time.Time, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return parseTime(s)
	}
	if ms, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	return time.Time{}, false
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func firstOf(ss ...*string) string {
	for _, s := range ss {
		if s != nil && *s != "" {
			return *s
		}
	}
	return ""
}
