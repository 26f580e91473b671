package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/test/testdb"
)

// Migration 00029 keys entry_tags by tag slug, gives every stored tag a
// row of tags (none lost, two spellings of one slug made one), and gives
// every member who wrote an entry an author profile.
func TestMigrationKeepsTagsAndBackfillsAuthors(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"sqlite":   testdb.SQLite,
		"postgres": testdb.EmptyPostgres,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db, err := sqlstore.Open(ctx, url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.MigrateUpTo(ctx, 28); err != nil {
				t.Fatal(err)
			}
			created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			exec := func(q string, args ...any) {
				t.Helper()
				if err := db.Exec(ctx, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec(`INSERT INTO workspaces (id, name, slug, created_at) VALUES ('wsp_1', 'Site', 'site', ?)`, created)
			exec(`INSERT INTO users (id, email, name, password_hash, status, created_at) VALUES ('usr_01ABC', 'jane@example.com', 'Jane Doe', '', 'active', ?)`, created)
			for _, e := range []struct{ id, tags string }{
				{"ent_1", `["web design","a b","a-b"]`},
				{"ent_2", `["web design","go"]`},
			} {
				exec(`INSERT INTO entries (id, workspace_id, kind, slug, title, body, body_html, body_text, excerpt, tags, cover_image_url,
					seo_title, seo_description, status, author_id, search_text, created_at, updated_at, version)
					VALUES (?, 'wsp_1', 'post', ?, 'T', '', '', '', '', ?, '', '', '', 'published', 'usr_01ABC', '', ?, ?, 1)`, e.id, e.id, e.tags, created, created)
				for _, tag := range strings.Split(strings.Trim(e.tags, `[]"`), `","`) {
					exec(`INSERT INTO entry_tags (entry_id, workspace_id, tag) VALUES (?, 'wsp_1', ?)`, e.id, tag)
				}
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			for q, want := range map[string]string{
				`SELECT slug || '=' || name FROM tags ORDER BY slug`:                   "a-b=a b,go=go,web-design=web design",
				`SELECT entry_id || ':' || tag FROM entry_tags ORDER BY entry_id, tag`: "ent_1:a-b,ent_1:web-design,ent_2:go,ent_2:web-design",
				`SELECT slug || '=' || name FROM authors`:                              "01abc=Jane Doe",
			} {
				got, err := db.Strings(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(got, ",") != want {
					t.Errorf("%s = %v, want %s", q, got, want)
				}
			}
		})
	}
}
