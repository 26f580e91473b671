package sqlstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/test/testdb"
)

func TestMigrateTwiceIsANoOp(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"sqlite":   testdb.SQLite,
		"postgres": testdb.EmptyPostgres,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, err := sqlstore.Open(t.Context(), url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			before, err := db.MigrationStatus(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(before) == 0 || before[0].Applied {
				t.Fatalf("status before migrating = %+v, want pending migrations", before)
			}
			first, err := db.Migrate(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(first) != len(before) {
				t.Fatalf("applied %d migrations, want %d", len(first), len(before))
			}
			second, err := db.Migrate(t.Context())
			if err != nil || len(second) != 0 {
				t.Fatalf("second Migrate = %v, %v; want nothing to do", second, err)
			}
			after, err := db.MigrationStatus(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range after {
				if !m.Applied || m.AppliedAt.IsZero() {
					t.Fatalf("migration %d %s not applied after Migrate: %+v", m.Version, m.Name, m)
				}
			}
		})
	}
}

// Nodes that start together against one PostgreSQL must not race each
// other's migrations: an advisory lock serialises them, whether a node
// applies them in one run (Migrate) or one at a time (MigrateEach, as
// serve does to report each).
func TestConcurrentMigrationsOnPostgres(t *testing.T) {
	t.Parallel()
	url := testdb.EmptyPostgres(t)
	var wg sync.WaitGroup
	applied := make([]int, 4)
	for i := range applied {
		wg.Go(func() {
			db, err := sqlstore.Open(t.Context(), url)
			if err != nil {
				t.Error(err)
				return
			}
			defer db.Close()
			migrate := db.Migrate
			reported := 0
			if i%2 == 1 {
				migrate = func(ctx context.Context) ([]sqlstore.Migration, error) {
					return db.MigrateEach(ctx, nil, func(sqlstore.Migration) { reported++ })
				}
			}
			ms, err := migrate(t.Context())
			if err != nil {
				t.Errorf("node %d: %v", i, err)
			}
			if i%2 == 1 && reported != len(ms) {
				t.Errorf("node %d reported %d migrations and returned %d", i, reported, len(ms))
			}
			applied[i] = len(ms)
		})
	}
	wg.Wait()
	total := 0
	for _, n := range applied {
		total += n
	}
	db, err := sqlstore.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.MigrationStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if total != len(st) {
		t.Fatalf("nodes applied %d migrations in all (%v), want each of %d once", total, applied, len(st))
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"", "mysql://x", "sqlite:", "no-scheme"} {
		if _, err := sqlstore.Open(t.Context(), url); err == nil {
			t.Errorf("Open(%q) succeeded", url)
		}
	}
}

func TestOpenUnreachablePostgresIsUnavailableAndHidesPassword(t *testing.T) {
	t.Parallel()
	_, err := sqlstore.Open(t.Context(), "postgres://keel:s3cret-pw@127.0.0.1:1/keel?sslmode=disable&connect_timeout=2")
	if domain.KindOf(err) != domain.KindUnavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("error leaks the password: %v", err)
	}
	var de *domain.Error
	if !errors.As(err, &de) || strings.Contains(de.Message, "127.0.0.1") {
		t.Fatalf("safe message leaks details: %+v", de)
	}
}

// Spam a person filed after it arrived had its mail queued then, if its
// form mailed anyone: migration 00020 counted it as held back when none of
// its mail was in the outbox, and 00022 corrects that, so that marking it
// not spam sends no stale mail. Spam the filter caught on arrival, whose
// updated_at is its created_at, stays held.
func TestMigrationsHoldOnlyTheSpamFiltersMail(t *testing.T) {
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
			if err := db.MigrateUpTo(ctx, 19); err != nil {
				t.Fatal(err)
			}
			created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			filed := created.Add(90 * time.Minute)
			exec := func(q string, args ...any) {
				t.Helper()
				if err := db.Exec(ctx, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec(`INSERT INTO workspaces (id, name, slug, created_at) VALUES ('wsp_1', 'Site', 'site', ?)`, created)
			exec(`INSERT INTO forms (id, workspace_id, name, status, definition, created_at, updated_at) VALUES ('frm_1', 'wsp_1', 'Contact', 'open', '{}', ?, ?)`, created, created)
			for _, s := range []struct {
				id, status string
				updated    time.Time
			}{
				{"sub_caught", "spam", created},       // the filter's: held
				{"sub_filed_unmailed", "spam", filed}, // filed by a person, its form mailed nobody
				{"sub_filed_mailed", "spam", filed},   // filed by a person, its mail queued on arrival
				{"sub_fine", "new", created},
			} {
				exec(`INSERT INTO submissions (id, form_id, workspace_id, status, field_values, search_text, ip_hash, user_agent, referrer, origin, created_at, updated_at)
					VALUES (?, 'frm_1', 'wsp_1', ?, '[]', '', '', '', '', '', ?, ?)`, s.id, s.status, created, s.updated)
			}
			exec(`INSERT INTO outbox_messages (id, workspace_id, submission_id, kind, status, from_addr, to_addrs, reply_to, subject, text_body, html_body, attempts, next_attempt_at, trace_parent, created_at)
				VALUES ('msg_1', 'wsp_1', 'sub_filed_mailed', 'notification', 'sent', 'keel@example.com', '[]', '', 'New submission', '', '', '[]', ?, '', ?)`, created, created)
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			held, err := db.Strings(ctx, `SELECT id FROM submissions WHERE mail_held ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(held, ",") != "sub_caught" {
				t.Fatalf("submissions with their mail held = %v, want only sub_caught", held)
			}
		})
	}
}
