// Package faults runs the fault table of README's "Faults" section against
// the real keel binary and real containers: PostgreSQL restarted while
// keel serves, the SQLite disk full, and a node killed while it publishes
// scheduled posts. Each test observes the fault happening before it
// checks how Keel came through it: what was acknowledged is stored, once.
package faults

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"github.com/keelhq/keel/api/openapitest"
	"github.com/keelhq/keel/test/keelproc"
)

func TestMain(m *testing.M) {
	keelproc.Main(m)
}

// baseEnv is every keel process's configuration here: rate limits far
// above the tests' bursts from one address, and mail written to the data
// directory (the console mailer), since the tests count outbox rows, not
// deliveries.
func baseEnv(dbURL, dataDir string) []string {
	return []string{
		"KEEL_DATABASE_URL=" + dbURL,
		"KEEL_DATA_DIR=" + dataDir,
		"KEEL_SUBMIT_PER_IP=0",
		"KEEL_SUBMIT_PER_FORM=0",
		"KEEL_RATE_LIMIT_SESSION=0",
		"KEEL_RATE_LIMIT_ANONYMOUS=0",
		"KEEL_IP_HASH_KEY=faults-tests-ip-hash-key",
		"KEEL_SHUTDOWN_TIMEOUT=10s",
	}
}

// outcome is what one submission got: 201, or the problem that refused it.
type outcome struct {
	marker     string
	status     int
	code       string
	retryAfter bool
	took       time.Duration
	err        error // a transport error: no answer at all
}

// submit posts one submission whose field n is marker, and reports its
// outcome without failing the test: refusals are what the faults are
// expected to cause.
func submit(ctx context.Context, client *http.Client, p *keelproc.Proc, form, marker string) outcome {
	start := time.Now()
	o := outcome{marker: marker}
	req, err := http.NewRequestWithContext(ctx, "POST", p.URL+"/v1/forms/"+form+"/submissions", strings.NewReader(`{"n":"`+marker+`"}`))
	if err != nil {
		o.err = err
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	o.took = time.Since(start)
	if err != nil {
		o.err = err
		return o
	}
	defer resp.Body.Close()
	o.status = resp.StatusCode
	o.retryAfter = resp.Header.Get("Retry-After") != ""
	var problem struct {
		Code string `json:"code"`
	}
	if o.status != http.StatusCreated {
		_ = json.NewDecoder(resp.Body).Decode(&problem)
		o.code = problem.Code
	}
	return o
}

// newClient returns a client that checks every exchange against the
// OpenAPI document, as keelproc's calls do, so that the refusals a fault
// causes are held to the contract too. Its timeout is far above the bound
// the tests check, so that a request that hangs is reported as slow
// rather than lost.
func newClient(t *testing.T) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: openapitest.Transport(t, transport)}
}

var transport = &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}

// stream posts submissions from workers goroutines, each with a unique
// marker, until stop is called, and keeps every outcome.
type stream struct {
	mu       sync.Mutex
	outcomes []outcome
	wg       sync.WaitGroup
	cancel   context.CancelFunc
	// changed is signalled after every outcome, for waits on them.
	changed chan struct{}
}

func startStream(t *testing.T, p *keelproc.Proc, form, prefix string, workers int) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := &stream{cancel: cancel, changed: make(chan struct{}, 1)}
	client := newClient(t)
	for w := range workers {
		s.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				o := submit(ctx, client, p, form, fmt.Sprintf("%s-%d-%d", prefix, w, i))
				if ctx.Err() != nil && o.err != nil {
					return // cut short by stop: neither acknowledged nor refused
				}
				s.mu.Lock()
				s.outcomes = append(s.outcomes, o)
				s.mu.Unlock()
				select {
				case s.changed <- struct{}{}:
				default:
				}
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// stop ends the stream and waits for its last requests.
func (s *stream) stop() {
	s.cancel()
	s.wg.Wait()
}

// snapshot returns the outcomes so far.
func (s *stream) snapshot() []outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]outcome(nil), s.outcomes...)
}

// waitFor waits until ok holds for the outcomes after the first skip of
// them, and fails t after timeout with what it saw.
func (s *stream) waitFor(t *testing.T, what string, skip int, timeout time.Duration, ok func([]outcome) bool) int {
	t.Helper()
	deadline := time.After(timeout)
	for {
		all := s.snapshot()
		if ok(all[min(skip, len(all)):]) {
			return len(all)
		}
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("no %s within %v; %d outcomes after %d: %s", what, timeout, len(all)-skip, skip, summary(all[min(skip, len(all)):]))
		}
	}
}

// checkAnswers fails the test for every submission that got no answer or
// an answer other than 201 or a 503 with the given code and Retry-After,
// and returns how long the slowest refusal took.
func checkAnswers(t *testing.T, outcomes []outcome, code string) (slowest time.Duration) {
	t.Helper()
	for _, o := range outcomes {
		switch {
		case o.err != nil:
			t.Errorf("submission %s: no answer after %v: %v", o.marker, o.took, o.err)
		case o.status == http.StatusCreated:
		case o.status == http.StatusServiceUnavailable && o.code == code && o.retryAfter:
			slowest = max(slowest, o.took)
		default:
			t.Errorf("submission %s: %d %q (Retry-After %v), want 201 or 503 %s with Retry-After", o.marker, o.status, o.code, o.retryAfter, code)
		}
	}
	return slowest
}

// count returns how many outcomes have status and code ("" for any).
func count(os []outcome, status int, code string) int {
	n := 0
	for _, o := range os {
		if o.status == status && (code == "" || o.code == code) {
			n++
		}
	}
	return n
}

// summary counts outcomes by status and code, for failure messages.
func summary(os []outcome) string {
	m := map[string]int{}
	for _, o := range os {
		k := fmt.Sprintf("%d %s", o.status, o.code)
		if o.err != nil {
			k = "error " + o.err.Error()
		}
		m[k]++
	}
	return fmt.Sprint(m)
}

// stored reads, from the database at driver and dsn, the marker of every
// submission to form and how many outbox messages each has.
func stored(t *testing.T, driver, dsn, form string) map[string]int {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	defer db.Close()
	q := `SELECT s.field_values, (SELECT count(*) FROM outbox_messages m WHERE m.submission_id = s.id)
		FROM submissions s WHERE s.form_id = ` + map[string]string{"pgx": "$1", "sqlite": "?"}[driver]
	rows, err := db.QueryContext(t.Context(), q, form)
	if err != nil {
		t.Fatalf("read submissions: %v", err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var values string
		var messages int
		if err := rows.Scan(&values, &messages); err != nil {
			t.Fatal(err)
		}
		var fields []struct {
			Field  string   `json:"field"`
			Values []string `json:"values"`
		}
		if err := json.Unmarshal([]byte(values), &fields); err != nil || len(fields) != 1 || len(fields[0].Values) != 1 {
			t.Fatalf("submission values %s: want one field with one value (%v)", values, err)
		}
		marker := fields[0].Values[0]
		if _, dup := got[marker]; dup {
			t.Errorf("submission %s is stored twice", marker)
		}
		got[marker] = messages
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// checkAcknowledged fails t for every acknowledged submission that is not
// stored with exactly one outbox message (its notification).
func checkAcknowledged(t *testing.T, outcomes []outcome, got map[string]int) (acked int) {
	t.Helper()
	for _, o := range outcomes {
		if o.status != http.StatusCreated {
			continue
		}
		acked++
		switch messages, ok := got[o.marker]; {
		case !ok:
			t.Errorf("submission %s was acknowledged (201) but is not stored", o.marker)
		case messages != 1:
			t.Errorf("submission %s has %d outbox messages, want its one notification", o.marker, messages)
		}
	}
	return acked
}
