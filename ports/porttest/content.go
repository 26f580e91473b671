package porttest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

var author = domain.UserID(domain.NewID(domain.PrefixUser, t0))

func entries(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	// Editors choose how large a body is, and List and Revisions return
	// bodies: their pages end after the entry or revision that brings
	// them to MaxPageBytes, and hold one that alone is larger.
	t.Run("ListAndRevisionsEndAtMaxPageBytes", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		sizes := []int{10, ports.MaxPageBytes / 5, 10, ports.MaxPageBytes / 5, domain.MaxBodyBytes, 10, ports.MaxPageBytes / 5, 10}
		var ids []string
		e := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Revised"})
		addEntry(t, uow, e)
		var versions []string
		for i, n := range sizes {
			body := strings.Repeat("x", n)
			other := mustEntry(t, ws.ID(), domain.KindPage, domain.EntryContent{Title: fmt.Sprintf("Page %d", i), Body: body})
			ids = append(ids, string(addEntry(t, uow, other).ID()))
			prev := e.Version()
			c := e.Content()
			c.Body = body
			if err := e.Revise(c, domain.Rendered{HTML: body, Text: body}, t0); err != nil {
				t.Fatal(err)
			}
			updateEntry(t, uow, e, prev)
			versions = append([]string{strconv.Itoa(addRevision(t, uow, e).Version)}, versions...)
		}
		slices.Sort(ids)
		slices.Reverse(ids)
		kind := domain.KindPage
		listAll := func(list func(ports.Stores, ports.Page) ([]string, []int, string, error)) ([]string, int) {
			t.Helper()
			var got []string
			page, pages := ports.Page{}, 0
			for {
				var keys []string
				var sizes []int
				var next string
				run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
					keys, sizes, next, err = list(st, page)
					return err
				})
				pages++
				if len(keys) == 0 {
					t.Fatalf("page %d is empty", pages)
				}
				if before := sumInts(sizes[:len(sizes)-1]); before >= ports.MaxPageBytes {
					t.Errorf("page %d: %d items, %d bytes before the last: past MaxPageBytes", pages, len(keys), before)
				}
				got = append(got, keys...)
				if next == "" {
					return got, pages
				}
				page.After = next
			}
		}
		got, pages := listAll(func(st ports.Stores, p ports.Page) ([]string, []int, string, error) {
			es, next, err := st.Entries().List(t.Context(), ws.ID(), ports.EntryFilter{Kind: &kind}, p)
			var sizes []int
			for _, e := range es {
				sizes = append(sizes, ports.EntryBytes(e))
			}
			return idsOf(es, entryID), sizes, next, err
		})
		if !slices.Equal(got, ids) || pages < 2 {
			t.Errorf("List: %d pages listed %v\nwant %v in at least 2", pages, got, ids)
		}
		got, pages = listAll(func(st ports.Stores, p ports.Page) ([]string, []int, string, error) {
			rs, next, err := st.Entries().Revisions(t.Context(), ws.ID(), e.ID(), p)
			var keys []string
			var sizes []int
			for _, r := range rs {
				keys, sizes = append(keys, strconv.Itoa(r.Version)), append(sizes, ports.RevisionBytes(r))
			}
			return keys, sizes, next, err
		})
		if !slices.Equal(got, versions) || pages < 2 {
			t.Errorf("Revisions: %d pages listed %v\nwant %v in at least 2", pages, got, versions)
		}
	})
	t.Run("AddGetUpdateDelete", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		e := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{
			Title: "Crème brûlée", Body: "# Custard\n\nWith *burnt* sugar.", Excerpt: "A dessert.", Tags: []string{"Dessert", "french"},
			CoverImageURL: "https://example.com/c.jpg?w=1&h=2", SEO: domain.SEO{Title: "Brûlée <SEO>", Description: `"Quoted" & more`},
		})
		addEntry(t, uow, e)
		if got := getEntry(t, uow, ws.ID(), e.ID()); entryView(got) != entryView(e) {
			t.Errorf("Get = %s\nwant %s", entryView(got), entryView(e))
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Entries().Get(ctx, other.ID(), e.ID())
			wantErr(t, "Get(other workspace)", err, domain.ErrNotFound)
			_, err = st.Entries().Get(ctx, ws.ID(), domain.EntryID(domain.NewID(domain.PrefixEntry, t0)))
			wantErr(t, "Get(unknown)", err, domain.ErrNotFound)
			return nil
		})

		// Revise, schedule, then publish: every column changes at least once.
		prev := e.Version()
		c := e.Content()
		c.Title, c.Slug, c.Body, c.Excerpt, c.Tags, c.CoverImageURL, c.SEO = "Crème caramel", "creme-caramel", "Caramel.", "", []string{"b", "a"}, "", domain.SEO{}
		if err := e.Revise(c, domain.Rendered{HTML: "<p>Caramel.</p>", Text: "Caramel."}, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		updateEntry(t, uow, e, prev)
		if got := getEntry(t, uow, ws.ID(), e.ID()); entryView(got) != entryView(e) {
			t.Errorf("after Revise: %s\nwant %s", entryView(got), entryView(e))
		}
		prev = e.Version()
		at := t0.Add(time.Hour)
		if _, err := e.Publish(&at, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		updateEntry(t, uow, e, prev)
		if got := getEntry(t, uow, ws.ID(), e.ID()); entryView(got) != entryView(e) || got.Status() != domain.EntryScheduled {
			t.Errorf("after scheduling: %s\nwant %s", entryView(got), entryView(e))
		}
		stale := e
		prev = e.Version()
		if !e.PublishIfDue(at) {
			t.Fatal("PublishIfDue: not due")
		}
		updateEntry(t, uow, e, prev)
		if got := getEntry(t, uow, ws.ID(), e.ID()); entryView(got) != entryView(e) || got.Status() != domain.EntryPublished {
			t.Errorf("after publishing: %s\nwant %s", entryView(got), entryView(e))
		}

		// An editor who read the scheduled version saves over the published one.
		staleContent := stale.Content()
		staleContent.Title = "Lost update"
		if err := stale.Revise(staleContent, stale.Rendered(), t0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Entries().Update(ctx, stale, stale.Version()-1)
		})
		wantErr(t, "Update(stale version)", err, domain.ErrVersionConflict)
		if got := getEntry(t, uow, ws.ID(), e.ID()); entryView(got) != entryView(e) {
			t.Errorf("after a conflicting Update: %s\nwant %s", entryView(got), entryView(e))
		}
		err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Entries().Update(ctx, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Never added"}), 1)
		})
		wantErr(t, "Update(unknown)", err, domain.ErrNotFound)
		r := e.Record()
		r.Workspace = other.ID()
		err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Entries().Update(ctx, domain.RehydrateEntry(r), e.Version())
		})
		wantErr(t, "Update(other workspace)", err, domain.ErrNotFound)

		addRevision(t, uow, e)
		err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Entries().Delete(ctx, other.ID(), e.ID()) })
		wantErr(t, "Delete(other workspace)", err, domain.ErrNotFound)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Entries().Delete(ctx, ws.ID(), e.ID()) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Entries().Get(ctx, ws.ID(), e.ID())
			wantErr(t, "Get(deleted)", err, domain.ErrNotFound)
			_, err = st.Entries().Published(ctx, ws.ID(), domain.KindPost, e.Slug())
			wantErr(t, "Published(deleted)", err, domain.ErrNotFound)
			_, err = st.Entries().Revision(ctx, ws.ID(), e.ID(), e.Version())
			wantErr(t, "Revision(of deleted entry)", err, domain.ErrNotFound)
			wantErr(t, "Delete(deleted)", st.Entries().Delete(ctx, ws.ID(), e.ID()), domain.ErrNotFound)
			return nil
		})
		// The slug is free again.
		addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Again", Slug: e.Slug()}))
	})
	t.Run("SlugIsUniquePerWorkspaceAndKind", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		hello := domain.EntryContent{Title: "Hello, World!"} // slug hello-world
		first := addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, hello))
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Entries().Add(ctx, mustEntry(t, ws.ID(), domain.KindPost, hello))
		})
		wantErr(t, "Add(same slug, kind and workspace)", err, domain.ErrEntrySlugTaken)
		addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPage, hello))
		addEntry(t, uow, mustEntry(t, other.ID(), domain.KindPost, hello))

		second := addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Second"}))
		c := second.Content()
		c.Slug = first.Slug()
		prev := second.Version()
		if err := second.Revise(c, second.Rendered(), t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		err = uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.Entries().Update(ctx, second, prev) })
		wantErr(t, "Update(to a taken slug)", err, domain.ErrEntrySlugTaken)
		if got := getEntry(t, uow, ws.ID(), second.ID()); got.Slug() != "second" || got.Version() != prev {
			t.Errorf("after a refused Update: slug %q version %d, want second, %d", got.Slug(), got.Version(), prev)
		}
		// An entry keeps its own slug through an update.
		c = first.Content()
		c.Body = "Changed."
		prev = first.Version()
		if err := first.Revise(c, domain.Rendered{Text: "Changed."}, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		updateEntry(t, uow, first, prev)
	})
	t.Run("ListFilters", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		add := func(kind domain.EntryKind, title string, status domain.EntryStatus, tags ...string) string {
			e := mustEntry(t, ws.ID(), kind, domain.EntryContent{Title: title, Tags: tags, Body: "Body of " + title})
			setStatus(t, &e, status)
			return string(addEntry(t, uow, e).ID())
		}
		draft := add(domain.KindPost, "Draft post", domain.EntryDraft, "go")
		published := add(domain.KindPost, "Published post", domain.EntryPublished, "go", "sql")
		scheduled := add(domain.KindPost, "Scheduled post", domain.EntryScheduled, "sql")
		archived := add(domain.KindPost, "Archived post", domain.EntryArchived)
		page := add(domain.KindPage, "About page", domain.EntryPublished, "go")
		addEntry(t, uow, mustEntry(t, other.ID(), domain.KindPost, domain.EntryContent{Title: "Their post", Tags: []string{"go"}}))

		post, pg := domain.KindPost, domain.KindPage
		pub, sched := domain.EntryPublished, domain.EntryScheduled
		for _, tt := range []struct {
			name string
			f    ports.EntryFilter
			want []string
		}{
			{"none", ports.EntryFilter{}, []string{page, archived, scheduled, published, draft}},
			{"kind post", ports.EntryFilter{Kind: &post}, []string{archived, scheduled, published, draft}},
			{"kind page", ports.EntryFilter{Kind: &pg}, []string{page}},
			{"status", ports.EntryFilter{Status: &pub}, []string{page, published}},
			{"scheduled", ports.EntryFilter{Status: &sched}, []string{scheduled}},
			{"tag", ports.EntryFilter{Tag: "go"}, []string{page, published, draft}},
			{"tag nobody has", ports.EntryFilter{Tag: "rust"}, nil},
			{"everything", ports.EntryFilter{Kind: &post, Status: &pub, Tag: "sql"}, []string{published}},
			{"query", ports.EntryFilter{Query: "POST"}, nil}, // compared as a set below
			{"query and filters", ports.EntryFilter{Query: "post", Tag: "sql", Status: &sched}, []string{scheduled}},
		} {
			var got []string
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				es, _, err := st.Entries().List(ctx, ws.ID(), tt.f, ports.Page{})
				got = idsOf(es, entryID)
				return err
			})
			if tt.name == "query" {
				slices.Sort(got)
				want := []string{draft, published, scheduled, archived}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("List(%s) = %v, want %v in any order", tt.name, got, want)
				}
				continue
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%s) = %v, want %v", tt.name, got, tt.want)
			}
		}
	})
	t.Run("ListPaginatesNewestFirst", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		var want []string
		for i := range 5 {
			want = append(want, string(addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: fmt.Sprintf("Post %d", i)})).ID()))
			addEntry(t, uow, mustEntry(t, other.ID(), domain.KindPost, domain.EntryContent{Title: fmt.Sprintf("Post %d", i)}))
		}
		slices.Reverse(want)
		list := func(f ports.EntryFilter) func(p ports.Page) ([]string, string) {
			return func(p ports.Page) (ids []string, next string) {
				run(t, uow, func(ctx context.Context, st ports.Stores) error {
					es, n, err := st.Entries().List(ctx, ws.ID(), f, p)
					ids, next = idsOf(es, entryID), n
					return err
				})
				return ids, next
			}
		}
		checkPages(t, "Entries.List", want, 2, list(ports.EntryFilter{}))
		// Search results page by rank; all five match "post" equally
		// well or not, but each comes exactly once.
		all, _ := list(ports.EntryFilter{Query: "post"})(ports.Page{})
		if got := slices.Sorted(slices.Values(all)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Fatalf("List(query post) = %v, want %v in any order", all, want)
		}
		checkPages(t, "Entries.List(query)", all, 2, list(ports.EntryFilter{Query: "post"}))
		// Each listing refuses the other's cursors, and garbage.
		garbage := []string{"x' OR 1=1 --", string(other.ID()), "ent_", "b3g6MQ"}
		for f, bad := range map[ports.EntryFilter][]string{
			{}:              append(garbage, searchCursorOf(t, uow, ws.ID())),
			{Query: "post"}: append(garbage, want[0]),
		} {
			for _, cursor := range bad {
				err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
					_, _, err := st.Entries().List(ctx, ws.ID(), f, ports.Page{After: cursor})
					return err
				})
				if domain.KindOf(err) != domain.KindInvalid {
					t.Errorf("List(%+v, cursor %q) err = %v, want invalid", f, cursor, err)
				}
			}
		}
	})
	t.Run("PublicReadsSeePublishedOnly", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		var want []string // newest published first
		// Published in the reverse of creation order, and two at the same
		// instant, so that published_at, not the ID, orders the listing
		// and the ID breaks the tie.
		times := []time.Time{t0.Add(5 * time.Hour), t0.Add(4 * time.Hour), t0.Add(3 * time.Hour), t0.Add(3 * time.Hour), t0.Add(time.Hour)}
		var published []domain.Entry
		for i, at := range times {
			e := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: fmt.Sprintf("Post %d", i), Tags: []string{"t" + strconv.Itoa(i%2)}})
			if _, err := e.Publish(nil, at); err != nil {
				t.Fatal(err)
			}
			published = append(published, addEntry(t, uow, e))
		}
		sorted := slices.Clone(published)
		slices.SortFunc(sorted, func(a, b domain.Entry) int {
			if c := b.PublishedAt().Compare(*a.PublishedAt()); c != 0 {
				return c
			}
			return strings.Compare(string(b.ID()), string(a.ID()))
		})
		want = idsOf(sorted, entryID)
		hidden := map[domain.EntryStatus]domain.Entry{}
		for _, st := range []domain.EntryStatus{domain.EntryDraft, domain.EntryScheduled, domain.EntryArchived} {
			e := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Hidden " + st.String(), Tags: []string{"t0", "t1"}})
			setStatus(t, &e, st)
			hidden[st] = addEntry(t, uow, e)
		}
		page := mustEntry(t, ws.ID(), domain.KindPage, domain.EntryContent{Title: "Post 0"}) // a page with a post's slug
		setStatus(t, &page, domain.EntryPublished)
		addEntry(t, uow, page)
		theirs := mustEntry(t, other.ID(), domain.KindPost, domain.EntryContent{Title: "Theirs"})
		setStatus(t, &theirs, domain.EntryPublished)
		addEntry(t, uow, theirs)

		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Entries().Published(ctx, ws.ID(), domain.KindPost, published[0].Slug())
			if err != nil {
				return err
			}
			if entryView(got) != entryView(published[0]) {
				t.Errorf("Published = %s\nwant %s", entryView(got), entryView(published[0]))
			}
			if got, err := st.Entries().Published(ctx, ws.ID(), domain.KindPage, page.Slug()); err != nil || got.ID() != page.ID() {
				t.Errorf("Published(page) = %s, %v; want the page %s", got.ID(), err, page.ID())
			}
			for status, e := range hidden {
				_, err := st.Entries().Published(ctx, ws.ID(), domain.KindPost, e.Slug())
				wantErr(t, "Published("+status.String()+")", err, domain.ErrNotFound)
			}
			_, err = st.Entries().Published(ctx, other.ID(), domain.KindPost, published[0].Slug())
			wantErr(t, "Published(other workspace)", err, domain.ErrNotFound)
			_, err = st.Entries().Published(ctx, ws.ID(), domain.KindPost, "theirs")
			wantErr(t, "Published(slug of another workspace)", err, domain.ErrNotFound)
			return nil
		})

		listPublished := func(f ports.PublicFilter) func(p ports.Page) ([]string, string) {
			return func(p ports.Page) (ids []string, next string) {
				run(t, uow, func(ctx context.Context, st ports.Stores) error {
					es, n, err := st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, f, p)
					ids, next = idsOf(es, entryID), n
					return err
				})
				return ids, next
			}
		}
		checkPages(t, "ListPublished", want, 2, listPublished(ports.PublicFilter{}))
		var tagged []string
		for _, e := range sorted {
			if slices.Contains(e.Tags(), "t1") {
				tagged = append(tagged, string(e.ID()))
			}
		}
		checkPages(t, "ListPublished(tag)", tagged, 1, listPublished(ports.PublicFilter{Tag: "t1"}))
		if got, _ := listPublished(ports.PublicFilter{Query: "hidden"})(ports.Page{}); len(got) != 0 {
			t.Errorf("ListPublished(query hidden) = %v, want none: only published entries are searched", got)
		}
		if got, _ := listPublished(ports.PublicFilter{Query: "post"})(ports.Page{}); !sameSet(got, want) {
			t.Errorf("ListPublished(query post) = %v, want %v in any order", got, want)
		}
		for _, bad := range []string{"x' OR 1=1 --", string(published[0].ID()), "cDox", "cDoxOmVudF8="} {
			err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
				_, _, err := st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, ports.PublicFilter{}, ports.Page{After: bad})
				return err
			})
			if domain.KindOf(err) != domain.KindInvalid {
				t.Errorf("ListPublished(cursor %q) err = %v, want invalid", bad, err)
			}
		}

		// A page resumes after its last entry even once that entry is
		// unpublished: the cursor carries its place, not only its ID.
		_, next := listPublished(ports.PublicFilter{})(ports.Page{Limit: 2})
		last := sorted[1]
		prev := last.Version()
		if _, err := last.Unpublish(domain.EntryDraft, t0.Add(6*time.Hour)); err != nil {
			t.Fatal(err)
		}
		updateEntry(t, uow, last, prev)
		if got, _ := listPublished(ports.PublicFilter{})(ports.Page{After: next, Limit: 2}); !slices.Equal(got, want[2:4]) {
			t.Errorf("page after an unpublished entry = %v, want %v", got, want[2:4])
		}
	})
	t.Run("ClaimDueReturnsDueSchedules", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		schedule := func(w domain.WorkspaceID, title string, at time.Time) domain.Entry {
			e := mustEntry(t, w, domain.KindPost, domain.EntryContent{Title: title})
			if _, err := e.Publish(&at, t0); err != nil {
				t.Fatal(err)
			}
			return addEntry(t, uow, e)
		}
		now := t0.Add(time.Hour)
		late := schedule(ws.ID(), "Late", now)
		early := schedule(other.ID(), "Early", t0.Add(time.Minute))
		schedule(ws.ID(), "Future", now.Add(time.Microsecond))
		for _, st := range []domain.EntryStatus{domain.EntryDraft, domain.EntryPublished, domain.EntryArchived} {
			e := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: st.String()})
			setStatus(t, &e, st)
			addEntry(t, uow, e)
		}
		claimDue := func(limit int) (es []domain.Entry) {
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				es, err = st.Entries().ClaimDue(ctx, now, limit)
				return err
			})
			return es
		}
		got := claimDue(10)
		if ids, want := idsOf(got, entryID), idsOf([]domain.Entry{early, late}, entryID); !slices.Equal(ids, want) {
			t.Fatalf("ClaimDue = %v, want the two due schedules, earliest first: %v", ids, want)
		}
		if entryView(got[1]) != entryView(late) {
			t.Errorf("claimed %s\nwant %s", entryView(got[1]), entryView(late))
		}
		if got := claimDue(1); len(got) != 1 || got[0].ID() != early.ID() {
			t.Errorf("ClaimDue(limit 1) = %v, want %s", idsOf(got, entryID), early.ID())
		}
		if got := claimDue(0); len(got) != 0 {
			t.Errorf("ClaimDue(limit 0) = %v, want none", idsOf(got, entryID))
		}
	})
	t.Run("ConcurrentSchedulersPublishEachEntryOnce", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		const entries, schedulers = 60, 8
		at := t0.Add(time.Minute)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			for i := range entries {
				e := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: fmt.Sprintf("Post %d", i)})
				if _, err := e.Publish(&at, t0); err != nil {
					return err
				}
				if err := st.Entries().Add(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		seen := claimConcurrently(t, uow, "entry", schedulers, func(ctx context.Context, st ports.Stores) ([]string, error) {
			es, err := st.Entries().ClaimDue(ctx, at, 4)
			if err != nil {
				return nil, err
			}
			for _, e := range es {
				prev := e.Version()
				if !e.PublishIfDue(at) {
					return nil, fmt.Errorf("claimed %s, which is not due", e.ID())
				}
				if err := st.Entries().Update(ctx, e, prev); err != nil {
					return nil, err
				}
			}
			return idsOf(es, entryID), nil
		})
		if len(seen) != entries {
			t.Errorf("%d entries claimed, want %d", len(seen), entries)
		}
		var published []domain.Entry
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			published, _, err = st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, ports.PublicFilter{}, ports.Page{Limit: ports.MaxPageLimit})
			return err
		})
		if len(published) != entries {
			t.Errorf("%d entries published, want %d", len(published), entries)
		}
	})
	t.Run("Revisions", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		e := addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Draft", Tags: []string{"x"}}))
		first := addRevision(t, uow, e)
		var want []domain.Revision
		want = append(want, first)
		for i := 1; i < 5; i++ {
			c := e.Content()
			c.Title, c.Body, c.Tags = fmt.Sprintf("Draft %d", i), strings.Repeat("Body é\n", i), append(c.Tags, fmt.Sprintf("t%d", i))
			c.SEO = domain.SEO{Title: "SEO <title>", Description: `"desc" & more`}
			c.Excerpt, c.CoverImageURL = "Excerpt", "https://example.com/x.png"
			prev := e.Version()
			if err := e.Revise(c, domain.Rendered{Text: c.Body}, t0.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
			updateEntry(t, uow, e, prev)
			want = append(want, addRevisionBy(t, uow, e, domain.NewAPIKeyPrincipal("key_x", ws.ID(), author, nil)))
		}
		other1 := addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Other"}))
		addRevision(t, uow, other1)
		slices.Reverse(want)
		wantIDs := idsOf(want, func(r domain.Revision) string { return strconv.Itoa(r.Version) })
		checkPages(t, "Revisions", wantIDs, 2, func(p ports.Page) (ids []string, next string) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				rs, n, err := st.Entries().Revisions(ctx, ws.ID(), e.ID(), p)
				for i, r := range rs {
					if w := want[slices.Index(wantIDs, strconv.Itoa(r.Version))]; revisionView(r) != revisionView(w) {
						t.Errorf("Revisions[%d] = %s\nwant %s", i, revisionView(r), revisionView(w))
					}
				}
				ids, next = idsOf(rs, func(r domain.Revision) string { return strconv.Itoa(r.Version) }), n
				return err
			})
			return ids, next
		})
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Entries().Revision(ctx, ws.ID(), e.ID(), 1)
			if err != nil {
				return err
			}
			if revisionView(got) != revisionView(first) {
				t.Errorf("Revision(1) = %s\nwant %s", revisionView(got), revisionView(first))
			}
			_, err = st.Entries().Revision(ctx, other.ID(), e.ID(), 1)
			wantErr(t, "Revision(other workspace)", err, domain.ErrNotFound)
			_, err = st.Entries().Revision(ctx, ws.ID(), e.ID(), 99)
			wantErr(t, "Revision(unknown version)", err, domain.ErrNotFound)
			rs, _, err := st.Entries().Revisions(ctx, other.ID(), e.ID(), ports.Page{})
			if err != nil || len(rs) != 0 {
				t.Errorf("Revisions(other workspace) = %d revisions, %v; want none", len(rs), err)
			}
			for _, bad := range []string{"1", "x' OR 1=1 --", string(e.ID())} {
				_, _, err := st.Entries().Revisions(ctx, ws.ID(), e.ID(), ports.Page{After: bad})
				if domain.KindOf(err) != domain.KindInvalid {
					t.Errorf("Revisions(cursor %q) err = %v, want invalid", bad, err)
				}
			}
			return nil
		})
	})
	t.Run("Search", func(t *testing.T) { t.Parallel(); searchEntries(t, open) })
	t.Run("SearchRanksBestMatchFirst", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		long := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Animals of the savanna",
			Body: strings.Repeat("Lions, giraffes and elephants share the plains with many other animals. ", 5) + "A zebra too."})
		best := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Zebra", Body: "Zebras: a zebra and more zebras."})
		for _, e := range []domain.Entry{best, long} { // the best is the oldest: rank, not age, orders
			setStatus(t, &e, domain.EntryPublished)
			addEntry(t, uow, e)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			es, _, err := st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, ports.PublicFilter{Query: "zebra"}, ports.Page{})
			if got, want := idsOf(es, entryID), idsOf([]domain.Entry{best, long}, entryID); err == nil && !slices.Equal(got, want) {
				t.Errorf("search zebra = %v, want the entry about zebras first: %v", got, want)
			}
			return err
		})
	})
	t.Run("WorkspaceDeleteCascades", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, kept := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "kept")
		e := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Zebra crossing", Tags: []string{"zebra"}})
		setStatus(t, &e, domain.EntryPublished)
		addEntry(t, uow, e)
		addRevision(t, uow, e)
		ev := domain.EntryEvent(e, true, t0)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Events().Add(ctx, ev) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Workspaces().Delete(ctx, ws.ID()) })

		// An entry added after the cascade must not inherit the deleted
		// one's place in a search index.
		lion := mustEntry(t, kept.ID(), domain.KindPost, domain.EntryContent{Title: "Lion"})
		setStatus(t, &lion, domain.EntryPublished)
		addEntry(t, uow, lion)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.Entries().Get(ctx, ws.ID(), e.ID())
			wantErr(t, "Get(entry of deleted workspace)", err, domain.ErrNotFound)
			_, err = st.Entries().Revision(ctx, ws.ID(), e.ID(), e.Version())
			wantErr(t, "Revision(of deleted workspace)", err, domain.ErrNotFound)
			evs, _, err := st.Events().List(ctx, ws.ID(), "", ports.Page{})
			if err != nil || len(evs) != 0 {
				t.Errorf("Events.List(deleted workspace) = %d events, %v; want none", len(evs), err)
			}
			for _, q := range []string{"zebra", "lion"} {
				es, _, err := st.Entries().ListPublished(ctx, kept.ID(), domain.KindPost, ports.PublicFilter{Query: q}, ports.Page{})
				if err != nil {
					return err
				}
				want := map[string][]string{"zebra": nil, "lion": {string(lion.ID())}}[q]
				if got := idsOf(es, entryID); !slices.Equal(got, want) {
					t.Errorf("search %q after the cascade = %v, want %v", q, got, want)
				}
			}
			return nil
		})
	})
}

func events(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("AddListOldestFirst", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		var want []domain.Event
		for i := range 5 {
			e := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: fmt.Sprintf("Post \"%d\" <é>", i)})
			setStatus(t, &e, domain.EntryPublished)
			ev := domain.EntryEvent(e, i%2 == 0, t0.Add(time.Duration(i)*time.Second))
			theirs := domain.EntryEvent(e, true, t0)
			theirs.Workspace = other.ID()
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				if err := st.Events().Add(ctx, ev); err != nil {
					return err
				}
				return st.Events().Add(ctx, theirs)
			})
			want = append(want, ev)
		}
		wantIDs := idsOf(want, func(e domain.Event) string { return string(e.ID) })
		settleFeed(t, uow, ws.ID(), len(want))
		checkPages(t, "Events.List", wantIDs, 2, func(p ports.Page) (ids []string, next string) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				evs, n, err := st.Events().List(ctx, ws.ID(), "", p)
				for _, got := range evs {
					w := want[slices.Index(wantIDs, string(got.ID))]
					if eventView(got) != eventView(w) {
						t.Errorf("event %s\nwant %s", eventView(got), eventView(w))
					}
				}
				ids, next = idsOf(evs, func(e domain.Event) string { return string(e.ID) }), n
				return err
			})
			return ids, next
		})
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			_, _, err := st.Events().List(ctx, ws.ID(), "", ports.Page{After: "evt_'; DROP TABLE events; --"})
			return err
		})
		if domain.KindOf(err) != domain.KindInvalid {
			t.Fatalf("List(bad cursor) err = %v, want invalid", err)
		}
	})
	t.Run("FeedOrderIsCommitOrderNotID", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		// IDs grow in the order they are made; the feed must follow the
		// order of the writes, not the IDs: two nodes make IDs
		// independently, and one written later may hold the smaller ID.
		smaller, larger := submissionEvent(ws.ID(), "1", t0), submissionEvent(ws.ID(), "2", t0)
		for _, e := range []domain.Event{larger, smaller} {
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Events().Add(ctx, e) })
		}
		settleFeed(t, uow, ws.ID(), 2)
		got := feed(t, uow, ws.ID(), "", ports.Page{})
		if want := []domain.EventID{larger.ID, smaller.ID}; !slices.Equal(eventIDs(got), want) {
			t.Fatalf("feed = %v, want write order %v", eventIDs(got), want)
		}
		if got := feed(t, uow, ws.ID(), "", ports.Page{After: string(larger.ID)}); !slices.Equal(eventIDs(got), []domain.EventID{smaller.ID}) {
			t.Fatalf("feed after the first = %v, want %v", eventIDs(got), smaller.ID)
		}
	})
	t.Run("TypeFilter", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		created, updated := submissionEvent(ws.ID(), "1", t0), submissionEvent(ws.ID(), "1", t0)
		updated.Type = domain.EventSubmissionUpdated
		created2 := submissionEvent(ws.ID(), "2", t0)
		for _, e := range []domain.Event{created, updated, created2} {
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Events().Add(ctx, e) })
		}
		settleFeed(t, uow, ws.ID(), 3)
		if got := feed(t, uow, ws.ID(), domain.EventSubmissionCreated, ports.Page{}); !slices.Equal(eventIDs(got), []domain.EventID{created.ID, created2.ID}) {
			t.Errorf("feed of submission.created = %v, want %v", eventIDs(got), []domain.EventID{created.ID, created2.ID})
		}
		// A cursor of another type still places the reader in the feed.
		if got := feed(t, uow, ws.ID(), domain.EventSubmissionCreated, ports.Page{After: string(updated.ID)}); !slices.Equal(eventIDs(got), []domain.EventID{created2.ID}) {
			t.Errorf("feed of submission.created after the update = %v, want %v", eventIDs(got), created2.ID)
		}
	})
	t.Run("RetentionKeepsLastAndExpiresCursors", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		var mine []domain.Event
		for i := range 3 {
			mine = append(mine, submissionEvent(ws.ID(), strconv.Itoa(i), t0.Add(time.Duration(i)*time.Hour)))
		}
		theirs := submissionEvent(other.ID(), "9", t0) // old, but its workspace's last
		// Theirs is written first, so that once the feed shows mine, it
		// shows theirs too.
		for _, e := range append([]domain.Event{theirs}, mine...) {
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Events().Add(ctx, e) })
		}
		settleFeed(t, uow, ws.ID(), 3)
		var n int
		deleteBefore := func(at time.Time, limit int) int {
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				n, err = st.Events().DeleteCreatedBefore(ctx, at, limit)
				return err
			})
			return n
		}
		// Everything is older than the cut-off; a call deletes at most
		// its limit, the oldest first, and never a workspace's last event.
		cut := t0.Add(24 * time.Hour)
		for i, want := range []int{1, 1, 0} {
			if got := deleteBefore(cut, 1); got != want {
				t.Fatalf("DeleteCreatedBefore call %d = %d, want %d", i+1, got, want)
			}
		}
		if got := feed(t, uow, ws.ID(), "", ports.Page{}); !slices.Equal(eventIDs(got), []domain.EventID{mine[2].ID}) {
			t.Errorf("feed after retention = %v, want the last event %v", eventIDs(got), mine[2].ID)
		}
		if got := feed(t, uow, other.ID(), "", ports.Page{}); !slices.Equal(eventIDs(got), []domain.EventID{theirs.ID}) {
			t.Errorf("other workspace's feed after retention = %v, want its last event %v", eventIDs(got), theirs.ID)
		}
		// The reader that saw everything keeps its cursor; the one whose
		// event is gone is told, rather than silently skipping mine[1].
		if got := feed(t, uow, ws.ID(), "", ports.Page{After: string(mine[2].ID)}); len(got) != 0 {
			t.Errorf("feed after the last event = %v, want nothing", eventIDs(got))
		}
		for _, cursor := range []domain.EventID{mine[0].ID, theirs.ID} {
			err := uow.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
				_, _, err := st.Events().List(ctx, ws.ID(), "", ports.Page{After: string(cursor)})
				return err
			})
			wantErr(t, "List(after a deleted or foreign event)", err, domain.ErrCursorExpired)
		}
	})
	t.Run("RedactKeepsPlaceAndOthers", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		a1, b, a2 := submissionEvent(ws.ID(), "a", t0), submissionEvent(ws.ID(), "b", t0), submissionEvent(ws.ID(), "a", t0)
		a2.Type = domain.EventSubmissionUpdated
		theirs := submissionEvent(other.ID(), "a", t0)
		for _, e := range []domain.Event{theirs, a1, b, a2} {
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Events().Add(ctx, e) })
		}
		settleFeed(t, uow, ws.ID(), 3)
		var n int
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			n, err = st.Events().Redact(ctx, ws.ID(), "sub_a", []byte(`{"id":"sub_a"}`))
			return err
		})
		if n != 2 {
			t.Errorf("Redact = %d, want the 2 events about sub_a", n)
		}
		got := feed(t, uow, ws.ID(), "", ports.Page{})
		a1.Data, a2.Data = []byte(`{"id":"sub_a"}`), []byte(`{"id":"sub_a"}`)
		var views, want []string
		for _, e := range got {
			views = append(views, eventView(e))
		}
		for _, e := range []domain.Event{a1, b, a2} {
			want = append(want, eventView(e))
		}
		if !slices.Equal(views, want) {
			t.Errorf("feed after Redact = %v\nwant %v", views, want)
		}
		if got := feed(t, uow, other.ID(), "", ports.Page{}); len(got) != 1 || eventView(got[0]) != eventView(theirs) {
			t.Errorf("other workspace's feed after Redact = %v, want it untouched", got)
		}
	})
	t.Run("RedactSubmissionsOfAForm", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		f, g := addForm(t, uow, ws.ID(), fullForm()), addForm(t, uow, ws.ID(), fullForm())
		mine := addSubmission(t, uow, accept(t, f, t0, "email", "ada@example.com", "agree", "on"))
		theirs := addSubmission(t, uow, accept(t, g, t0, "email", "bob@example.com", "agree", "on"))
		evs := []domain.Event{
			domain.SubmissionEvent(domain.EventSubmissionCreated, mine, t0),
			domain.SubmissionEvent(domain.EventSubmissionCreated, theirs, t0),
			domain.FormEvent(domain.EventFormCreated, f, t0),
		}
		for _, e := range evs {
			run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Events().Add(ctx, e) })
		}
		settleFeed(t, uow, ws.ID(), 3)
		var n int
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			n, err = st.Events().RedactSubmissionsOf(ctx, ws.ID(), f.ID())
			return err
		})
		if n != 1 {
			t.Errorf("RedactSubmissionsOf = %d, want the one event about the form's submission", n)
		}
		evs[0].Data = []byte(`{"id":"` + string(mine.ID()) + `","form_id":"` + string(f.ID()) + `"}`)
		got := feed(t, uow, ws.ID(), "", ports.Page{})
		var views, want []string
		for i, e := range got {
			views, want = append(views, eventView(e)), append(want, eventView(evs[i]))
		}
		if len(got) != len(evs) || !slices.Equal(views, want) {
			t.Errorf("feed after RedactSubmissionsOf = %v\nwant %v", views, want)
		}
	})
	t.Run("RollbackDropsEvent", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		e := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Post"})
		sentinel := domain.E(domain.KindConflict, "test_conflict", "Conflict.")
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			if err := st.Events().Add(ctx, domain.EntryEvent(e, true, t0)); err != nil {
				return err
			}
			return sentinel
		})
		wantErr(t, "WithinTx", err, sentinel)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			evs, _, err := st.Events().List(ctx, ws.ID(), "", ports.Page{})
			if len(evs) != 0 {
				t.Errorf("events after a rollback = %d, want 0", len(evs))
			}
			return err
		})
	})
}

// searchCorpus is published on every engine; its titles are unique.
var searchCorpus = []struct {
	title, body string
	tags        []string
}{
	{"Crème brûlée", "A custard with a burnt sugar crust.", []string{"dessert", "french"}},
	{"CRÈME FRAÎCHE on toast", "Sour cream, thick; spread it.", []string{"breakfast"}},
	{"Brussels sprouts", "Roasted with bacon and garlic.", []string{"vegetables"}},
	{"Straße und Übermut", "Eine Geschichte über Müller.", nil},
	{"Œuvres complètes", "Naïve café façade — déjà vu.", nil},
	{"Go 1.26 release notes", "Generic type aliases, new(expr), and the green-tea GC.", []string{"go", "release"}},
	{"Les Misérables", "Jean Valjean vole du pain.", nil},
	{`Quotes "and" stars*`, "Search operators: OR, NEAR(a b), AND, NOT, column:filter, ^start, e\u0301te\u0301.", nil},
	{"Москва и Петербург", "Путешествие.", nil},
	{"Ærøskøbing harbour", "A Danish town on Ærø.", []string{"travel"}},
}

// searchCases are queries and the titles each finds, whatever the engine.
var searchCases = []struct {
	q    string
	want []string
}{
	{"creme", []string{"Crème brûlée", "CRÈME FRAÎCHE on toast"}},
	{"CRÈME", []string{"Crème brûlée", "CRÈME FRAÎCHE on toast"}},
	{"cr", []string{"Crème brûlée", "CRÈME FRAÎCHE on toast"}},
	{"bru", []string{"Crème brûlée", "Brussels sprouts"}},
	{"BRÛ", []string{"Crème brûlée", "Brussels sprouts"}},
	{"creme bru", []string{"Crème brûlée"}},
	{"  bru,creme!! ", []string{"Crème brûlée"}},
	{"fraiche", []string{"CRÈME FRAÎCHE on toast"}},
	{"fraîche crème toast", []string{"CRÈME FRAÎCHE on toast"}},
	{"strasse", []string{"Straße und Übermut"}},
	{"Straße", []string{"Straße und Übermut"}},
	{"ubermut muller", []string{"Straße und Übermut"}},
	{"oeuvres", []string{"Œuvres complètes"}},
	{"naive cafe", []string{"Œuvres complètes"}},
	{"dÉjÀ", []string{"Œuvres complètes"}},
	{"miserables", []string{"Les Misérables"}},
	{"go 1 26", []string{"Go 1.26 release notes"}},
	{"1.26", []string{"Go 1.26 release notes"}},
	{"new(expr)", []string{"Go 1.26 release notes"}},
	{"green-tea", []string{"Go 1.26 release notes"}},
	{"dessert", []string{"Crème brûlée"}},
	{"travel", []string{"Ærøskøbing harbour"}},
	{"москва", []string{"Москва и Петербург"}},
	{"МОСК", []string{"Москва и Петербург"}},
	{"moskva", []string{"Москва и Петербург"}},
	{"aeroskobing", []string{"Ærøskøbing harbour"}},
	{"ærø", []string{"Ærøskøbing harbour"}},
	{"ete", []string{`Quotes "and" stars*`}},
	{"été", []string{`Quotes "and" stars*`}},
	{"with", []string{"Crème brûlée", "Brussels sprouts"}},
	{"a", []string{"Crème brûlée", "Brussels sprouts", "Go 1.26 release notes", `Quotes "and" stars*`, "Ærøskøbing harbour"}},
	{"zebra", nil},
	{"creme zebra", nil},
	{"cremes", nil},
	{"rème", nil}, // prefixes of words, not infixes
	// Search engine syntax is only text: no query is an error.
	{`"creme`, []string{"Crème brûlée", "CRÈME FRAÎCHE on toast"}},
	{`creme*`, []string{"Crème brûlée", "CRÈME FRAÎCHE on toast"}},
	{`"creme brulee"`, []string{"Crème brûlée"}},
	{`-creme`, []string{"Crème brûlée", "CRÈME FRAÎCHE on toast"}},
	{`creme OR zebra`, nil},
	{`creme AND`, nil},
	{`OR`, []string{`Quotes "and" stars*`}},
	{`NEAR(`, []string{`Quotes "and" stars*`}},
	{`NEAR(creme bru)`, nil},
	{`title:creme`, nil},
	{`^start`, []string{`Quotes "and" stars*`}},
	{`creme & bru:*`, []string{"Crème brûlée"}},
	{`'); DROP TABLE entries; --`, nil},
	{`!(creme) | bru`, []string{"Crème brûlée"}},
	{`\`, nil}, // no words: lists everything, checked below
}

func searchEntries(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	uow := open(t)
	ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
	titles := map[domain.EntryID]string{}
	var all []string
	for i, doc := range searchCorpus {
		e := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: doc.title, Body: doc.body, Tags: doc.tags})
		at := t0.Add(time.Duration(i) * time.Minute)
		if _, err := e.Publish(nil, at); err != nil {
			t.Fatal(err)
		}
		addEntry(t, uow, e)
		titles[e.ID()] = doc.title
		all = append(all, doc.title)
	}
	// Matches that must never show: a draft, a page, another workspace's.
	draft := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Crème caramel brûlée draft"})
	addEntry(t, uow, draft)
	titles[draft.ID()] = draft.Title()
	pg := mustEntry(t, ws.ID(), domain.KindPage, domain.EntryContent{Title: "Crème brûlée page"})
	setStatus(t, &pg, domain.EntryPublished)
	addEntry(t, uow, pg)
	titles[pg.ID()] = pg.Title()
	theirs := mustEntry(t, other.ID(), domain.KindPost, domain.EntryContent{Title: "Crème brûlée elsewhere"})
	setStatus(t, &theirs, domain.EntryPublished)
	addEntry(t, uow, theirs)
	titles[theirs.ID()] = theirs.Title()

	find := func(q string, p ports.Page) (got []string, next string) {
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			es, n, err := st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, ports.PublicFilter{Query: q}, p)
			for _, e := range es {
				got = append(got, titles[e.ID()])
			}
			next = n
			return err
		})
		return got, next
	}
	for _, tt := range searchCases {
		got, next := find(tt.q, ports.Page{})
		want := tt.want
		if len(domain.SearchQuery(tt.q)) == 0 {
			want = all
		}
		if !sameSet(got, want) || next != "" {
			t.Errorf("search %q = %q, %q; want %q in any order, no cursor", tt.q, got, next, want)
		}
	}

	// Management search sees drafts too, and the filters still apply.
	run(t, uow, func(ctx context.Context, st ports.Stores) error {
		es, _, err := st.Entries().List(ctx, ws.ID(), ports.EntryFilter{Query: "crème BRÛL"}, ports.Page{})
		var got []string
		for _, e := range es {
			got = append(got, titles[e.ID()])
		}
		if want := []string{"Crème brûlée", "Crème caramel brûlée draft", "Crème brûlée page"}; !sameSet(got, want) {
			t.Errorf("List(query) = %q, want %q in any order", got, want)
		}
		return err
	})

	// A search pages by rank without losing or repeating a match.
	full, _ := find("a", ports.Page{})
	checkPages(t, "search a", full, 2, func(p ports.Page) ([]string, string) { return find("a", p) })
	run(t, uow, func(ctx context.Context, st ports.Stores) error {
		es, _, err := st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, ports.PublicFilter{Query: "creme", Tag: "dessert"}, ports.Page{})
		if err == nil && (len(es) != 1 || titles[es[0].ID()] != "Crème brûlée") {
			t.Errorf("search with a tag = %v, want Crème brûlée alone", idsOf(es, entryID))
		}
		return err
	})
}

func sameSet(got, want []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}

func mustEntry(t *testing.T, ws domain.WorkspaceID, kind domain.EntryKind, c domain.EntryContent) domain.Entry {
	t.Helper()
	e, err := domain.NewEntry(ws, author, kind, c, domain.Rendered{HTML: "<p>" + c.Body + "</p>", Text: c.Body}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// setStatus moves a new draft e to status along the state machine.
func setStatus(t *testing.T, e *domain.Entry, status domain.EntryStatus) {
	t.Helper()
	var err error
	switch status {
	case domain.EntryDraft:
	case domain.EntryPublished:
		_, err = e.Publish(nil, t0)
	case domain.EntryScheduled:
		at := t0.Add(24 * time.Hour)
		_, err = e.Publish(&at, t0)
	case domain.EntryArchived:
		if _, err = e.Publish(nil, t0); err == nil {
			_, err = e.Unpublish(domain.EntryArchived, t0)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

func addEntry(t *testing.T, uow ports.UnitOfWork, e domain.Entry) domain.Entry {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Entries().Add(ctx, e) })
	return e
}

func updateEntry(t *testing.T, uow ports.UnitOfWork, e domain.Entry, prev int) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Entries().Update(ctx, e, prev) })
}

func getEntry(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, id domain.EntryID) (e domain.Entry) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		e, err = st.Entries().Get(ctx, ws, id)
		return err
	})
	return e
}

func addRevision(t *testing.T, uow ports.UnitOfWork, e domain.Entry) domain.Revision {
	t.Helper()
	return addRevisionBy(t, uow, e, domain.NewUserPrincipal(author, false, "ses_x"))
}

func addRevisionBy(t *testing.T, uow ports.UnitOfWork, e domain.Entry, p domain.Principal) domain.Revision {
	t.Helper()
	r := domain.NewRevision(e, p)
	run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Entries().AddRevision(ctx, r) })
	return r
}

// searchCursorOf returns a search's cursor of ws, which no plain listing
// accepts.
func searchCursorOf(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID) (next string) {
	t.Helper()
	run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
		_, next, err = st.Entries().List(ctx, ws, ports.EntryFilter{Query: "post"}, ports.Page{Limit: 1})
		return err
	})
	if next == "" {
		t.Fatal("a search of several matches in pages of one returned no cursor")
	}
	return next
}

func entryID(e domain.Entry) string { return string(e.ID()) }

func entryView(e domain.Entry) string {
	c := e.Content()
	return fmt.Sprintf("{%s ws=%s %s author=%s title=%q slug=%q body=%q excerpt=%q tags=%q cover=%q seo=%+q rendered=%+q %s publish=%s published=%s created=%s updated=%s v%d}",
		e.ID(), e.Workspace(), e.Kind(), e.Author(), c.Title, c.Slug, c.Body, c.Excerpt, c.Tags, c.CoverImageURL, c.SEO, e.Rendered(),
		e.Status(), stampPtr(e.PublishAt()), stampPtr(e.PublishedAt()), stamp(e.CreatedAt()), stamp(e.UpdatedAt()), e.Version())
}

func revisionView(r domain.Revision) string {
	c := r.Content
	return fmt.Sprintf("{%s ws=%s v%d %s:%s at=%s title=%q slug=%q body=%q excerpt=%q tags=%q cover=%q seo=%+q}",
		r.Entry, r.Workspace, r.Version, r.ActorKind, r.ActorID, stamp(r.At), c.Title, c.Slug, c.Body, c.Excerpt, c.Tags, c.CoverImageURL, c.SEO)
}

func eventView(e domain.Event) string {
	return fmt.Sprintf("{%s ws=%s %s subject=%s data=%s at=%s}", e.ID, e.Workspace, e.Type, e.Subject, e.Data, stamp(e.CreatedAt))
}

func sumInts(ns []int) int {
	n := 0
	for _, x := range ns {
		n += x
	}
	return n
}

// submissionEvent is a submission.created event in ws for a submission
// named by n, created at.
func submissionEvent(ws domain.WorkspaceID, n string, at time.Time) domain.Event {
	return domain.NewEvent(ws, domain.EventSubmissionCreated, "sub_"+n, map[string]any{"id": "sub_" + n}, at)
}

// feed lists one page of the change feed of ws.
func feed(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, typ string, p ports.Page) []domain.Event {
	t.Helper()
	var evs []domain.Event
	err := uow.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) (err error) {
		evs, _, err = st.Events().List(ctx, ws, typ, p)
		return err
	})
	if err != nil {
		t.Fatalf("Events.List: %v", err)
	}
	return evs
}

func eventIDs(evs []domain.Event) []domain.EventID {
	ids := make([]domain.EventID, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

// settleFeed waits until the feed of ws shows n events. On PostgreSQL the
// feed hides committed events while any older transaction runs, and the
// tests of other packages share the server; the wait ends when those
// finish, in milliseconds, and fails the test after ten seconds.
func settleFeed(t *testing.T, uow ports.UnitOfWork, ws domain.WorkspaceID, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := len(feed(t, uow, ws, "", ports.Page{Limit: ports.MaxPageLimit})); got >= n {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("feed shows %d events after 10s, want %d", got, n)
		}
		runtime.Gosched()
	}
}
