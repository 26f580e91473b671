package bootstrap

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
)

// TestMigrateUpPrintsEachMigrationWithItsDuration runs "keel migrate up"
// with its output not on a terminal: it prints one line per migration,
// in order, each with how long it took, and no progress bar.
func TestMigrateUpPrintsEachMigrationWithItsDuration(t *testing.T) {
	t.Parallel()
	e := map[string]string{"KEEL_DATA_DIR": t.TempDir()}
	out, errOut, err := run(t, t.Context(), []string{"migrate", "up"}, e)
	if err != nil {
		t.Fatalf("migrate up: %v\n%s%s", err, out, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr not on a terminal holds %q, want nothing (no progress bar)", errOut)
	}
	line := regexp.MustCompile(`^applied (\d{5}) (\d{5}_\S+\.sql) in (\S+)$`)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	last := 0
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q is not \"applied VERSION NAME in DURATION\"; output:\n%s", l, out)
		}
		v, _ := strconv.Atoi(m[1])
		if v <= last {
			t.Errorf("migration %d printed after %d", v, last)
		}
		last = v
		if d, err := time.ParseDuration(m[3]); err != nil || d < 0 {
			t.Errorf("%s: duration %q: %v", m[2], m[3], err)
		}
	}
	db, err := openDatabase(t.Context(), "sqlite:"+filepath.Join(e["KEEL_DATA_DIR"], "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := db.MigrationStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != len(all) {
		t.Errorf("%d lines for %d migrations:\n%s", len(lines), len(all), out)
	}
}

// TestServeLogsEachMigrationWithItsDuration starts a process as serve and
// worker do, on an empty database and without a terminal: the log holds
// one "migration applied" record per migration with its duration.
func TestServeLogsEachMigrationWithItsDuration(t *testing.T) {
	t.Parallel()
	out := &syncBuffer{}
	cfg := storeConfig{databaseURL: "sqlite:" + filepath.Join(t.TempDir(), "keel.db"), logLevel: slog.LevelInfo, traceExport: "none"}
	p, closeProcess, err := startProcess(t.Context(), cfg, func(string) string { return "" }, out)
	if err != nil {
		t.Fatal(err)
	}
	all, err := p.db.MigrationStatus(t.Context())
	closeProcess() // flushes the log
	if err != nil {
		t.Fatal(err)
	}
	var logged []int64
	for l := range strings.SplitSeq(out.String(), "\n") {
		var rec struct {
			Msg        string   `json:"msg"`
			Version    int64    `json:"version"`
			DurationMS *float64 `json:"duration_ms"`
		}
		if json.Unmarshal([]byte(l), &rec) != nil || rec.Msg != "migration applied" {
			continue
		}
		if rec.DurationMS == nil || *rec.DurationMS < 0 {
			t.Errorf("record without a duration: %s", l)
		}
		logged = append(logged, rec.Version)
	}
	if len(logged) != len(all) {
		t.Fatalf("%d migrations logged of %d:\n%s", len(logged), len(all), out.String())
	}
	for i, m := range all {
		if logged[i] != m.Version {
			t.Errorf("record %d is migration %d, want %d", i, logged[i], m.Version)
		}
	}
}

// TestMigrateEachTellsPendingThenEach checks what a progress bar is built
// from: the number of pending migrations first, then each one as it is
// applied, and nothing on a database that is up to date.
func TestMigrateEachTellsPendingThenEach(t *testing.T) {
	t.Parallel()
	db, err := openDatabase(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending, each := -1, 0
	applied, err := db.MigrateEach(t.Context(), func(n int) { pending = n }, func(sqlstore.Migration) {
		if pending < 0 {
			t.Error("a migration was reported before the pending count")
		}
		each++
	})
	if err != nil {
		t.Fatal(err)
	}
	if pending < 1 || each != pending || len(applied) != pending {
		t.Errorf("pending %d, reported %d, returned %d: want all equal and positive", pending, each, len(applied))
	}
	pending, each = -1, 0
	if _, err := db.MigrateEach(t.Context(), func(n int) { pending = n }, func(sqlstore.Migration) { each++ }); err != nil {
		t.Fatal(err)
	}
	if pending != 0 || each != 0 {
		t.Errorf("up to date: pending %d, reported %d, want 0 and 0", pending, each)
	}
}
