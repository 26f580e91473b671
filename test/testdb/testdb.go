// Package testdb gives each test a database of its own: a file in the test's
// temporary directory for SQLite, and a database in the test binary's one
// PostgreSQL container for PostgreSQL.
//
// Starting a container per test would cost seconds each; a database cloned
// from a migrated template costs milliseconds. The container lives until
// Stop, which TestMain must call after m.Run: Ryuk, which would otherwise
// remove it, cannot run on Keel's machines.
package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/test/containers"
)

// Names inside the container. The admin connection uses the maintenance
// database, never the template: a template with a session open cannot be
// cloned.
const (
	user     = "keel"
	password = "keel"
	adminDB  = "keel"
	template = "keel_template"
)

var (
	startOnce sync.Once
	startErr  error
	ctr       *tcpostgres.PostgresContainer
	admin     *sql.DB
	base      *url.URL // postgres://keel:keel@127.0.0.1:port/?sslmode=disable

	templateOnce sync.Once
	templateErr  error

	cloneMu sync.Mutex // PostgreSQL clones a template for one session at a time
	seq     atomic.Int64
)

// createdName matches the names create gives databases.
var createdName = regexp.MustCompile(`^t[0-9]+_[0-9]+$`)

// SQLite returns the URL of a fresh SQLite database file in t's temporary
// directory, removed with it.
func SQLite(t *testing.T) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "keel.db")
}

// Postgres returns the URL of a new database cloned from keel_template and
// drops it when t ends. The first call in a binary creates the template and
// runs migrate on it (nil leaves it empty); later calls reuse it, so every
// call in a binary must pass the same migrate. migrate must close its
// connections before it returns; any it leaves are terminated, since a
// template in use cannot be cloned.
func Postgres(t testing.TB, migrate func(ctx context.Context, url string) error) string {
	t.Helper()
	start(t)
	templateOnce.Do(func() { templateErr = prepareTemplate(migrate) })
	if templateErr != nil {
		t.Fatalf("prepare %s: %v", template, templateErr)
	}
	return create(t, "TEMPLATE "+template)
}

// Copy returns the URL of a new database cloned from the database at
// src, one that Postgres or Copy made, and drops it when t ends. No
// session may use the database at src meanwhile: PostgreSQL waits a few
// seconds for those closing, then refuses.
func Copy(t testing.TB, src string) string {
	t.Helper()
	start(t)
	u, err := url.Parse(src)
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if !createdName.MatchString(name) {
		t.Fatalf("copy %s: not a database this package made", name)
	}
	return create(t, "TEMPLATE "+name)
}

// EmptyPostgres returns the URL of a new, empty database, one no migration
// touched, and drops it when t ends: for tests of migrations themselves and
// end-to-end tests that let the program migrate.
func EmptyPostgres(t *testing.T) string {
	t.Helper()
	start(t)
	return create(t, "")
}

// PostgresAdminURL returns the URL of the container's maintenance database,
// where the test user may create and drop databases. Tests must not drop or
// connect to keel_template through it.
func PostgresAdminURL(t *testing.T) string {
	t.Helper()
	start(t)
	return dbURL(adminDB)
}

// Stop drops the admin connection and terminates the binary's PostgreSQL
// container, if it started. Call it in TestMain after m.Run.
func Stop() error {
	if ctr == nil {
		return nil
	}
	if admin != nil {
		_ = admin.Close()
	}
	// The data is thrown away: no need to wait for a clean shutdown.
	err := testcontainers.TerminateContainer(ctr, testcontainers.StopTimeout(time.Second))
	ctr, admin = nil, nil
	return err
}

func start(t testing.TB) {
	t.Helper()
	// The container outlives the test that starts it, hence Background.
	startOnce.Do(func() { startErr = startPostgres(context.Background()) })
	if startErr != nil {
		t.Fatalf("start postgres: %v", startErr)
	}
}

func startPostgres(ctx context.Context) error {
	image := containers.PostgresImage()
	if err := containers.RequireImage(ctx, image); err != nil {
		return err
	}
	c, err := tcpostgres.Run(ctx, image,
		containers.LoopbackPorts("5432/tcp"),
		containers.ProcessLabel(),
		tcpostgres.WithDatabase(adminDB),
		tcpostgres.WithUsername(user),
		tcpostgres.WithPassword(password),
		tcpostgres.BasicWaitStrategies(),
	)
	if err != nil {
		_ = testcontainers.TerminateContainer(c)
		return fmt.Errorf("run %s: %w", image, err)
	}
	dsn, err := c.ConnectionString(ctx, "sslmode=disable")
	if err == nil {
		base, err = url.Parse(dsn)
	}
	if err == nil {
		admin, err = sql.Open("pgx", dbURL(adminDB))
	}
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if admin != nil {
			_ = admin.Close()
		}
		_ = testcontainers.TerminateContainer(c)
		return fmt.Errorf("connect to %s: %w", image, err)
	}
	ctr = c
	return nil
}

// prepareTemplate creates keel_template and migrates it. Afterwards the
// template refuses connections, so nothing can keep it busy by mistake.
func prepareTemplate(migrate func(ctx context.Context, url string) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+template); err != nil {
		return err
	}
	if migrate != nil {
		if err := migrate(ctx, dbURL(template)); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+template+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return err
	}
	_, err := admin.ExecContext(ctx,
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", template)
	return err
}

// create makes a database with clause ("TEMPLATE x" or nothing) and drops
// it when t ends. Its name carries the process id, so a database a crashed
// binary left behind can be traced to it.
func create(t testing.TB, clause string) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), seq.Add(1)) // createdName
	cloneMu.Lock()
	_, err := admin.ExecContext(context.Background(), "CREATE DATABASE "+name+" "+clause)
	cloneMu.Unlock()
	if err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// FORCE ends the sessions a test left open, such as a pool it did
		// not close.
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return dbURL(name)
}

func dbURL(name string) string {
	u := *base
	u.Path = "/" + name
	return u.String()
}

// MigrateKeel migrates the database at url to Keel's schema: the migrate
// that tests of Keel's own stores pass to Postgres.
func MigrateKeel(ctx context.Context, url string) error {
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Migrate(ctx)
	return err
}
