package inmem

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keelhq/keel/adapters/internal/cursor"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// storedEntry is an entry and the words search finds it by, as sqlstore's
// search_text column holds them.
type storedEntry struct {
	e      domain.Entry
	search string
}

// revisionKey names a revision as sqlstore's primary key does.
type revisionKey struct {
	entry   domain.EntryID
	version int
}

type entryStore struct{ tx *stores }

// copyEntry gives e tags and times of its own.
func copyEntry(e domain.Entry) domain.Entry { return domain.RehydrateEntry(e.Record()) }

// copyRevision gives r tags of its own and, like the databases, keeps its
// time to the microsecond in UTC.
func copyRevision(r domain.Revision) domain.Revision {
	r.Content.Tags = slices.Clone(r.Content.Tags)
	if r.Content.Tags == nil {
		r.Content.Tags = []string{}
	}
	r.At = domain.Timestamp(r.At)
	return r
}

// slugUsed reports whether another entry of e's workspace and kind has
// e's slug, which sqlstore's UNIQUE constraint refuses.
func (s entryStore) slugUsed(e domain.Entry) bool {
	for o := range maps.Values(s.tx.s.entries) {
		if o.e.ID() != e.ID() && o.e.Workspace() == e.Workspace() && o.e.Kind() == e.Kind() && o.e.Slug() == e.Slug() {
			return true
		}
	}
	return false
}

// Add stores e; its workspace must exist, as sqlstore's foreign key
// demands.
func (s entryStore) Add(ctx context.Context, e domain.Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := s.tx.s.workspaces[e.Workspace()]; !ok {
		return fmt.Errorf("add entry %s: no such workspace %s", e.ID(), e.Workspace())
	}
	if _, dup := s.tx.s.entries[e.ID()]; dup {
		return fmt.Errorf("add entry %s: duplicate ID", e.ID())
	}
	if s.slugUsed(e) {
		return domain.ErrEntrySlugTaken
	}
	s.tx.s.entries[e.ID()] = storedEntry{e: copyEntry(e), search: domain.SearchText(e)}
	return nil
}

func (s entryStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID) (domain.Entry, error) {
	if err := ctx.Err(); err != nil {
		return domain.Entry{}, err
	}
	se, ok := s.tx.s.entries[id]
	if !ok || se.e.Workspace() != ws {
		return domain.Entry{}, domain.ErrNotFound
	}
	return copyEntry(se.e), nil
}

// Update checks what sqlstore's UPDATE … WHERE version = ? checks, in the
// same order: a missing entry, then a stale version, then the slug.
func (s entryStore) Update(ctx context.Context, e domain.Entry, prevVersion int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	old, ok := s.tx.s.entries[e.ID()]
	switch {
	case !ok || old.e.Workspace() != e.Workspace():
		return domain.ErrNotFound
	case old.e.Version() != prevVersion:
		return domain.ErrVersionConflict
	case s.slugUsed(e):
		return domain.ErrEntrySlugTaken
	}
	// The kind and the creation time never change, as in sqlstore.
	r := e.Record()
	r.Kind, r.CreatedAt = old.e.Kind(), old.e.CreatedAt()
	stored := domain.RehydrateEntry(r)
	s.tx.s.entries[e.ID()] = storedEntry{e: stored, search: domain.SearchText(stored)}
	return nil
}

// Delete removes the entry with its revisions.
func (s entryStore) Delete(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	se, ok := s.tx.s.entries[id]
	if !ok || se.e.Workspace() != ws {
		return domain.ErrNotFound
	}
	s.tx.deleteEntries(func(e domain.Entry) bool { return e.ID() == id })
	return nil
}

// deleteEntries deletes the entries del selects with their revisions.
func (tx *stores) deleteEntries(del func(domain.Entry) bool) {
	maps.DeleteFunc(tx.s.entries, func(_ domain.EntryID, se storedEntry) bool { return del(se.e) })
	maps.DeleteFunc(tx.s.revisions, func(k revisionKey, _ domain.Revision) bool {
		_, ok := tx.s.entries[k.entry]
		return !ok
	})
}

// deleteContent deletes a workspace's entries, revisions and events, as
// the foreign keys' ON DELETE CASCADE does in sqlstore.
func (tx *stores) deleteContent(ws domain.WorkspaceID) {
	tx.deleteEntries(func(e domain.Entry) bool { return e.Workspace() == ws })
	maps.DeleteFunc(tx.s.events, func(_ domain.EventID, e domain.Event) bool { return e.Workspace == ws })
}

func (s entryStore) List(ctx context.Context, ws domain.WorkspaceID, f ports.EntryFilter, p ports.Page) ([]domain.Entry, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	found := s.find(func(e domain.Entry) bool {
		return e.Workspace() == ws && (f.Kind == nil || e.Kind() == *f.Kind) && (f.Status == nil || e.Status() == *f.Status) &&
			(f.Tag == "" || slices.Contains(e.Tags(), f.Tag))
	}, f.Query)
	if found.words != nil {
		return found.page(p)
	}
	id := func(e domain.Entry) string { return string(e.ID()) }
	page, next, err := paginate(found.entries, id, domain.PrefixEntry, p, true)
	if err != nil {
		return nil, "", err
	}
	page, next = fitBytes(page, next, ports.EntryBytes, id)
	return page, next, nil
}

// matches are the entries a listing selected: with a query (words not
// nil), only those it matches, each with its score.
type matches struct {
	words   []string
	entries []domain.Entry
	scores  map[domain.EntryID]int
}

// find selects the entries keep accepts and, when query has words, that
// match every one of them as a prefix, as domain.MatchesSearch says.
func (s entryStore) find(keep func(domain.Entry) bool, query string) matches {
	m := matches{scores: map[domain.EntryID]int{}}
	if words := domain.SearchQuery(query); len(words) > 0 {
		m.words = words
	}
	for se := range maps.Values(s.tx.s.entries) {
		if !keep(se.e) || !domain.MatchesSearch(se.search, m.words) {
			continue
		}
		m.entries = append(m.entries, copyEntry(se.e))
		m.scores[se.e.ID()] = score(se.search, m.words)
	}
	return m
}

// score counts the words of text that a query word starts, relative to
// the text's length as bm25 and ts_rank weigh them roughly: a short title
// that matches beats a long body that mentions the word once. Only the
// order it gives among matches matters, and only the set is part of the
// contract.
func score(text string, query []string) int {
	words := strings.Fields(text)
	hits := 0
	for _, w := range words {
		for _, q := range query {
			if strings.HasPrefix(w, q) {
				hits++
			}
		}
	}
	return hits * 1000 / (len(words) + 10)
}

// page orders the matches best first, newest first among equals, and
// returns the page p asks for; its cursor counts the entries returned.
func (m matches) page(p ports.Page) ([]domain.Entry, string, error) {
	offset, err := offsetOf(p.After)
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(m.entries, func(a, b domain.Entry) int {
		return cmp.Or(cmp.Compare(m.scores[b.ID()], m.scores[a.ID()]), strings.Compare(string(b.ID()), string(a.ID())))
	})
	rest := m.entries[min(offset, len(m.entries)):]
	if limit := p.Size(); len(rest) > limit {
		return rest[:limit], offsetCursor(offset + limit), nil
	}
	return rest, "", nil
}

// ClaimDue returns the scheduled entries due at now, earliest first.
// Transactions run one at a time here, so no two claims can overlap.
func (s entryStore) ClaimDue(ctx context.Context, now time.Time, limit int) ([]domain.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now = domain.Timestamp(now)
	var due []domain.Entry
	for se := range maps.Values(s.tx.s.entries) {
		if at := se.e.PublishAt(); se.e.Status() == domain.EntryScheduled && at != nil && !at.After(now) {
			due = append(due, copyEntry(se.e))
		}
	}
	slices.SortFunc(due, func(a, b domain.Entry) int {
		return cmp.Or(a.PublishAt().Compare(*b.PublishAt()), strings.Compare(string(a.ID()), string(b.ID())))
	})
	return due[:min(len(due), max(limit, 0))], nil
}

func (s entryStore) Published(ctx context.Context, ws domain.WorkspaceID, kind domain.EntryKind, slug string) (domain.Entry, error) {
	if err := ctx.Err(); err != nil {
		return domain.Entry{}, err
	}
	for se := range maps.Values(s.tx.s.entries) {
		if e := se.e; e.Workspace() == ws && e.Kind() == kind && e.Slug() == slug && e.Status() == domain.EntryPublished {
			return copyEntry(e), nil
		}
	}
	return domain.Entry{}, domain.ErrNotFound
}

// publishedAt is the time the public listing sorts by. A published entry
// always has one; the Unix epoch stands in otherwise, as in sqlstore's
// cursors.
func publishedAt(e domain.Entry) time.Time {
	if t := e.PublishedAt(); t != nil {
		return *t
	}
	return time.UnixMicro(0).UTC()
}

func (s entryStore) ListPublished(ctx context.Context, ws domain.WorkspaceID, kind domain.EntryKind, f ports.PublicFilter, p ports.Page) ([]domain.Entry, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	found := s.find(func(e domain.Entry) bool {
		return e.Workspace() == ws && e.Kind() == kind && e.Status() == domain.EntryPublished && (f.Tag == "" || slices.Contains(e.Tags(), f.Tag))
	}, f.Query)
	if found.words != nil {
		return found.page(p)
	}
	es := found.entries
	slices.SortFunc(es, func(a, b domain.Entry) int {
		return cmp.Or(publishedAt(b).Compare(publishedAt(a)), strings.Compare(string(b.ID()), string(a.ID())))
	})
	if p.After != "" {
		at, id, err := parsePublishedCursor(p.After)
		if err != nil {
			return nil, "", err
		}
		es = slices.DeleteFunc(es, func(e domain.Entry) bool { // the cursor's entry and those before it
			c := publishedAt(e).Compare(at)
			return c > 0 || (c == 0 && e.ID() >= id)
		})
	}
	if limit := p.Size(); len(es) > limit {
		return es[:limit], publishedCursor(es[limit-1]), nil
	}
	return es, "", nil
}

// AddRevision stores r; its entry must exist, as sqlstore's foreign key
// demands, and hold no revision of the same version.
func (s entryStore) AddRevision(ctx context.Context, r domain.Revision) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := s.tx.s.entries[r.Entry]; !ok {
		return fmt.Errorf("add revision %d of %s: no such entry", r.Version, r.Entry)
	}
	k := revisionKey{r.Entry, r.Version}
	if _, dup := s.tx.s.revisions[k]; dup {
		return fmt.Errorf("add revision %d of %s: duplicate version", r.Version, r.Entry)
	}
	s.tx.s.revisions[k] = copyRevision(r)
	return nil
}

func (s entryStore) Revisions(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID, p ports.Page) ([]domain.Revision, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	before := 0
	if p.After != "" {
		v, err := parseVersionCursor(p.After)
		if err != nil {
			return nil, "", err
		}
		before = v
	}
	var rs []domain.Revision
	for k, r := range s.tx.s.revisions {
		if k.entry == id && r.Workspace == ws && (before == 0 || k.version < before) {
			rs = append(rs, copyRevision(r))
		}
	}
	slices.SortFunc(rs, func(a, b domain.Revision) int { return cmp.Compare(b.Version, a.Version) })
	next := ""
	if limit := p.Size(); len(rs) > limit {
		rs, next = rs[:limit], versionCursor(rs[limit-1].Version)
	}
	rs, next = fitBytes(rs, next, ports.RevisionBytes, func(r domain.Revision) string { return versionCursor(r.Version) })
	return rs, next, nil
}

func (s entryStore) Revision(ctx context.Context, ws domain.WorkspaceID, id domain.EntryID, version int) (domain.Revision, error) {
	if err := ctx.Err(); err != nil {
		return domain.Revision{}, err
	}
	r, ok := s.tx.s.revisions[revisionKey{id, version}]
	if !ok || r.Workspace != ws {
		return domain.Revision{}, domain.ErrNotFound
	}
	return copyRevision(r), nil
}

type eventStore struct{ tx *stores }

// Add queues e; its workspace must exist, as sqlstore's foreign key
// demands.
func (s eventStore) Add(ctx context.Context, e domain.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := s.tx.s.workspaces[e.Workspace]; !ok {
		return fmt.Errorf("add event %s: no such workspace %s", e.ID, e.Workspace)
	}
	if _, dup := s.tx.s.events[e.ID]; dup {
		return fmt.Errorf("add event %s: duplicate ID", e.ID)
	}
	s.tx.s.events[e.ID] = copyDomainEvent(e)
	return nil
}

// copyDomainEvent gives e data of its own, its time as the databases keep it.
func copyDomainEvent(e domain.Event) domain.Event {
	e.Data = slices.Clone(e.Data)
	e.CreatedAt = domain.Timestamp(e.CreatedAt)
	return e
}

func (s eventStore) List(ctx context.Context, ws domain.WorkspaceID, p ports.Page) ([]domain.Event, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	var es []domain.Event
	for e := range maps.Values(s.tx.s.events) {
		if e.Workspace == ws {
			es = append(es, copyDomainEvent(e))
		}
	}
	return paginate(es, func(e domain.Event) string { return string(e.ID) }, domain.PrefixEvent, p, false)
}

func offsetCursor(n int) string { return cursor.Encode("o", strconv.Itoa(n)) }

func offsetOf(after string) (int, error) {
	if after == "" {
		return 0, nil
	}
	f, ok := cursor.Decode(after, "o", 1)
	if !ok {
		return 0, ports.ErrInvalidCursor
	}
	n, ok := cursor.Natural(f[0], 1<<20)
	if !ok {
		return 0, ports.ErrInvalidCursor
	}
	return n, nil
}

func publishedCursor(e domain.Entry) string {
	return cursor.Encode("p", strconv.FormatInt(publishedAt(e).UnixMicro(), 10), string(e.ID()))
}

func parsePublishedCursor(s string) (time.Time, domain.EntryID, error) {
	f, ok := cursor.Decode(s, "p", 2)
	if !ok {
		return time.Time{}, "", ports.ErrInvalidCursor
	}
	us, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || us < 0 || strconv.FormatInt(us, 10) != f[0] || !domain.ValidID(domain.PrefixEntry, f[1]) {
		return time.Time{}, "", ports.ErrInvalidCursor
	}
	return time.UnixMicro(us).UTC(), domain.EntryID(f[1]), nil
}

func versionCursor(v int) string { return cursor.Encode("v", strconv.Itoa(v)) }

func parseVersionCursor(s string) (int, error) {
	f, ok := cursor.Decode(s, "v", 1)
	if !ok {
		return 0, ports.ErrInvalidCursor
	}
	v, ok := cursor.Natural(f[0], 1<<31-1)
	if !ok || v < 1 {
		return 0, ports.ErrInvalidCursor
	}
	return v, nil
}
