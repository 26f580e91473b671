package content_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// upper is a stand-in renderer: the real one is an adapter with its own
// tests, and these only need to see that the body was rendered again.
type upper struct{ calls int }

func (u *upper) Render(md string) domain.Rendered {
	u.calls++
	return domain.Rendered{HTML: "<p>" + strings.ToUpper(md) + "</p>", Text: md}
}

type fixture struct {
	svc     *content.Service
	db      *sqlstore.DB
	authz   ports.Authorizer
	clock   *clock
	render  *upper
	owner   domain.Principal
	viewer  domain.Principal
	ws      domain.Workspace
	changed int
}

func ptr[T any](v T) *T { return &v }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := sqlitetest.New(t)
	c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	owner, _ := domain.NewUser(domain.NewUserInput{Email: "owner@example.com", Name: "O", PasswordHash: "x"}, c.Now())
	viewer, _ := domain.NewUser(domain.NewUserInput{Email: "viewer@example.com", Name: "V", PasswordHash: "x"}, c.Now())
	ws, _ := domain.NewWorkspace("Site", "site", c.Now())
	err := db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		for _, u := range []domain.User{owner, viewer} {
			if err := st.Users().Add(ctx, u); err != nil {
				return err
			}
		}
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		if err := st.Memberships().Add(ctx, domain.Membership{Workspace: ws.ID(), User: owner.ID(), Role: domain.RoleOwner, CreatedAt: c.Now()}); err != nil {
			return err
		}
		return st.Memberships().Add(ctx, domain.Membership{Workspace: ws.ID(), User: viewer.ID(), Role: domain.RoleViewer, CreatedAt: c.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	authz, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	f := &fixture{
		db: db, authz: authz, clock: c, render: &upper{}, ws: ws,
		owner:  domain.NewUserPrincipal(owner.ID(), false, "ses_o"),
		viewer: domain.NewUserPrincipal(viewer.ID(), false, "ses_v"),
	}
	f.svc = content.NewService(content.Config{
		UoW: db, Authorizer: authz, Clock: c, Renderer: f.render,
		PublicChanged: func() { f.changed++ },
	})
	return f
}

func (f *fixture) post(t *testing.T, title string) domain.Entry {
	t.Helper()
	e, err := f.svc.CreateEntry(t.Context(), f.owner, "site", content.CreateInput{Kind: "post", Content: domain.EntryContent{Title: title, Body: "body of " + title}})
	if err != nil {
		t.Fatalf("CreateEntry: %v", err)
	}
	return e
}

func (f *fixture) events(t *testing.T) []string {
	t.Helper()
	var out []string
	err := f.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		evs, _, err := st.Events().List(ctx, f.ws.ID(), "", ports.Page{Limit: ports.MaxPageLimit})
		for _, e := range evs {
			out = append(out, e.Type)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) publicVersion(t *testing.T) int64 {
	t.Helper()
	v, err := f.svc.PublicVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func TestCreateRendersAndKeepsTheFirstRevision(t *testing.T) {
	f := newFixture(t)
	e := f.post(t, "Crème brûlée")
	if e.Slug() != "creme-brulee" || e.Rendered().HTML != "<p>BODY OF CRÈME BRÛLÉE</p>" || e.Author() != f.owner.User() || e.Version() != 1 {
		t.Errorf("created %q %q author %s v%d", e.Slug(), e.Rendered().HTML, e.Author(), e.Version())
	}
	revs, _, err := f.svc.ListRevisions(t.Context(), f.viewer, "site", e.ID(), ports.Page{})
	if err != nil || len(revs) != 1 || revs[0].Version != 1 || revs[0].ActorID != string(f.owner.User()) {
		t.Fatalf("revisions = %+v, %v", revs, err)
	}
	_, err = f.svc.CreateEntry(t.Context(), f.owner, "site", content.CreateInput{Kind: "post", Content: domain.EntryContent{Title: "Creme Brulee"}})
	wantErr(t, "same slug", err, domain.ErrEntrySlugTaken)
	if _, err := f.svc.CreateEntry(t.Context(), f.owner, "site", content.CreateInput{Kind: "page", Content: domain.EntryContent{Title: "Creme Brulee"}}); err != nil {
		t.Errorf("a page may share a post's slug: %v", err)
	}
	_, err = f.svc.CreateEntry(t.Context(), f.viewer, "site", content.CreateInput{Kind: "post", Content: domain.EntryContent{Title: "Nope"}})
	wantErr(t, "viewer creates", err, domain.ErrForbidden)
	_, err = f.svc.CreateEntry(t.Context(), f.owner, "site", content.CreateInput{Kind: "essay", Content: domain.EntryContent{Title: "x"}})
	if domain.KindOf(err) != domain.KindInvalid {
		t.Errorf("unknown kind: %v", err)
	}
}

func TestUpdateChecksTheVersionAndRendersOnlyANewBody(t *testing.T) {
	f := newFixture(t)
	e := f.post(t, "First")
	calls := f.render.calls
	e2, err := f.svc.UpdateEntry(t.Context(), f.owner, "site", e.ID(), ptr(1), domain.EntryPatch{Title: ptr("First, renamed")})
	if err != nil {
		t.Fatal(err)
	}
	if e2.Version() != 2 || e2.Slug() != "first" || f.render.calls != calls {
		t.Errorf("after a title change: v%d slug %q renders %d", e2.Version(), e2.Slug(), f.render.calls-calls)
	}
	_, err = f.svc.UpdateEntry(t.Context(), f.owner, "site", e.ID(), ptr(1), domain.EntryPatch{Body: ptr("lost update")})
	wantErr(t, "stale If-Match", err, domain.ErrVersionConflict)
	e3, err := f.svc.UpdateEntry(t.Context(), f.owner, "site", e.ID(), nil, domain.EntryPatch{Body: ptr("new body")})
	if err != nil || e3.Rendered().HTML != "<p>NEW BODY</p>" || e3.Version() != 3 {
		t.Fatalf("body change: %v %q v%d", err, e3.Rendered().HTML, e3.Version())
	}
	if f.changed != 0 {
		t.Errorf("editing a draft told the public cache %d times", f.changed)
	}
	got, err := f.svc.GetEntry(t.Context(), f.viewer, "site", e.ID())
	if err != nil || got.Body() != "new body" || got.Version() != 3 {
		t.Errorf("GetEntry = %q v%d, %v", got.Body(), got.Version(), err)
	}
	_, err = f.svc.GetEntry(t.Context(), f.viewer, "site", "ent_nonsense")
	wantErr(t, "malformed id", err, domain.ErrNotFound)
}

func TestRestoreMakesANewRevision(t *testing.T) {
	f := newFixture(t)
	e := f.post(t, "Original")
	if _, err := f.svc.UpdateEntry(t.Context(), f.owner, "site", e.ID(), nil, domain.EntryPatch{Title: ptr("Changed"), Body: ptr("changed")}); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.RestoreRevision(t.Context(), f.owner, "site", e.ID(), 1, ptr(2))
	if err != nil {
		t.Fatal(err)
	}
	if r.Title() != "Original" || r.Body() != "body of Original" || r.Version() != 3 || r.Rendered().HTML != "<p>BODY OF ORIGINAL</p>" {
		t.Errorf("restored: %q %q v%d %q", r.Title(), r.Body(), r.Version(), r.Rendered().HTML)
	}
	revs, _, err := f.svc.ListRevisions(t.Context(), f.owner, "site", e.ID(), ports.Page{})
	if err != nil || len(revs) != 3 || revs[0].Version != 3 || revs[0].Content.Title != "Original" || revs[1].Content.Title != "Changed" {
		t.Errorf("revisions after restore: %+v, %v", revs, err)
	}
	_, err = f.svc.RestoreRevision(t.Context(), f.owner, "site", e.ID(), 9, nil)
	wantErr(t, "unknown revision", err, domain.ErrNotFound)
	_, err = f.svc.RestoreRevision(t.Context(), f.owner, "site", e.ID(), 1, ptr(2))
	wantErr(t, "stale restore", err, domain.ErrVersionConflict)
}

func TestPublicationEmitsEventsAndInvalidates(t *testing.T) {
	f := newFixture(t)
	e := f.post(t, "News")
	v0 := f.publicVersion(t)

	p, err := f.svc.PublishEntry(t.Context(), f.owner, "site", e.ID(), nil, nil)
	if err != nil || p.Status() != domain.EntryPublished {
		t.Fatalf("publish: %v %s", err, p.Status())
	}
	if f.changed != 1 || f.publicVersion(t) == v0 {
		t.Errorf("publish: local invalidations %d, counter %d → %d", f.changed, v0, f.publicVersion(t))
	}
	got, err := f.svc.PublishedEntry(t.Context(), f.ws.ID(), domain.KindPost, "news")
	if err != nil || got.ID() != e.ID() {
		t.Fatalf("PublishedEntry: %v", err)
	}
	_, err = f.svc.PublishEntry(t.Context(), f.owner, "site", e.ID(), nil, nil)
	wantErr(t, "publish twice", err, domain.ErrAlreadyPublished)

	// Editing published content changes what the public sees.
	if _, err := f.svc.UpdateEntry(t.Context(), f.owner, "site", e.ID(), nil, domain.EntryPatch{Body: ptr("fixed")}); err != nil {
		t.Fatal(err)
	}
	if f.changed != 2 {
		t.Errorf("editing a published entry: invalidations %d, want 2", f.changed)
	}
	if _, err := f.svc.UnpublishEntry(t.Context(), f.owner, "site", e.ID(), domain.EntryArchived, nil); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.PublishedEntry(t.Context(), f.ws.ID(), domain.KindPost, "news")
	wantErr(t, "archived entry in public", err, domain.ErrNotFound)

	page := f.post(t, "About")
	if err := f.svc.DeleteEntry(t.Context(), f.owner, "site", page.ID(), nil); err != nil {
		t.Fatal(err)
	}
	// Every change writes its event, drafts' too: the API shows drafts to
	// partners with content:read, so they hear of their edits and deletion.
	if got, want := strings.Join(f.events(t), ","), "post.published,post.updated,post.unpublished,post.deleted"; got != want {
		t.Errorf("events = %s, want %s", got, want)
	}
	pub, _ := f.svc.PublishEntry(t.Context(), f.owner, "site", e.ID(), nil, nil)
	if err := f.svc.DeleteEntry(t.Context(), f.owner, "site", e.ID(), ptr(pub.Version())); err != nil {
		t.Fatal(err)
	}
	// Deleting a published entry says it left the site, then that it is gone.
	if got, want := strings.Join(f.events(t), ","), "post.published,post.updated,post.unpublished,post.deleted,post.published,post.unpublished,post.deleted"; got != want {
		t.Errorf("events = %s, want %s", got, want)
	}
	_, err = f.svc.PublishEntry(t.Context(), f.viewer, "site", page.ID(), nil, nil)
	if !errors.Is(err, domain.ErrForbidden) && !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("viewer publishes: %v", err)
	}
}

func TestSchedulerPublishesDueEntriesOnce(t *testing.T) {
	f := newFixture(t)
	a, b := f.post(t, "Soon"), f.post(t, "Later")
	soon, later := f.clock.Now().Add(time.Minute), f.clock.Now().Add(time.Hour)
	if _, err := f.svc.PublishEntry(t.Context(), f.owner, "site", a.ID(), &soon, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PublishEntry(t.Context(), f.owner, "site", b.ID(), &later, nil); err != nil {
		t.Fatal(err)
	}
	if f.changed != 0 || len(f.events(t)) != 0 {
		t.Fatalf("scheduling published something: %d invalidations, events %q", f.changed, f.events(t))
	}
	if n, err := f.svc.PublishDue(t.Context(), 10); err != nil || n != 0 {
		t.Fatalf("PublishDue before time = %d, %v", n, err)
	}
	_, err := f.svc.PublishedEntry(t.Context(), f.ws.ID(), domain.KindPost, "soon")
	wantErr(t, "scheduled entry in public", err, domain.ErrNotFound)

	f.clock.Add(time.Minute)
	if n, err := f.svc.PublishDue(t.Context(), 10); err != nil || n != 1 {
		t.Fatalf("PublishDue at time = %d, %v", n, err)
	}
	if n, _ := f.svc.PublishDue(t.Context(), 10); n != 0 {
		t.Errorf("second PublishDue published %d again", n)
	}
	got, err := f.svc.PublishedEntry(t.Context(), f.ws.ID(), domain.KindPost, "soon")
	if err != nil || !got.PublishedAt().Equal(soon) {
		t.Fatalf("published entry: %v, published_at %v", err, got.PublishedAt())
	}
	if ev := f.events(t); len(ev) != 1 || ev[0] != "post.published" || f.changed != 1 {
		t.Errorf("events %q, invalidations %d", ev, f.changed)
	}
}

func TestPublicListingAndSitemapShowOnlyPublished(t *testing.T) {
	f := newFixture(t)
	var published []domain.EntryID
	for i, title := range []string{"One", "Two", "Three", "Four"} {
		e := f.post(t, title)
		f.clock.Add(time.Second)
		if i%2 == 0 {
			if _, err := f.svc.PublishEntry(t.Context(), f.owner, "site", e.ID(), nil, nil); err != nil {
				t.Fatal(err)
			}
			published = append(published, e.ID())
		}
	}
	es, next, err := f.svc.PublishedEntries(t.Context(), f.ws.ID(), domain.KindPost, ports.PublicFilter{}, ports.Page{})
	if err != nil || next != "" || len(es) != 2 || es[0].ID() != published[1] || es[1].ID() != published[0] {
		t.Fatalf("PublishedEntries = %d entries (want newest first of %v), next %q, %v", len(es), published, next, err)
	}
	var seen []domain.EntryID
	if err := f.svc.EachPublished(t.Context(), f.ws.ID(), func(e domain.Entry) error { seen = append(seen, e.ID()); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Errorf("sitemap entries = %v, want the 2 published", seen)
	}
	if _, err := f.svc.Site(t.Context(), "site"); err != nil {
		t.Errorf("Site: %v", err)
	}
	_, err = f.svc.Site(t.Context(), "Not a slug!")
	wantErr(t, "bad site slug", err, domain.ErrNotFound)
	_, err = f.svc.Site(t.Context(), "nosuchsite")
	wantErr(t, "unknown site", err, domain.ErrNotFound)
}

// txWatch is a unit of work that knows when a write transaction is open,
// and watchedRenderer a renderer that counts its calls and those made
// inside one: Markdown costs what its author wants it to cost, so it must
// run neither for a caller who may not write nor inside a transaction,
// where it would hold up every other writer.
type txWatch struct {
	ports.UnitOfWork
	inTx atomic.Bool
}

func (w *txWatch) WithinTx(ctx context.Context, fn func(context.Context, ports.Stores) error) error {
	return w.UnitOfWork.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
		w.inTx.Store(true)
		defer w.inTx.Store(false)
		return fn(ctx, st)
	})
}

type watchedRenderer struct {
	tx            *txWatch
	calls, withTx atomic.Int32
}

func (r *watchedRenderer) Render(md string) domain.Rendered {
	r.calls.Add(1)
	if r.tx.inTx.Load() {
		r.withTx.Add(1)
	}
	return domain.Rendered{HTML: "<p>" + md + "</p>", Text: md}
}

func TestWritesRenderOnlyForAuthorizedCallersAndOutsideTheTransaction(t *testing.T) {
	f := newFixture(t)
	tx := &txWatch{UnitOfWork: f.db}
	r := &watchedRenderer{tx: tx}
	svc := content.NewService(content.Config{UoW: tx, Authorizer: f.authz, Clock: f.clock, Renderer: r})
	e := f.post(t, "Existing")
	body := content.CreateInput{Kind: "post", Content: domain.EntryContent{Title: "Big", Body: strings.Repeat("*a ", 1000)}}
	anon := domain.AnonymousPrincipal

	refused := []struct {
		name string
		call func() error
	}{
		{"anonymous create in an unknown workspace", func() error {
			_, err := svc.CreateEntry(t.Context(), anon, "nosuchsite", body)
			return err
		}},
		{"anonymous create", func() error { _, err := svc.CreateEntry(t.Context(), anon, "site", body); return err }},
		{"viewer create", func() error { _, err := svc.CreateEntry(t.Context(), f.viewer, "site", body); return err }},
		{"owner create in an unknown workspace", func() error {
			_, err := svc.CreateEntry(t.Context(), f.owner, "nosuchsite", body)
			return err
		}},
		{"anonymous update", func() error {
			_, err := svc.UpdateEntry(t.Context(), anon, "site", e.ID(), nil, domain.EntryPatch{Body: ptr("new")})
			return err
		}},
		{"viewer update", func() error {
			_, err := svc.UpdateEntry(t.Context(), f.viewer, "site", e.ID(), nil, domain.EntryPatch{Body: ptr("new")})
			return err
		}},
		{"update of an unknown entry", func() error {
			_, err := svc.UpdateEntry(t.Context(), f.owner, "site", "ent_nonsense", nil, domain.EntryPatch{Body: ptr("new")})
			return err
		}},
		{"update with a stale If-Match", func() error {
			_, err := svc.UpdateEntry(t.Context(), f.owner, "site", e.ID(), ptr(7), domain.EntryPatch{Body: ptr("new")})
			return err
		}},
	}
	for _, c := range refused {
		if err := c.call(); err == nil {
			t.Errorf("%s: no error", c.name)
		}
		if n := r.calls.Swap(0); n != 0 {
			t.Errorf("%s: rendered %d times before being refused", c.name, n)
		}
	}

	created, err := svc.CreateEntry(t.Context(), f.owner, "site", body)
	if err != nil {
		t.Fatal(err)
	}
	updated, err := svc.UpdateEntry(t.Context(), f.owner, "site", created.ID(), ptr(1), domain.EntryPatch{Body: ptr("changed")})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Rendered().HTML != "<p>changed</p>" || updated.Version() != 2 {
		t.Errorf("updated entry: %q v%d", updated.Rendered().HTML, updated.Version())
	}
	if _, err := svc.RestoreRevision(t.Context(), f.owner, "site", created.ID(), 1, nil); err != nil {
		t.Fatal(err)
	}
	if calls, inTx := r.calls.Load(), r.withTx.Load(); calls != 3 || inTx != 0 {
		t.Errorf("create, update and restore rendered %d times (want 3), %d of them inside a transaction (want 0)", calls, inTx)
	}
}
