package export

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // fillBig's own connection

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	containers.Main(m, testdb.Stop)
}

// The case: some 500 anonymous submissions of about a megabyte
// each, the most a default request body holds.
const (
	bigRows    = 500
	bigMessage = 1<<20 - 4<<10
)

// TestExportMemoryOfTheBinary runs the keel binary as an operator would,
// over PostgreSQL holding 500 MB of submissions, and reads its peak
// resident memory from the kernel (VmHWM, the high-water mark, which no
// spike escapes) after two concurrent CSV exports and a list of 200. A
// server that read an export's batches or a list page by rows alone would
// hold hundreds of those megabytes at once; bounded by bytes, its peak
// stays well under a third of the data above its idle size. PostgreSQL
// rather than SQLite because SQLite reads through a memory map, whose
// pages count as resident memory of the process however little of them
// it holds on its heap.
func TestExportMemoryOfTheBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "keel")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/keelhq/keel/cmd/keel").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	url := testdb.Postgres(t, testdb.MigrateKeel)
	key, form, dataSize := fillBig(t, url)

	srv := startKeel(t, bin, url)
	auth := func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+key) }
	forms := srv.base + "/v1/workspaces/site/forms/" + string(form)

	// Warm up the paths the test measures, on a page of one, so that the
	// baseline includes the code and pools they need.
	resp, body := fetch(t, forms+"/submissions?limit=1", auth)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list = %d %s", resp.StatusCode, body)
	}
	baseline := srv.highWaterMark(t)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = exportCSV(t.Context(), forms+"/submissions/export?format=csv", key) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	resp, body = fetch(t, forms+"/submissions?limit=200", auth)
	var page struct {
		Data       []json.RawMessage `json:"data"`
		NextCursor *string           `json:"next_cursor"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &page) != nil {
		t.Fatalf("list of 200 = %d %.200s", resp.StatusCode, body)
	}
	t.Logf("list of 200: %d submissions in %.1f MB, next cursor %v", len(page.Data), float64(len(body))/mb, page.NextCursor != nil)
	// A page ends after the submission that reaches its budget, so it
	// may hold that budget and one more submission.
	if len(body) > 3*ports.MaxPageBytes || len(page.Data) == 0 || page.NextCursor == nil {
		t.Errorf("list of 200: %d submissions in %d bytes (next cursor %v), want at most %d bytes and a cursor to the rest",
			len(page.Data), len(body), page.NextCursor != nil, 3*ports.MaxPageBytes)
	}

	peak := srv.highWaterMark(t)
	srv.stop(t)
	// Two exports each hold a page (ports.MaxPageBytes of values and one
	// more submission) in a few copies (the driver's read buffer, the
	// row, its decoded values) and their garbage until the collector
	// runs, which lets the heap grow to twice what is live, and the
	// runtime returns freed memory to the kernel lazily: the bound leaves
	// room for a busy machine's timing. A server that held one export's
	// rows at once would need the data's size.
	bound := baseline + uint64(dataSize)/3
	t.Logf("data %.0f MB; resident memory: %.1f MB before the exports, peak %.1f MB, bound %.1f MB",
		float64(dataSize)/mb, float64(baseline)/mb, float64(peak)/mb, float64(bound)/mb)
	if peak > bound {
		t.Errorf("peak resident memory %.1f MB is above %.1f MB (%.1f MB idle + a third of the %.0f MB exported twice): exports and lists do not stay bounded by bytes",
			float64(peak)/mb, float64(bound)/mb, float64(baseline)/mb, float64(dataSize)/mb)
	}
}

// fillBig seeds the database at url with the workspace, key and form of
// seed, and bigRows submissions whose message is about bigMessage bytes,
// and returns the key, the form and the bytes of values stored. The
// submissions are made by PostgreSQL itself, in SQL: sending half a
// gigabyte through the container's port mapping would take most of the
// test's time.
func fillBig(t *testing.T, url string) (string, domain.FormID, int) {
	t.Helper()
	ctx := t.Context()
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	_, _, key, form := seed(t, db)
	_ = db.Close()

	start := time.Now()
	ids := make([]string, bigRows)
	for i := range ids {
		ids[i] = domain.NewID(domain.PrefixSubmission, start.Add(time.Duration(i-bigRows)*time.Millisecond))
	}
	const filler = "lorem ipsum, dolor sit amet "
	sqlDB, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	_, err = sqlDB.ExecContext(ctx, `INSERT INTO submissions (id, form_id, workspace_id, status, field_values, ip_hash, user_agent, referrer, origin, created_at, updated_at, search_text)
		SELECT t.id, $2, $3, 'new',
			'[{"field":"ref","values":["r' || lpad(t.n::text, 6, '0') || '"]},{"field":"message","values":["' || repeat($4, $5) || '"]}]',
			'', 'export-test', '', '', $6, $6, ''
		FROM unnest($1::text[]) WITH ORDINALITY AS t(id, n)`,
		ids, string(form.ID()), form.Workspace().String(), filler, bigMessage/len(filler), start)
	if err != nil {
		t.Fatalf("insert submissions: %v", err)
	}
	size := bigRows * (bigMessage / len(filler)) * len(filler)
	t.Logf("inserted %d submissions, %.0f MB, in %s", bigRows, float64(size)/mb, time.Since(start).Round(time.Millisecond))
	return key, form.ID(), size
}

// keel is the binary serving on base.
type keel struct {
	cmd  *exec.Cmd
	base string
	done chan error
}

// startKeel runs bin serve over dbURL on a free loopback port and returns
// once it logged the address it listens on.
func startKeel(t *testing.T, bin, dbURL string) *keel {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--http-addr", "127.0.0.1:0", "--dispatcher", "off")
	// GOGC=100 instead of serve's 400: this test measures what the server
	// holds, not how lazily the collector paces itself. At 400 the heap
	// may grow to five times what is live before a collection, a constant
	// factor on the same bounded pages that only blurs the measure (about
	// twice the peak above idle, still far under the bound).
	cmd.Env = append(os.Environ(), "KEEL_DATABASE_URL="+dbURL, "KEEL_DATA_DIR="+t.TempDir(), "GOGC=100")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k := &keel{cmd: cmd, done: make(chan error, 1)}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				listening <- line.Addr
			}
		}
		close(listening)
		k.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-k.done
		}
	})
	addr, ok := <-listening
	if !ok {
		t.Fatalf("keel exited without listening: %v\n%s", <-k.done, stderr.String())
	}
	k.base = "http://" + addr
	return k
}

// highWaterMark is the process's peak resident memory so far, in bytes
// (VmHWM).
func (k *keel) highWaterMark(t *testing.T) uint64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", k.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", k.cmd.Process.Pid)
	return 0
}

// stop ends the process with SIGTERM and waits for it to exit cleanly.
// Its peak memory is read before, from VmHWM: the rusage that wait
// reports (ru_maxrss) is no use here, since Linux carries over to the
// child, across exec, the resident size its parent had when it forked, so
// a test binary grown by an earlier test would be measured instead.
func (k *keel) stop(t *testing.T) {
	t.Helper()
	if err := k.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-k.done; err != nil {
		t.Fatalf("keel serve: %v", err)
	}
}

// exportCSV downloads an export, counting its lines as they arrive, and
// checks that it is whole: the header and a line per submission.
func exportCSV(ctx context.Context, url, key string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("export = %d %s", resp.StatusCode, body)
	}
	var lines lineCounter
	if _, err := io.Copy(&lines, resp.Body); err != nil {
		return fmt.Errorf("export after %d lines: %w", lines, err)
	}
	if lines != bigRows+1 {
		return fmt.Errorf("export has %d lines, want a header and %d submissions", lines, bigRows)
	}
	return nil
}

// lineCounter counts the newlines written to it: the export's messages
// hold none, so each is the end of a record.
type lineCounter int

func (c *lineCounter) Write(p []byte) (int, error) {
	*c += lineCounter(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// fetch GETs url with the request edited by edit and returns the whole
// response body.
func fetch(t *testing.T, url string, edit func(*http.Request)) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	edit(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}
