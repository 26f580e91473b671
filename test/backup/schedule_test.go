package backup

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/test/keelproc"
)

// TestScheduledBackupsOneNodeEach runs two serve nodes on one PostgreSQL
// database, each with its own backup directory and a schedule of every
// second, and checks that each scheduled time was backed up by exactly
// one of them, that every run succeeded and its archive verifies, and
// that each directory keeps only KEEL_BACKUP_KEEP of them.
func TestScheduledBackupsOneNodeEach(t *testing.T) {
	db := newTarget(t, "postgres")
	dirs := []string{t.TempDir(), t.TempDir()}
	var admin []string
	var first *keelproc.Proc
	for i, dir := range dirs {
		p := keelproc.Serve(t, "node"+string(rune('a'+i)), []string{"KEEL_DATABASE_URL=" + db.url, "KEEL_DATA_DIR=" + t.TempDir(), "KEEL_DISPATCHER=off",
			"KEEL_BACKUP_SCHEDULE=@every 1s", "KEEL_BACKUP_KEEP=2", "KEEL_BACKUP_DIR=" + dir})
		defer p.Stop(t)
		admin = append(admin, fmt.Sprint(p.WaitLog(t, "listening", time.Minute)["admin_addr"]))
		if first == nil {
			first = p
		}
	}
	conn := openSQL(t, db)
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := conn.QueryRow(`SELECT COUNT(*) FROM backup_runs WHERE status = 'succeeded'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d scheduled backups succeeded in a minute, want 6", n)
		}
		time.Sleep(200 * time.Millisecond) // polling other processes' work
	}
	rows, err := conn.Query(`SELECT scheduled_at, node, status, file, error FROM backup_runs WHERE status <> 'running' ORDER BY scheduled_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	nodes := map[string]int{}
	for rows.Next() {
		var at time.Time
		var node, status, file, msg string
		if err := rows.Scan(&at, &node, &status, &file, &msg); err != nil {
			t.Fatal(err)
		}
		if status != "succeeded" {
			t.Errorf("the backup scheduled at %s %s: %s", at, status, msg)
		}
		nodes[node]++
		in := 0
		for _, dir := range dirs {
			if strings.HasPrefix(file, dir) {
				in++
			}
		}
		if in != 1 {
			t.Errorf("the backup scheduled at %s went to %s, in %d of the nodes' directories", at, file, in)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "keel-backup-*.zip"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) > 2 {
			t.Errorf("%s keeps %d backups, want at most KEEL_BACKUP_KEEP=2", dir, len(files))
		}
		for _, f := range files {
			if seen[filepath.Base(f)] {
				t.Errorf("both nodes took the backup %s", filepath.Base(f))
			}
			seen[filepath.Base(f)] = true
			db.mustKeel(t, "backup", "verify", f)
		}
	}
	t.Logf("backups taken per node: %v", nodes)
	// GET /v1/admin/backups lists them, newest first, for an instance
	// administrator.
	site := keelproc.NewSite(t, first, "backups", "")
	var list struct {
		Data []struct {
			ScheduledAt string `json:"scheduled_at"`
			Status      string `json:"status"`
		}
	}
	first.MustCall(t, "GET", "/v1/admin/backups", site.Token, nil, 200, &list)
	if len(list.Data) < 6 {
		t.Errorf("GET /v1/admin/backups lists %d runs, want at least 6", len(list.Data))
	}
	for i := 1; i < len(list.Data); i++ {
		if list.Data[i].ScheduledAt >= list.Data[i-1].ScheduledAt {
			t.Errorf("GET /v1/admin/backups: run %d (%s) is not older than run %d (%s)", i, list.Data[i].ScheduledAt, i-1, list.Data[i-1].ScheduledAt)
		}
	}
	// Each node reports the last success of any node, read from the
	// database at start and updated by its own runs.
	for _, addr := range admin[:1] {
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		m := regexp.MustCompile(`(?m)^keel_backup_last_success_seconds(?:\{[^}]*\})? ([0-9.e+]+)$`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("no keel_backup_last_success_seconds in /metrics:\n%s", body)
		}
		if v, _ := strconv.ParseFloat(string(m[1]), 64); v < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("keel_backup_last_success_seconds = %s, want within the last minute", m[1])
		}
	}
}
