package porttest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// authorsAndTags checks the AuthorStore, the TagStore, and the entry
// listings that filter by them (authors, tags, pages, updated_since).
func authorsAndTags(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("AuthorPutIsUpsertWithUniqueSlug", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		other := addWorkspace(t, uow, "other")
		jane, joe := domain.UserID(domain.NewID(domain.PrefixUser, t0)), domain.UserID(domain.NewID(domain.PrefixUser, t0))
		a := mustAuthor(t, ws.ID(), jane, domain.AuthorProfile{Name: "Jane Doe", Bio: "Writes.", WebsiteURL: "https://jane.example"})
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Authors().Put(ctx, a) })
		// The same slug in another workspace is another author.
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			return st.Authors().Put(ctx, mustAuthor(t, other.ID(), joe, domain.AuthorProfile{Name: "Jane Doe"}))
		})
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Authors().Put(ctx, mustAuthor(t, ws.ID(), joe, domain.AuthorProfile{Name: "Jane Doe"}))
		})
		if !errors.Is(err, domain.ErrAuthorSlugTaken) {
			t.Fatalf("Put with a taken slug = %v, want ErrAuthorSlugTaken", err)
		}
		if err := a.Edit(domain.AuthorProfile{Name: "Jane D.", Slug: "jane", AvatarURL: "https://cdn.example/j.png"}, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Authors().Put(ctx, a) })
		var got domain.Author
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			got, err = st.Authors().BySlug(ctx, ws.ID(), "jane")
			return err
		})
		if got.User() != jane || got.Name() != "Jane D." || got.AvatarURL() != "https://cdn.example/j.png" || got.Bio() != "" ||
			!got.UpdatedAt().Equal(domain.Timestamp(t0.Add(time.Hour))) || !got.CreatedAt().Equal(domain.Timestamp(t0)) {
			t.Fatalf("BySlug = %+v", got)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			if _, err := st.Authors().BySlug(ctx, ws.ID(), "jane-doe"); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("old slug: %v, want ErrNotFound", err)
			}
			m, err := st.Authors().Of(ctx, ws.ID(), []domain.UserID{jane, joe})
			if err != nil || len(m) != 1 || m[jane].Slug() != "jane" {
				t.Errorf("Of = %v, %v", m, err)
			}
			as, next, err := st.Authors().List(ctx, other.ID(), ports.Page{Limit: 1})
			if err != nil || len(as) != 1 || next != "" || as[0].User() != joe {
				t.Errorf("List = %v %q %v", as, next, err)
			}
			return nil
		})
	})

	t.Run("AuthorAddNeverFailsOnAConflict", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		jane, joe := domain.UserID(domain.NewID(domain.PrefixUser, t0)), domain.UserID(domain.NewID(domain.PrefixUser, t0))
		add := func(a domain.Author) bool {
			var added bool
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				added, err = st.Authors().Add(ctx, a)
				return err
			})
			return added
		}
		if !add(mustAuthor(t, ws.ID(), jane, domain.AuthorProfile{Name: "Jane Doe"})) {
			t.Fatal("first Add did not add")
		}
		// The member has a profile: the new one is not stored, and the
		// transaction goes on to read the stored one.
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			added, err := st.Authors().Add(ctx, mustAuthor(t, ws.ID(), jane, domain.AuthorProfile{Name: "Jane Again", Slug: "jane-again"}))
			if err != nil || added {
				t.Fatalf("Add for a member with a profile = %v, %v; want false, nil", added, err)
			}
			got, err := st.Authors().Get(ctx, ws.ID(), jane)
			if err != nil || got.Name() != "Jane Doe" {
				t.Fatalf("Get after a refused Add = %+v, %v", got, err)
			}
			return nil
		})
		// Another member with the slug: refused too.
		if add(mustAuthor(t, ws.ID(), joe, domain.AuthorProfile{Name: "Jane Doe"})) {
			t.Fatal("Add with a taken slug added")
		}
		if !add(mustAuthor(t, ws.ID(), joe, domain.AuthorProfile{Name: "Joe"})) {
			t.Fatal("Add with a free slug did not add")
		}
		// Concurrent first profiles, of one member and of one slug: exactly
		// one of each is stored and none fails.
		ann := domain.UserID(domain.NewID(domain.PrefixUser, t0))
		const n = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		added := map[domain.UserID]int{}
		for i := range n {
			user := ann
			if i%2 == 1 {
				user = domain.UserID(domain.NewID(domain.PrefixUser, t0))
			}
			wg.Go(func() {
				err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
					ok, err := st.Authors().Add(ctx, mustAuthor(t, ws.ID(), user, domain.AuthorProfile{Name: "Ann Lee"}))
					if ok {
						mu.Lock()
						added[user]++
						mu.Unlock()
					}
					return err
				})
				if err != nil {
					t.Errorf("concurrent Add: %v", err)
				}
			})
		}
		wg.Wait()
		total := 0
		for _, c := range added {
			total += c
		}
		if total != 1 {
			t.Fatalf("concurrent Adds of slug ann-lee stored %v, want exactly one", added)
		}
	})

	t.Run("TagsKeepNamesAndCountPublishedPosts", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		pub := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "One", Tags: []string{"News", "Web Design"}})
		setStatus(t, &pub, domain.EntryPublished)
		addEntry(t, uow, pub)
		draft := addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Two", Tags: []string{"news", "Drafty"}}))
		var tags []domain.TagCount
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			tags, _, err = st.Tags().List(ctx, ws.ID(), false, ports.Page{})
			return err
		})
		if got := tagViews(tags); !slices.Equal(got, []string{"drafty=Drafty:0", "news=News:1", "web-design=Web Design:1"}) {
			t.Fatalf("List = %q", got)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			tags, _, err = st.Tags().List(ctx, ws.ID(), true, ports.Page{Limit: 1})
			return err
		})
		if got := tagViews(tags); !slices.Equal(got, []string{"news=News:1"}) {
			t.Fatalf("List published only = %q", got)
		}
		// The filter matches slugs, whatever the entry's spelling.
		var es []domain.Entry
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			es, _, err = st.Entries().List(ctx, ws.ID(), ports.EntryFilter{Tag: "news"}, ports.Page{})
			return err
		})
		if len(es) != 2 {
			t.Fatalf("List(tag news) = %d entries, want 2", len(es))
		}
		// A rename writes the name into every entry that carries the tag.
		tag := domain.Tag{Workspace: ws.ID(), Slug: "news", Name: "News"}
		if err := tag.Rename("NEWS"); err != nil {
			t.Fatal(err)
		}
		tag.Description = "What happened."
		later := t0.Add(time.Hour)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Tags().Put(ctx, tag, later) })
		for _, e := range []domain.Entry{pub, draft} {
			got := getEntry(t, uow, ws.ID(), e.ID())
			if got.Tags()[0] != "NEWS" || !got.UpdatedAt().Equal(domain.Timestamp(later)) || got.Version() != e.Version() {
				t.Errorf("entry %s after rename: tags %q updated %s version %d", e.Title(), got.Tags(), got.UpdatedAt(), got.Version())
			}
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			c, err := st.Tags().Count(ctx, ws.ID(), "news")
			if err != nil || c.Tag.Name != "NEWS" || c.Tag.Description != "What happened." || c.Posts != 1 {
				t.Errorf("Count = %+v, %v", c, err)
			}
			if _, err := st.Tags().Get(ctx, ws.ID(), "nope"); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("Get(nope) = %v", err)
			}
			return nil
		})
	})

	t.Run("PublicListsByAuthorPagesAndUpdatedSince", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		other := domain.UserID(domain.NewID(domain.PrefixUser, t0))
		mine := mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Mine"})
		setStatus(t, &mine, domain.EntryPublished)
		addEntry(t, uow, mine)
		theirs, err := domain.NewEntry(ws.ID(), other, domain.KindPost, domain.EntryContent{Title: "Theirs"}, domain.Rendered{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		prev := theirs.Version()
		addEntry(t, uow, theirs)
		if _, err := theirs.Publish(nil, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		updateEntry(t, uow, theirs, prev)
		for i, title := range []string{"Zeta", "Alpha", "Mid"} {
			p := mustEntry(t, ws.ID(), domain.KindPage, domain.EntryContent{Title: title, NavOrder: []int{1, 2, 1}[i]})
			setStatus(t, &p, domain.EntryPublished)
			addEntry(t, uow, p)
		}
		list := func(kind domain.EntryKind, f ports.PublicFilter, p ports.Page) ([]string, string) {
			var es []domain.Entry
			var next string
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				es, next, err = st.Entries().ListPublished(ctx, ws.ID(), kind, f, p)
				return err
			})
			var titles []string
			for _, e := range es {
				titles = append(titles, e.Title())
			}
			return titles, next
		}
		if got, _ := list(domain.KindPost, ports.PublicFilter{Author: other}, ports.Page{}); !slices.Equal(got, []string{"Theirs"}) {
			t.Errorf("by author = %q", got)
		}
		since := t0.Add(30 * time.Minute)
		if got, _ := list(domain.KindPost, ports.PublicFilter{UpdatedSince: &since}, ports.Page{}); !slices.Equal(got, []string{"Theirs"}) {
			t.Errorf("updated since = %q", got)
		}
		// Pages: nav order, then slug, one page at a time.
		var all []string
		page := ports.Page{Limit: 2}
		for {
			got, next := list(domain.KindPage, ports.PublicFilter{}, page)
			all = append(all, got...)
			if next == "" {
				break
			}
			page.After = next
		}
		if !slices.Equal(all, []string{"Mid", "Zeta", "Alpha"}) {
			t.Errorf("pages = %q, want Mid, Zeta, Alpha", all)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, _, err := st.Entries().ListPublished(ctx, ws.ID(), domain.KindPage, ports.PublicFilter{}, ports.Page{After: "junk"})
			if !errors.Is(err, ports.ErrInvalidCursor) {
				t.Errorf("junk cursor: %v", err)
			}
			return nil
		})
	})

	t.Run("WithBodiesEndsPageAtMaxPageBytes", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		body := strings.Repeat("x", ports.MaxPageBytes/3+1)
		for _, title := range []string{"Post A", "Post B", "Post C", "Post D"} {
			e, err := domain.NewEntry(ws.ID(), author, domain.KindPost, domain.EntryContent{Title: title}, domain.Rendered{HTML: body}, t0)
			if err != nil {
				t.Fatal(err)
			}
			setStatus(t, &e, domain.EntryPublished)
			addEntry(t, uow, e)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			es, next, err := st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, ports.PublicFilter{WithBodies: true}, ports.Page{Limit: 10})
			if err != nil || len(es) != 3 || next == "" {
				t.Errorf("with bodies: %d entries, next %q, %v; want 3 and a cursor", len(es), next, err)
			}
			es, next, err = st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, ports.PublicFilter{}, ports.Page{Limit: 10})
			if err != nil || len(es) != 4 || next != "" {
				t.Errorf("without: %d entries, next %q, %v", len(es), next, err)
			}
			// A search with bodies is bounded the same way, and its cursor
			// resumes after the last entry sent.
			f := ports.PublicFilter{Query: "post", WithBodies: true}
			es, next, err = st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, f, ports.Page{Limit: 10})
			if err != nil || len(es) != 3 || next == "" {
				t.Fatalf("search with bodies: %d entries, next %q, %v; want 3 and a cursor", len(es), next, err)
			}
			es, next, err = st.Entries().ListPublished(ctx, ws.ID(), domain.KindPost, f, ports.Page{Limit: 10, After: next})
			if err != nil || len(es) != 1 || next != "" {
				t.Errorf("search with bodies, page 2: %d entries, next %q, %v", len(es), next, err)
			}
			return nil
		})
	})
}

func mustAuthor(t *testing.T, ws domain.WorkspaceID, user domain.UserID, p domain.AuthorProfile) domain.Author {
	t.Helper()
	a, err := domain.NewAuthor(ws, user, p, t0)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func tagViews(ts []domain.TagCount) []string {
	var out []string
	for _, c := range ts {
		out = append(out, c.Tag.Slug+"="+c.Tag.Name+":"+string(rune('0'+c.Posts)))
	}
	return out
}
