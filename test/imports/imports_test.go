// Package imports runs "keel import ghost" and "keel import wordpress" on
// hand-written exports of each format, on SQLite and PostgreSQL, twice:
// the first run brings posts, pages, tags and authors with their dates,
// the second changes nothing.
package imports

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/cmd/keel/bootstrap"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	code := m.Run()
	_ = testdb.Stop()
	os.Exit(code)
}

type engine struct {
	name string
	url  func(t *testing.T) string
}

var engines = []engine{
	{"sqlite", testdb.SQLite},
	{"postgres", func(t *testing.T) string { return testdb.Postgres(t, testdb.MigrateKeel) }},
}

// site is a migrated database with a workspace "site" whose owner is
// maren@example.com (the address the fixtures' main author has) and
// whose editor is ed@example.com.
type site struct {
	url          string
	db           *sqlstore.DB
	ws           domain.WorkspaceID
	maren, owner domain.UserID
}

func newSite(t testing.TB, url string) *site {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ws, _ := domain.NewWorkspace("Site", "site", now)
	s := &site{url: url, db: db, ws: ws.ID()}
	err = db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		for _, m := range []struct {
			email string
			role  domain.Role
			id    *domain.UserID
		}{{"owner@example.com", domain.RoleOwner, &s.owner}, {"maren@example.com", domain.RoleAdmin, &s.maren}, {"ed@example.com", domain.RoleEditor, nil}} {
			u, err := domain.NewUser(domain.NewUserInput{Email: m.email, Name: strings.TrimSuffix(m.email, "@example.com"), PasswordHash: "x"}, now)
			if err != nil {
				return err
			}
			if m.id != nil {
				*m.id = u.ID()
			}
			if err := st.Users().Add(ctx, u); err != nil {
				return err
			}
			if err := st.Memberships().Add(ctx, domain.Membership{Workspace: ws.ID(), User: u.ID(), Role: m.role, CreatedAt: now}); err != nil {
				return err
			}
			now = now.Add(time.Second) // the owner is the first
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keel runs the keel command with args on the site's database.
func (s *site) keel(t testing.TB, args ...string) (stdout string, err error) {
	t.Helper()
	env := map[string]string{"KEEL_DATABASE_URL": s.url, "KEEL_DATA_DIR": t.TempDir()}
	var out, errOut bytes.Buffer
	err = bootstrap.Run(t.Context(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// state is what a second import must leave as it is: every entry's
// version, times and status, and the number of audit records, tags and
// authors.
func (s *site) state(t *testing.T) (entries map[string]domain.Entry, summary string) {
	t.Helper()
	entries = map[string]domain.Entry{}
	var b strings.Builder
	err := s.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		es, _, err := st.Entries().List(ctx, s.ws, ports.EntryFilter{}, ports.Page{Limit: ports.MaxPageLimit})
		if err != nil {
			return err
		}
		for _, e := range es {
			entries[e.Title()] = e
		}
		slices.SortFunc(es, func(a, b domain.Entry) int { return strings.Compare(string(a.ID()), string(b.ID())) })
		for _, e := range es {
			fmt.Fprintf(&b, "%s %s v%d %s %s %v\n", e.ID(), e.Status(), e.Version(), e.UpdatedAt().Format(time.RFC3339Nano), e.Slug(), e.Tags())
		}
		audit, _, err := st.Audit().List(ctx, s.ws, ports.Page{Limit: ports.MaxPageLimit})
		if err != nil {
			return err
		}
		tags, _, err := st.Tags().List(ctx, s.ws, false, ports.Page{Limit: ports.MaxPageLimit})
		if err != nil {
			return err
		}
		authors, _, err := st.Authors().List(ctx, s.ws, ports.Page{Limit: ports.MaxPageLimit})
		// Events are left out: on PostgreSQL the feed shows an event only
		// once every older transaction of the cluster has ended, so a
		// count would move with other tests' work. Each imported entry's
		// event is written with its audit record, which is counted.
		fmt.Fprintf(&b, "%d audit records, %d tags, %d authors\n", len(audit), len(tags), len(authors))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return entries, b.String()
}

func (s *site) tag(t *testing.T, slug string) domain.Tag {
	t.Helper()
	var tag domain.Tag
	err := s.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		var err error
		tag, err = st.Tags().Get(ctx, s.ws, slug)
		return err
	})
	if err != nil {
		t.Fatalf("tag %s: %v", slug, err)
	}
	return tag
}

func (s *site) author(t *testing.T, u domain.UserID) domain.Author {
	t.Helper()
	var a domain.Author
	err := s.db.ReadOnly(t.Context(), func(ctx context.Context, st ports.Stores) error {
		var err error
		a, err = st.Authors().Get(ctx, s.ws, u)
		return err
	})
	if err != nil {
		t.Fatalf("author %s: %v", u, err)
	}
	return a
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// importTwice runs a dry run, which writes nothing, then the import
// twice: the second run must find everything imported and change
// nothing. It returns the first run's output and the entries by title.
func importTwice(t *testing.T, s *site, format, file string, created int) (string, map[string]domain.Entry) {
	t.Helper()
	out, err := s.keel(t, "import", format, file, "--workspace", "site", "--dry-run")
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("%d entries would import (dry run: nothing was written), 0 already imported", created); !strings.Contains(out, want) {
		t.Errorf("dry run says:\n%s\nwant %q", out, want)
	}
	if entries, _ := s.state(t); len(entries) != 0 {
		t.Fatalf("the dry run wrote %d entries", len(entries))
	}

	out, err = s.keel(t, "import", format, file, "--workspace", "site")
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("%d entries imported, 0 already imported and left as they are, 0 skipped", created); !strings.Contains(out, want) {
		t.Errorf("the import says:\n%s\nwant %q", out, want)
	}
	entries, before := s.state(t)
	if len(entries) != created {
		t.Fatalf("%d entries after the import, want %d:\n%s", len(entries), created, before)
	}

	again, err := s.keel(t, "import", format, file, "--workspace", "site")
	if err != nil {
		t.Fatalf("second import: %v\n%s", err, again)
	}
	if want := fmt.Sprintf("0 entries imported, %d already imported and left as they are", created); !strings.Contains(again, want) {
		t.Errorf("the second import says:\n%s\nwant %q", again, want)
	}
	if _, after := s.state(t); after != before {
		t.Errorf("the second import changed the workspace:\nbefore\n%s\nafter\n%s", before, after)
	}
	return out, entries
}

func noted(t *testing.T, out string, parts ...string) {
	t.Helper()
	for l := range strings.SplitSeq(out, "\n") {
		ok := strings.HasPrefix(l, "note: ")
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no note line with %q in:\n%s", parts, out)
}

func TestImportGhostTwice(t *testing.T) {
	t.Parallel()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t, e.url(t))
			out, entries := importTwice(t, s, "ghost", "../../adapters/siteimport/testdata/ghost.json", 5)

			welcome := entries["Welcome to the Harbour Log"]
			if welcome.Status() != domain.EntryPublished || welcome.PublishedAt() == nil || !welcome.PublishedAt().Equal(at("2019-05-01T08:30:00Z")) ||
				!welcome.CreatedAt().Equal(at("2019-04-30T10:00:00Z")) || welcome.Slug() != "welcome" || welcome.Author() != s.maren ||
				welcome.Excerpt() != "Tides, twice a day." || welcome.CoverImageURL() != "https://example.com/content/images/cover.jpg" {
				t.Errorf("the published post is %s at %v, created %v, slug %q, by %s, excerpt %q, cover %q", welcome.Status(), welcome.PublishedAt(),
					welcome.CreatedAt(), welcome.Slug(), welcome.Author(), welcome.Excerpt(), welcome.CoverImageURL())
			}
			if !slices.Equal(welcome.Tags(), []string{"News", "Getting Started"}) {
				t.Errorf("tags %q, want the names as Ghost shows them, without the internal one", welcome.Tags())
			}
			if html := welcome.Rendered().HTML; !strings.Contains(html, "<strong>twice</strong>") || !strings.Contains(html, "<table>") || strings.Contains(html, "iframe") {
				t.Errorf("the rendered body:\n%s", html)
			}
			if d := entries["Winter moorings (draft)"]; d.Status() != domain.EntryDraft || d.PublishedAt() != nil || d.Author() != s.owner {
				t.Errorf("the draft is %s at %v by %s, want a draft by the importing owner (its author is no member)", d.Status(), d.PublishedAt(), d.Author())
			}
			if p := entries["About"]; p.Kind() != domain.KindPage || p.Status() != domain.EntryPublished || !p.PublishedAt().Equal(at("2018-12-01T09:00:00Z")) {
				t.Errorf("the page is a %s, %s at %v", p.Kind(), p.Status(), p.PublishedAt())
			}
			if sch := entries["Spring tides of 2099"]; sch.Status() != domain.EntryScheduled || sch.PublishAt() == nil || !sch.PublishAt().Equal(at("2099-03-20T06:00:00Z")) {
				t.Errorf("the scheduled post is %s for %v", sch.Status(), sch.PublishAt())
			}
			if tag := s.tag(t, "news"); tag.Name != "News" || tag.Description != "What happened in the harbour." {
				t.Errorf("tag news = %+v", tag)
			}
			if a := s.author(t, s.maren); a.Name() != "Maren Quay" || a.Slug() != "maren" || a.Bio() != "Harbour master." || a.WebsiteURL() != "https://maren.example.com" {
				t.Errorf("Maren's profile = %+v", a.Profile())
			}
			// The importing owner wrote the guest's draft, so has a profile.
			if a := s.author(t, s.owner); a.Name() != "owner" {
				t.Errorf("the importing owner's profile = %+v", a.Profile())
			}
			noted(t, out, `author "Guest Writer"`, "guest@elsewhere.example")
			noted(t, out, `tag "#hidden"`)
			noted(t, out, "Newsletter only", "skipped")
			noted(t, out, "<iframe>")
		})
	}
}

func TestImportWordPressTwice(t *testing.T) {
	t.Parallel()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t, e.url(t))
			out, entries := importTwice(t, s, "wordpress", "../../adapters/siteimport/testdata/wordpress.xml", 5)

			loaf := entries["A loaf a day"]
			if loaf.Status() != domain.EntryPublished || !loaf.PublishedAt().Equal(at("2019-05-01T08:30:00Z")) || loaf.Author() != s.maren ||
				loaf.Slug() != "a-loaf-a-day" || !slices.Equal(loaf.Tags(), []string{"Recipes", "Sourdough"}) {
				t.Errorf("the post is %s at %v by %s, slug %q, tags %q", loaf.Status(), loaf.PublishedAt(), loaf.Author(), loaf.Slug(), loaf.Tags())
			}
			if rye := entries["Rye, in blocks"]; rye.Slug() != "epeautre-rye" || rye.Author() != s.owner {
				t.Errorf("the post with a percent-encoded slug has slug %q, author %s", rye.Slug(), rye.Author())
			}
			if d := entries["Croissants, someday"]; d.Status() != domain.EntryDraft || d.Slug() != "croissants-someday" {
				t.Errorf("the draft is %s with slug %q", d.Status(), d.Slug())
			}
			if p := entries["About the bakery"]; p.Kind() != domain.KindPage || p.Status() != domain.EntryPublished {
				t.Errorf("the page is a %s, %s", p.Kind(), p.Status())
			}
			if p := entries["Staff notes"]; p.Status() != domain.EntryDraft {
				t.Errorf("the private post is %s, want a draft", p.Status())
			}
			if tag := s.tag(t, "recipes"); tag.Name != "Recipes" || tag.Description != "Things to bake at home." {
				t.Errorf("tag recipes = %+v", tag)
			}
			noted(t, out, "Rye, in blocks", `"epeautre-rye"`)
			noted(t, out, `author "Olaf"`)
			noted(t, out, "loaf.jpg", "not imported")
			noted(t, out, "Burnt batch", "trash")
			noted(t, out, "A loaf a day", "comment")
		})
	}
}

// TestImportNeedsContentImport: an editor, who may publish, may not
// import, since an import dates entries in the past.
func TestImportNeedsContentImport(t *testing.T) {
	t.Parallel()
	s := newSite(t, engines[0].url(t))
	out, err := s.keel(t, "import", "ghost", "../../adapters/siteimport/testdata/ghost.json", "--workspace", "site", "--as", "ed@example.com")
	if err == nil {
		t.Fatalf("an editor imported:\n%s", out)
	}
	if !strings.Contains(err.Error(), "content:import") {
		t.Errorf("the refusal does not name the permission: %v", err)
	}
	if entries, _ := s.state(t); len(entries) != 0 {
		t.Errorf("the refused import wrote %d entries", len(entries))
	}
}

// TestImportGhostURL: --ghost-url puts the old site's address back where
// Ghost's export has its placeholder, so images stay where they were.
func TestImportGhostURL(t *testing.T) {
	t.Parallel()
	s := newSite(t, engines[0].url(t))
	out, err := s.keel(t, "import", "ghost", "../../adapters/siteimport/testdata/ghost.json", "--workspace", "site", "--ghost-url", "https://harbour.example.com")
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	entries, _ := s.state(t)
	if body := entries["About"].Body(); !strings.Contains(body, "(https://harbour.example.com/content/images/2018/12/quay.jpg)") {
		t.Errorf("the page's body:\n%s", body)
	}
	if _, err := s.keel(t, "import", "wordpress", "../../adapters/siteimport/testdata/wordpress.xml", "--workspace", "site", "--ghost-url", "https://harbour.example.com"); err == nil {
		t.Error("--ghost-url taken for a WordPress file")
	}
}
