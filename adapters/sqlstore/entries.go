package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// entryStore implements ports.EntryStore.
type entryStore struct{ *stores }

// entryColumns are qualified: searches join entries to their index.
const entryColumns = `e.id, e.workspace_id, e.kind, e.slug, e.title, e.body, e.body_html, e.body_text, e.excerpt, e.tags,
	e.cover_image_url, e.seo_title, e.seo_description, e.status, e.publish_at, e.published_at, e.author_id,
	e.created_at, e.updated_at, e.version, e.nav_order, e.locale, e.translation_group, e.cover_media_id`

type entryRow struct {
	id, workspaceID, kind, slug, title, body, html, text, excerpt, tags string
	cover, seoTitle, seoDescription, status, authorID                   string
	publishAt, publishedAt                                              sql.NullTime
	createdAt, updatedAt                                                time.Time
	version, navOrder                                                   int
	locale                                                              string
	group, coverMedia                                                   sql.NullString
}

func (r entryRow) toDomain() (domain.Entry, error) {
	kind, err := domain.ParseEntryKind(r.kind)
	if err != nil {
		return domain.Entry{}, fmt.Errorf("entry %s: stored kind %q: %w", r.id, r.kind, err)
	}
	status, err := domain.ParseEntryStatus(r.status)
	if err != nil {
		return domain.Entry{}, fmt.Errorf("entry %s: stored status %q: %w", r.id, r.status, err)
	}
	var tags []string
	if err := json.Unmarshal([]byte(r.tags), &tags); err != nil {
		return domain.Entry{}, fmt.Errorf("entry %s: tags: %w", r.id, err)
	}
	return domain.RehydrateEntry(domain.EntryRecord{
		ID: domain.EntryID(r.id), Workspace: domain.WorkspaceID(r.workspaceID), Kind: kind, Author: domain.UserID(r.authorID),
		Content: domain.EntryContent{
			Title: r.title, Slug: r.slug, Body: r.body, Excerpt: r.excerpt, Tags: tags, CoverImageURL: r.cover,
			CoverMedia: domain.MediaID(r.coverMedia.String),
			SEO:        domain.SEO{Title: r.seoTitle, Description: r.seoDescription}, NavOrder: r.navOrder,
		},
		Rendered:  domain.Rendered{HTML: r.html, Text: r.text},
		Status:    status,
		PublishAt: timePtr(r.publishAt), PublishedAt: timePtr(r.publishedAt),
		CreatedAt: r.createdAt, UpdatedAt: r.updatedAt, Version: r.version,
		Locale: domain.Locale(r.locale), TranslationGroup: domain.EntryID(r.group.String),
	}), nil
}

func scanEntry(sc scanner) (domain.Entry, error) {
	var r entryRow
	err := sc.Scan(&r.id, &r.workspaceID, &r.kind, &r.slug, &r.title, &r.body, &r.html, &r.text, &r.excerpt, &r.tags,
		&r.cover, &r.seoTitle, &r.seoDescription, &r.status, &r.publishAt, &r.publishedAt, &r.authorID,
		&r.createdAt, &r.updatedAt, &r.version, &r.navOrder, &r.locale, &r.group, &r.coverMedia)
	if err != nil {
		return domain.Entry{}, err
	}
	return r.toDomain()
}

// encodeTags keeps the editor's order, which entry_tags cannot.
func encodeTags(tags []string) (string, error) {
	if tags == nil {
		tags = []string{}
	}
	b, err := json.Marshal(tags)
	return string(b), err
}

// nullTimestamp is a nullable time in UTC, to the microsecond: SQLite compares
// times as text, which only orders times written alike.
func nullTimestamp(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: domain.Timestamp(*t), Valid: true}
}

// nullCover is the entry's cover_media_id: NULL without a cover, so that
// its foreign key to media is not checked.
func nullCover(e domain.Entry) sql.NullString {
	m := e.CoverMedia()
	return sql.NullString{String: string(m), Valid: m != ""}
}

// Add inserts the entry and its tags. A unique violation can only be the
// slug: IDs are random enough never to collide.
func (s entryStore) Add(ctx context.Context, e domain.Entry) error {
	tags, err := encodeTags(e.Tags())
	if err != nil {
		return fmt.Errorf("add entry %s: tags: %w", e.ID(), err)
	}
	seo, r := e.SEO(), e.Rendered()
	_, err = s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO entries (id, workspace_id, kind, slug, title, body, body_html, body_text,
		excerpt, tags, cover_image_url, seo_title, seo_description, status, publish_at, published_at, author_id, search_text,
		created_at, updated_at, version, nav_order, locale, translation_group, cover_media_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		string(e.ID()), e.Workspace().String(), e.Kind().String(), e.Slug(), e.Title(), e.Body(), r.HTML, r.Text,
		e.ExcerptWritten(), tags, e.CoverImageURL(), seo.Title, seo.Description, e.Status().String(),
		nullTimestamp(e.PublishAt()), nullTimestamp(e.PublishedAt()), string(e.Author()), domain.SearchText(e),
		domain.Timestamp(e.CreatedAt()), domain.Timestamp(e.UpdatedAt()), e.Version(), e.NavOrder(), e.Locale().String(), nullGroup(e), nullCover(e))
	if s.d.uniqueViolation(err) {
		return domain.ErrEntrySlugTaken
	}
	if err == nil {
		err = s.addTags(ctx, e)
	}
	if err != nil {
		return fmt.Errorf("add entry %s: %w", e.ID(), err)
	}
	return nil
}

// addTags inserts the entry's tag rows, keyed by slug, in one statement:
// at most domain.MaxTags of them, well below every engine's parameter
// limit. It skips a repeated slug, which an entry stored before tags
// had slugs may carry ("a b" and "a-b"), and adds the workspace's tags
// that are new (tagStore.ensureTags).
func (s entryStore) addTags(ctx context.Context, e domain.Entry) error {
	var tags []string
	for _, t := range e.TagSlugs() {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return nil
	}
	if err := tagStore(s).ensureTags(ctx, e); err != nil {
		return err
	}
	args := make([]any, 0, 3*len(tags))
	for _, t := range tags {
		args = append(args, string(e.ID()), e.Workspace().String(), t)
	}
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO entry_tags (entry_id, workspace_id, tag) VALUES (?, ?, ?)`+
		strings.Repeat(`, (?, ?, ?)`, len(tags)-1)), args...)
	if err != nil {
		return fmt.Errorf("tags: %w", err)
	}
	return nil
}

func (s entryStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID) (domain.Entry, error) {
	e, err := scanEntry(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+entryColumns+` FROM entries e WHERE e.workspace_id = ? AND e.id = ?`),
		ws.String(), string(id)))
	if isNoRows(err) {
		return domain.Entry{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Entry{}, fmt.Errorf("get entry %s: %w", id, err)
	}
	return e, nil
}

// Update writes every column but kind and created_at, which never change,
// when the stored version is still prevVersion. When no row matches, a
// second look tells a stale version from a missing entry.
func (s entryStore) Update(ctx context.Context, e domain.Entry, prevVersion int) error {
	tags, err := encodeTags(e.Tags())
	if err != nil {
		return fmt.Errorf("update entry %s: tags: %w", e.ID(), err)
	}
	seo, r := e.SEO(), e.Rendered()
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE entries SET slug = ?, title = ?, body = ?, body_html = ?, body_text = ?,
		excerpt = ?, tags = ?, cover_image_url = ?, seo_title = ?, seo_description = ?, status = ?, publish_at = ?, published_at = ?,
		author_id = ?, search_text = ?, updated_at = ?, version = ?, nav_order = ?, locale = ?, translation_group = ?, cover_media_id = ?
		WHERE workspace_id = ? AND id = ? AND version = ?`),
		e.Slug(), e.Title(), e.Body(), r.HTML, r.Text, e.ExcerptWritten(), tags, e.CoverImageURL(), seo.Title, seo.Description,
		e.Status().String(), nullTimestamp(e.PublishAt()), nullTimestamp(e.PublishedAt()), string(e.Author()), domain.SearchText(e),
		domain.Timestamp(e.UpdatedAt()), e.Version(), e.NavOrder(), e.Locale().String(), nullGroup(e), nullCover(e), e.Workspace().String(), string(e.ID()), prevVersion)
	if s.d.uniqueViolation(err) {
		return domain.ErrEntrySlugTaken
	}
	if err != nil {
		return fmt.Errorf("update entry %s: %w", e.ID(), err)
	}
	if err := affected(res); err != nil {
		if !errors.Is(err, domain.ErrNotFound) {
			return fmt.Errorf("update entry %s: %w", e.ID(), err)
		}
		var one int
		err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM entries WHERE workspace_id = ? AND id = ?`),
			e.Workspace().String(), string(e.ID())).Scan(&one)
		switch {
		case isNoRows(err):
			return domain.ErrNotFound
		case err != nil:
			return fmt.Errorf("update entry %s: %w", e.ID(), err)
		}
		return domain.ErrVersionConflict
	}
	_, err = s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM entry_tags WHERE entry_id = ?`), string(e.ID()))
	if err == nil {
		err = s.addTags(ctx, e)
	}
	if err != nil {
		return fmt.Errorf("update entry %s: %w", e.ID(), err)
	}
	return nil
}

// Delete removes the entry; the foreign keys cascade to its tags and
// revisions, and on SQLite a trigger drops it from the full-text index.
func (s entryStore) Delete(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID) error {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM entries WHERE workspace_id = ? AND id = ?`), ws.String(), string(id))
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("delete entry %s: %w", id, err)
	}
	return nil
}

// tagCondition narrows to the entries with tag through entry_tags.
const tagCondition = ` AND e.id IN (SELECT entry_id FROM entry_tags WHERE workspace_id = ? AND tag = ?)`

func (s entryStore) List(ctx context.Context, ws domain.WorkspaceID, f ports.EntryFilter, p ports.Page) ([]domain.Entry, string, error) {
	cond, args := `e.workspace_id = ?`, []any{ws.String()}
	if f.Kind != nil {
		cond, args = cond+` AND e.kind = ?`, append(args, f.Kind.String())
	}
	if f.Status != nil {
		cond, args = cond+` AND e.status = ?`, append(args, f.Status.String())
	}
	if f.Tag != "" {
		cond, args = cond+tagCondition, append(args, ws.String(), f.Tag)
	}
	if words := domain.SearchQuery(f.Query); len(words) > 0 {
		es, next, err := s.search(ctx, cond, args, words, p)
		if err != nil {
			return nil, "", fmt.Errorf("search entries of %s: %w", ws, err)
		}
		return es, next, nil
	}
	limit, err := pageOf(p, domain.PrefixEntry)
	if err != nil {
		return nil, "", err
	}
	if p.After != "" {
		cond, args = cond+` AND e.id < ?`, append(args, p.After)
	}
	// Bodies can be large, and this listing returns them: it reads the
	// candidates' sizes first and then only the rows that fit (fitPage).
	cands, err := queryAll(ctx, s.q, s.d.rebind(`SELECT e.id, octet_length(e.body) + octet_length(e.body_html) + octet_length(e.body_text)
		FROM entries e WHERE `+cond+` ORDER BY e.id DESC LIMIT ?`), scanSized, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list entries of %s: %w", ws, err)
	}
	n := fitPage(cands, limit)
	if n == 0 {
		return nil, "", nil
	}
	last := cands[n-1].key
	es, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+entryColumns+` FROM entries e WHERE `+cond+` AND e.id >= ? ORDER BY e.id DESC LIMIT ?`),
		scanEntry, append(args, last, n)...)
	if err != nil {
		return nil, "", fmt.Errorf("list entries of %s: %w", ws, err)
	}
	if n == len(cands) {
		return es, "", nil
	}
	if len(es) > 0 { // a row may come or go between the reads outside a snapshot
		last = string(es[len(es)-1].ID())
	}
	return es, last, nil
}

// search lists the entries that meet cond and match every word, best match
// first and, among equals, newest first. Its cursor counts the entries
// already returned: a score is no column a cursor could point into.
func (s entryStore) search(ctx context.Context, cond string, args []any, words []string, p ports.Page) ([]domain.Entry, string, error) {
	offset, err := offsetOf(p.After)
	if err != nil {
		return nil, "", err
	}
	limit := p.Size()
	// The subquery ranks the matches and picks the page by id alone, which
	// on SQLite the entries_search_filter index answers without reading a
	// row; only the page's rows are then read whole. Ranking whole rows
	// read every match's body from overflow pages and sorted all its
	// columns (BENCHMARKS.md, "Where search's time goes").
	from, match, score, query := s.d.search(words)
	// A search is CPU-bound inside SQLite: more of them at once than there
	// are CPUs only share the CPUs in thinner slices and stretch every one.
	// Queued, they finish in turn: the slowest searches get faster and
	// throughput holds (BENCHMARKS.md, issue 5).
	if s.searches != nil {
		select {
		case s.searches <- struct{}{}:
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
		defer func() { <-s.searches }()
	}
	q := s.q
	if s.searchPool != nil {
		q = s.searchPool // SQLite's search pool (DB.searchSQL)
	}
	es, err := queryAll(ctx, q, s.d.rebind(`SELECT `+entryColumns+` FROM (
		SELECT e.id AS id, `+score+` AS score FROM`+from+`
		WHERE `+match+` AND `+cond+` ORDER BY score DESC, e.id DESC LIMIT ? OFFSET ?
	) r JOIN entries e ON e.id = r.id ORDER BY r.score DESC, r.id DESC`),
		scanEntry, append(append([]any{query}, args...), limit+1, offset)...)
	if err != nil {
		return nil, "", err
	}
	if len(es) > limit {
		return es[:limit], offsetCursor(offset + limit), nil
	}
	return es, "", nil
}

// ClaimDue locks the due entries with SKIP LOCKED on PostgreSQL, so that
// schedulers on several nodes take disjoint ones; the caller publishes
// them before it commits, after which they no longer match. On SQLite the
// transaction holds the write lock from BEGIN, so claims run one at a time.
func (s entryStore) ClaimDue(ctx context.Context, now time.Time, limit int) ([]domain.Entry, error) {
	if limit < 1 {
		return nil, nil
	}
	es, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+entryColumns+` FROM entries e
		WHERE e.status = 'scheduled' AND e.publish_at <= ? ORDER BY e.publish_at, e.id LIMIT ?`+s.d.skipLocked()),
		scanEntry, domain.Timestamp(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim due entries: %w", err)
	}
	return es, nil
}

func (s entryStore) Published(ctx context.Context, ws domain.WorkspaceID, kind domain.EntryKind, slug string) (domain.Entry, error) {
	e, err := scanEntry(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+entryColumns+` FROM entries e
		WHERE e.workspace_id = ? AND e.kind = ? AND e.slug = ? AND e.status = 'published'`),
		ws.String(), kind.String(), slug))
	if isNoRows(err) {
		return domain.Entry{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Entry{}, fmt.Errorf("get published %s %q: %w", kind, slug, err)
	}
	return e, nil
}

// ListPublished pages by (published_at, id), newest first, which the
// entries_published index serves in order; the cursor carries both, so a
// page resumes in place even when the entry it ended on was unpublished
// since.
func (s entryStore) ListPublished(ctx context.Context, ws domain.WorkspaceID, kind domain.EntryKind, f ports.PublicFilter, p ports.Page) ([]domain.Entry, string, error) {
	cond, args := `e.workspace_id = ? AND e.kind = ? AND e.status = 'published'`, []any{ws.String(), kind.String()}
	if f.Tag != "" {
		cond, args = cond+tagCondition, append(args, ws.String(), f.Tag)
	}
	if f.Author != "" {
		cond, args = cond+` AND e.author_id = ?`, append(args, string(f.Author))
	}
	if f.UpdatedSince != nil {
		cond, args = cond+` AND e.updated_at >= ?`, append(args, domain.Timestamp(*f.UpdatedSince))
	}
	if len(f.Locales) > 0 {
		c, a := localeCondition(f.Locales)
		cond, args = cond+c, append(args, a...)
	}
	if words := domain.SearchQuery(f.Query); len(words) > 0 {
		es, next, err := s.search(ctx, cond, args, words, p)
		if err != nil {
			return nil, "", fmt.Errorf("search published entries of %s: %w", ws, err)
		}
		if n := fitBodies(es, len(es), f.WithBodies); n < len(es) {
			offset, _ := offsetOf(p.After) // search has checked it
			return es[:n], offsetCursor(offset + n), nil
		}
		return es, next, nil
	}
	// Pages follow the site's navigation order; posts, newest first.
	order, mark := `e.published_at DESC, e.id DESC`, publishedCursor
	if kind == domain.KindPage {
		order, mark = `e.nav_order, e.slug`, navCursor
	}
	if p.After != "" {
		if kind == domain.KindPage {
			n, slug, err := parseNavCursor(p.After)
			if err != nil {
				return nil, "", err
			}
			cond, args = cond+` AND (e.nav_order > ? OR (e.nav_order = ? AND e.slug > ?))`, append(args, n, n, slug)
		} else {
			at, id, err := parsePublishedCursor(p.After)
			if err != nil {
				return nil, "", err
			}
			cond, args = cond+` AND (e.published_at, e.id) < (?, ?)`, append(args, at, id)
		}
	}
	limit := p.Size()
	es, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+entryColumns+` FROM entries e WHERE `+cond+`
		ORDER BY `+order+` LIMIT ?`), scanEntry, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list published entries of %s: %w", ws, err)
	}
	if n := fitBodies(es, min(len(es), limit), f.WithBodies); n < len(es) {
		return es[:n], mark(es[n-1]), nil
	}
	return es, "", nil
}

// fitBodies is how many of the first n entries a page with bodies
// holds: up to the one that brings their bodies (EntryBytes) to
// MaxPageBytes. The rows are read already; the bound is on what the
// caller sends on, a page of whole bodies.
func fitBodies(es []domain.Entry, n int, withBodies bool) int {
	if !withBodies {
		return n
	}
	size := 0
	for i := range n {
		if size += ports.EntryBytes(es[i]); size >= ports.MaxPageBytes {
			return i + 1
		}
	}
	return n
}

// revisionContentJSON is the content column of entry_revisions.
type revisionContentJSON struct {
	Title          string   `json:"title"`
	Slug           string   `json:"slug"`
	Body           string   `json:"body"`
	Excerpt        string   `json:"excerpt"`
	Tags           []string `json:"tags"`
	CoverImageURL  string   `json:"cover_image_url"`
	CoverMediaID   string   `json:"cover_media_id,omitempty"`
	SEOTitle       string   `json:"seo_title"`
	SEODescription string   `json:"seo_description"`
	NavOrder       int      `json:"nav_order,omitempty"`
}

const revisionColumns = `entry_id, workspace_id, version, actor_kind, actor_id, at, content`

func scanRevision(sc scanner) (domain.Revision, error) {
	var r domain.Revision
	var entry, ws, content string
	if err := sc.Scan(&entry, &ws, &r.Version, &r.ActorKind, &r.ActorID, &r.At, &content); err != nil {
		return domain.Revision{}, err
	}
	var c revisionContentJSON
	if err := json.Unmarshal([]byte(content), &c); err != nil {
		return domain.Revision{}, fmt.Errorf("revision %d of %s: content: %w", r.Version, entry, err)
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	r.Entry, r.Workspace, r.At = domain.EntryID(entry), domain.WorkspaceID(ws), r.At.UTC()
	r.Content = domain.EntryContent{
		Title: c.Title, Slug: c.Slug, Body: c.Body, Excerpt: c.Excerpt, Tags: c.Tags, CoverImageURL: c.CoverImageURL,
		CoverMedia: domain.MediaID(c.CoverMediaID),
		SEO:        domain.SEO{Title: c.SEOTitle, Description: c.SEODescription}, NavOrder: c.NavOrder,
	}
	return r, nil
}

func (s entryStore) AddRevision(ctx context.Context, r domain.Revision) error {
	c := r.Content
	content, err := json.Marshal(revisionContentJSON{
		Title: c.Title, Slug: c.Slug, Body: c.Body, Excerpt: c.Excerpt, Tags: c.Tags, CoverImageURL: c.CoverImageURL,
		CoverMediaID: string(c.CoverMedia), SEOTitle: c.SEO.Title, SEODescription: c.SEO.Description, NavOrder: c.NavOrder,
	})
	if err != nil {
		return fmt.Errorf("add revision %d of %s: content: %w", r.Version, r.Entry, err)
	}
	_, err = s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO entry_revisions (`+revisionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		string(r.Entry), r.Workspace.String(), r.Version, r.ActorKind, r.ActorID, domain.Timestamp(r.At), string(content))
	if err != nil {
		return fmt.Errorf("add revision %d of %s: %w", r.Version, r.Entry, err)
	}
	return nil
}

func (s entryStore) Revisions(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID, p ports.Page) ([]domain.Revision, string, error) {
	cond, args := `workspace_id = ? AND entry_id = ?`, []any{ws.String(), string(id)}
	if p.After != "" {
		v, err := parseVersionCursor(p.After)
		if err != nil {
			return nil, "", err
		}
		cond, args = cond+` AND version < ?`, append(args, v)
	}
	// Each revision holds a whole body: the page is bounded by bytes as
	// List's is.
	limit := p.Size()
	cands, err := queryAll(ctx, s.q, s.d.rebind(`SELECT version, octet_length(content) FROM entry_revisions WHERE `+cond+` ORDER BY version DESC LIMIT ?`),
		scanSized, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list revisions of %s: %w", id, err)
	}
	n := fitPage(cands, limit)
	if n == 0 {
		return nil, "", nil
	}
	last, err := strconv.Atoi(cands[n-1].key)
	if err != nil {
		return nil, "", fmt.Errorf("list revisions of %s: version %q: %w", id, cands[n-1].key, err)
	}
	rs, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+revisionColumns+` FROM entry_revisions WHERE `+cond+` AND version >= ? ORDER BY version DESC LIMIT ?`),
		scanRevision, append(args, last, n)...)
	if err != nil {
		return nil, "", fmt.Errorf("list revisions of %s: %w", id, err)
	}
	if n == len(cands) {
		return rs, "", nil
	}
	if len(rs) > 0 {
		last = rs[len(rs)-1].Version
	}
	return rs, versionCursor(last), nil
}

func (s entryStore) Revision(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID, version int) (domain.Revision, error) {
	r, err := scanRevision(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+revisionColumns+` FROM entry_revisions
		WHERE workspace_id = ? AND entry_id = ? AND version = ?`), ws.String(), string(id), version))
	if isNoRows(err) {
		return domain.Revision{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Revision{}, fmt.Errorf("get revision %d of %s: %w", version, id, err)
	}
	return r, nil
}

// eventStore implements ports.EventStore.
type eventStore struct{ *stores }

// Add also queues the event's webhook deliveries (stores.deliveriesOf), in the
// same transaction, so that they exist exactly when the event does. It
// looks up the webhooks before it inserts anything, so that on PostgreSQL
// the event and its deliveries are held back together (pipeline) with the
// transaction's other held inserts.
func (s eventStore) Add(ctx context.Context, e domain.Event) error {
	ds, err := s.deliveriesOf(ctx, e)
	if err != nil {
		return fmt.Errorf("queue deliveries of event %s: %w", e.ID, err)
	}
	err = s.insertLater(ctx, `INSERT INTO events (id, workspace_id, type, subject, data, created_at) VALUES (?, ?, ?, ?, ?, ?)`, true,
		string(e.ID), e.Workspace.String(), e.Type, e.Subject, string(e.Data), domain.Timestamp(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("add event %s: %w", e.ID, err)
	}
	if err := s.insertDeliveries(ctx, ds); err != nil {
		return fmt.Errorf("queue deliveries of event %s: %w", e.ID, err)
	}
	return nil
}

// List pages in feed order, (xact, seq), which on SQLite is commit order
// (one writer at a time) and on PostgreSQL the order in which writing
// transactions took their IDs. feedHorizon hides, on PostgreSQL, the events
// a transaction still running could yet be sorted before. webhook.test
// events are not changes and are never listed; one can still serve as a
// cursor, as it keeps its place in feed order.
func (s eventStore) List(ctx context.Context, ws domain.WorkspaceID, typ string, p ports.Page) ([]domain.Event, string, error) {
	limit, err := pageOf(p, domain.PrefixEvent)
	if err != nil {
		return nil, "", err
	}
	cond, args := `workspace_id = ? AND type <> ?`+s.d.feedHorizon(), []any{ws.String(), domain.EventWebhookTest}
	if p.After != "" {
		var one int
		err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM events WHERE id = ? AND workspace_id = ?`), p.After, ws.String()).Scan(&one)
		if isNoRows(err) {
			return nil, "", domain.ErrCursorExpired
		}
		if err != nil {
			return nil, "", fmt.Errorf("find cursor %s of %s: %w", p.After, ws, err)
		}
		cond, args = cond+` AND (xact, seq) > (SELECT xact, seq FROM events WHERE id = ?)`, append(args, p.After)
	}
	if typ != "" {
		cond, args = cond+` AND type = ?`, append(args, typ)
	}
	es, err := queryAll(ctx, s.q, s.d.rebind(`SELECT id, workspace_id, type, subject, data, created_at FROM events WHERE `+cond+` ORDER BY xact, seq LIMIT ?`),
		func(sc scanner) (domain.Event, error) {
			var e domain.Event
			var id, ws, data string
			err := sc.Scan(&id, &ws, &e.Type, &e.Subject, &data, &e.CreatedAt)
			e.ID, e.Workspace, e.Data, e.CreatedAt = domain.EventID(id), domain.WorkspaceID(ws), []byte(data), e.CreatedAt.UTC()
			return e, err
		}, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list events of %s: %w", ws, err)
	}
	es, next := cut(es, limit, func(e domain.Event) string { return string(e.ID) })
	return es, next, nil
}

func (s eventStore) Redact(ctx context.Context, ws domain.WorkspaceID, subject string, data []byte) (int, error) {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE events SET data = ? WHERE workspace_id = ? AND subject = ?`), string(data), ws.String(), subject)
	if err != nil {
		return 0, fmt.Errorf("redact events of %s: %w", subject, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("redact events of %s: rows affected: %w", subject, err)
	}
	return int(n), nil
}

// RedactSubmissionsOf writes the redacted data here, as JSON built from
// the subject and form IDs, which are validated IDs and need no escaping:
// one statement, however many submissions the form holds.
func (s eventStore) RedactSubmissionsOf(ctx context.Context, ws domain.WorkspaceID, form domain.FormID) (int, error) {
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE events SET data = '{"id":"' || subject || '","form_id":"' || CAST(? AS TEXT) || '"}'
		WHERE workspace_id = ? AND subject IN (SELECT id FROM submissions WHERE workspace_id = ? AND form_id = ?)`),
		form.String(), ws.String(), ws.String(), form.String())
	if err != nil {
		return 0, fmt.Errorf("redact events of the submissions of %s: %w", form, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("redact events of the submissions of %s: rows affected: %w", form, err)
	}
	return int(n), nil
}

// DeleteCreatedBefore keeps each workspace's last event in feed order,
// however old: it is the cursor of a reader that has seen everything, and
// deleting it would expire that cursor although nothing was missed. The
// feed does not list webhook.test events, so none is a cursor: the last
// kept is the last of the others, and old webhook.test events all go.
// It also deletes up to limit ended webhook deliveries created before t.
func (s eventStore) DeleteCreatedBefore(ctx context.Context, t time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	deliveries, err := s.deleteEndedDeliveries(ctx, t, limit)
	if err != nil {
		return 0, err
	}
	res, err := s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM events WHERE id IN (
		SELECT e.id FROM events e WHERE e.created_at < ? AND (e.type = ?
			OR EXISTS (SELECT 1 FROM events n WHERE n.workspace_id = e.workspace_id AND (n.xact, n.seq) > (e.xact, e.seq) AND n.type <> ?))
		ORDER BY e.created_at LIMIT ?)`), domain.Timestamp(t), domain.EventWebhookTest, domain.EventWebhookTest, limit)
	if err != nil {
		return 0, fmt.Errorf("delete events before %s: %w", t, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete events before %s: rows affected: %w", t, err)
	}
	return int(n) + deliveries, nil
}
