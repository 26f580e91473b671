package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keelhq/keel/adapters/internal/cursor"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// tagStore implements ports.TagStore.
type tagStore struct{ *stores }

// Put upserts the tag on its slug, then writes its name into the tags
// of the entries that carry it with another spelling, so that a renamed
// tag reads the same on every post.
func (s tagStore) Put(ctx context.Context, t domain.Tag, now time.Time) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO tags (workspace_id, slug, name, description) VALUES (?, ?, ?, ?)
		ON CONFLICT (workspace_id, slug) DO UPDATE SET name = excluded.name, description = excluded.description`),
		t.Workspace.String(), t.Slug, t.Name, t.Description)
	if err != nil {
		return fmt.Errorf("put tag %q of %s: %w", t.Slug, t.Workspace, err)
	}
	type entryTags struct{ id, tags string }
	es, err := queryAll(ctx, s.q, s.d.rebind(`SELECT e.id, e.tags FROM entries e
		WHERE e.id IN (SELECT entry_id FROM entry_tags WHERE workspace_id = ? AND tag = ?)`),
		func(sc scanner) (entryTags, error) {
			var r entryTags
			return r, sc.Scan(&r.id, &r.tags)
		}, t.Workspace.String(), t.Slug)
	if err != nil {
		return fmt.Errorf("put tag %q of %s: entries: %w", t.Slug, t.Workspace, err)
	}
	for _, e := range es {
		var names []string
		if err := json.Unmarshal([]byte(e.tags), &names); err != nil {
			return fmt.Errorf("put tag %q: entry %s: tags: %w", t.Slug, e.id, err)
		}
		changed := false
		for i, n := range names {
			if domain.TagSlug(n) == t.Slug && n != t.Name {
				names[i], changed = t.Name, true
			}
		}
		if !changed {
			continue
		}
		enc, err := encodeTags(names)
		if err == nil {
			_, err = s.q.ExecContext(ctx, s.d.rebind(`UPDATE entries SET tags = ?, updated_at = ? WHERE id = ?`), enc, domain.Timestamp(now), e.id)
		}
		if err != nil {
			return fmt.Errorf("put tag %q: entry %s: %w", t.Slug, e.id, err)
		}
	}
	return nil
}

// ensureTags adds the entry's tags that its workspace lacks, named as the
// entry spells them; existing tags keep their names.
func (s tagStore) ensureTags(ctx context.Context, e domain.Entry) error {
	for _, name := range e.Tags() {
		_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO tags (workspace_id, slug, name) VALUES (?, ?, ?)
			ON CONFLICT (workspace_id, slug) DO NOTHING`), e.Workspace().String(), domain.TagSlug(name), name)
		if err != nil {
			return fmt.Errorf("tag %q: %w", name, err)
		}
	}
	return nil
}

func (s tagStore) Get(ctx context.Context, ws domain.WorkspaceID, slug string) (domain.Tag, error) {
	t := domain.Tag{Workspace: ws, Slug: slug}
	err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT name, description FROM tags WHERE workspace_id = ? AND slug = ?`),
		ws.String(), slug).Scan(&t.Name, &t.Description)
	if isNoRows(err) {
		return domain.Tag{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Tag{}, fmt.Errorf("get tag %q of %s: %w", slug, ws, err)
	}
	return t, nil
}

// publishedPosts counts a tag's published posts through entry_tags'
// index, reading only the entries' status and kind.
const publishedPosts = `(SELECT count(*) FROM entry_tags et JOIN entries e ON e.id = et.entry_id
	WHERE et.workspace_id = t.workspace_id AND et.tag = t.slug AND e.kind = 'post' AND e.status = 'published')`

func scanTagCount(ws domain.WorkspaceID) func(sc scanner) (domain.TagCount, error) {
	return func(sc scanner) (domain.TagCount, error) {
		c := domain.TagCount{Tag: domain.Tag{Workspace: ws}}
		err := sc.Scan(&c.Tag.Slug, &c.Tag.Name, &c.Tag.Description, &c.Posts)
		return c, err
	}
}

func (s tagStore) List(ctx context.Context, ws domain.WorkspaceID, publishedOnly bool, p ports.Page) ([]domain.TagCount, string, error) {
	cond, args := `t.workspace_id = ?`, []any{ws.String()}
	if p.After != "" {
		f, ok := cursor.Decode(p.After, cursorSlug, 1)
		if !ok {
			return nil, "", ports.ErrInvalidCursor
		}
		cond, args = cond+` AND t.slug > ?`, append(args, f[0])
	}
	if publishedOnly {
		cond += ` AND ` + publishedPosts + ` > 0`
	}
	limit := p.Size()
	ts, err := queryAll(ctx, s.q, s.d.rebind(`SELECT t.slug, t.name, t.description, `+publishedPosts+` FROM tags t
		WHERE `+cond+` ORDER BY t.slug LIMIT ?`), scanTagCount(ws), append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list tags of %s: %w", ws, err)
	}
	ts, next := cut(ts, limit, func(c domain.TagCount) string { return cursor.Encode(cursorSlug, c.Tag.Slug) })
	return ts, next, nil
}

func (s tagStore) Count(ctx context.Context, ws domain.WorkspaceID, slug string) (domain.TagCount, error) {
	c, err := scanTagCount(ws)(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT t.slug, t.name, t.description, `+publishedPosts+` FROM tags t
		WHERE t.workspace_id = ? AND t.slug = ?`), ws.String(), slug))
	if isNoRows(err) {
		return domain.TagCount{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.TagCount{}, fmt.Errorf("count tag %q of %s: %w", slug, ws, err)
	}
	return c, nil
}
