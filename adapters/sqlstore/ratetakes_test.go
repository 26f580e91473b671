package sqlstore_test

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// TestSharedTakesCoalescePostgres: while another transaction holds a
// bucket's row, a node's first check of that key waits in PostgreSQL and
// the five that follow queue in the node. Once the row is free, the five
// are served by one statement that takes them all (the row's taken says
// how many it allowed), and the answers are those of six checks one after
// the other: the bucket's three tokens go to the first three, each with
// its own count of what is left, and the others are refused.
func TestSharedTakesCoalescePostgres(t *testing.T) {
	limits, raw := limitsWithRaw(t)

	q, quota, key := limits.Quotas("api"), domain.PerMinute(4), "ip:203.0.113.9"
	if u := q.Use(t.Context(), key, quota); !u.Allowed || u.Remaining != 3 {
		t.Fatalf("first request: %+v, want allowed with 3 remaining", u)
	}
	lock, err := raw.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback() }()
	if _, err := lock.ExecContext(t.Context(), `SELECT 1 FROM rate_buckets WHERE key = $1 FOR UPDATE`, "api:"+key); err != nil {
		t.Fatal(err)
	}

	var (
		mu   sync.Mutex
		uses []domain.QuotaUse
		wg   sync.WaitGroup
	)
	use := func() {
		u := q.Use(context.Background(), key, quota)
		mu.Lock()
		uses = append(uses, u)
		mu.Unlock()
	}
	wg.Go(use)
	waitForLockWait(t, raw)
	for range 5 {
		wg.Go(use)
	}
	waitFor(t, "five checks to queue in the node", func() bool { return sqlstore.QueuedTakes(limits) == 5 })
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	var allowed []int
	for _, u := range uses {
		// Each token spent puts the bucket's refill 15 s further off.
		full := time.Duration(4-u.Remaining) * 15 * time.Second
		if u.Reset <= full-time.Second || u.Reset > full {
			t.Errorf("%+v: want the bucket full again in about %v", u, full)
		}
		if u.Allowed {
			allowed = append(allowed, u.Remaining)
			continue
		}
		if u.Remaining != 0 || u.RetryAfter <= 14*time.Second || u.RetryAfter > 15*time.Second {
			t.Errorf("refused: %+v, want a retry after up to 15 s", u)
		}
	}
	slices.Sort(allowed)
	if !slices.Equal(allowed, []int{0, 1, 2}) {
		t.Fatalf("allowed with remaining %v of 6 answers, want 0, 1 and 2", allowed)
	}
	var taken int
	if err := raw.QueryRowContext(t.Context(), `SELECT taken FROM rate_buckets WHERE key = $1`, "api:"+key).Scan(&taken); err != nil {
		t.Fatal(err)
	}
	if taken != 2 {
		t.Fatalf("the last statement allowed %d, want the queued five's one statement to allow 2", taken)
	}
}

// TestSharedTakesConcurrentChainsPostgres: twelve submissions at once
// through two nodes, from one client to one form, whose quotas are 8 and 5:
// the client's bucket allows 8 and the form's 5 of those, each answer with
// a count of what is left that no other answer has, as one budget spent
// one request at a time would give. A chain of three buckets is served
// too.
func TestSharedTakesConcurrentChainsPostgres(t *testing.T) {
	nodes := sharedOn(t, 2)
	qs := []domain.Quota{domain.PerMinute(8), domain.PerMinute(5)}
	var (
		mu      sync.Mutex
		answers [][]domain.QuotaUse
		wg      sync.WaitGroup
	)
	for i := range 12 {
		wg.Go(func() {
			u := nodes[i%2].Quotas("submit").(ports.QuotaChain).UseChain(t.Context(), []string{"form:f1|ip:198.51.100.1", "form:f1"}, qs)
			mu.Lock()
			answers = append(answers, u)
			mu.Unlock()
		})
	}
	wg.Wait()
	var client, form []int
	for _, u := range answers {
		switch {
		case len(u) == 1 && !u[0].Allowed:
		case len(u) == 2 && u[0].Allowed:
			client = append(client, u[0].Remaining)
			if u[1].Allowed {
				form = append(form, u[1].Remaining)
			}
		default:
			t.Fatalf("answer %+v: want the client refused alone, or allowed and then the form's answer", u)
		}
	}
	slices.Sort(client)
	slices.Sort(form)
	if !slices.Equal(client, []int{0, 1, 2, 3, 4, 5, 6, 7}) || !slices.Equal(form, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("remaining: client %v, form %v; want 0 to 7 and 0 to 4, once each", client, form)
	}

	three := []domain.Quota{domain.PerMinute(3), domain.PerMinute(2), domain.PerMinute(1)}
	for i, want := range []struct {
		n    int
		last bool
	}{{3, true}, {3, false}, {2, false}} {
		u := nodes[i%2].Quotas("chain").(ports.QuotaChain).UseChain(t.Context(), []string{"a", "b", "c"}, three)
		if len(u) != want.n || u[want.n-1].Allowed != want.last {
			t.Fatalf("chain of three, call %d: %+v, want %d answers, the last allowed: %v", i+1, u, want.n, want.last)
		}
	}
}

// limitsWithRaw opens a node's shared limits on a new PostgreSQL database,
// and a plain pool on the same database for the test's own statements.
func limitsWithRaw(t *testing.T) (*sqlstore.SharedLimits, *sql.DB) {
	t.Helper()
	nodes, url := sharedOnURL(t, 1)
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return nodes[0], raw
}

// waitForLockWait waits until one statement on rate_buckets waits for a
// row lock.
func waitForLockWait(t *testing.T, raw *sql.DB) {
	t.Helper()
	waitFor(t, "a take to wait for a bucket's lock", func() bool {
		var n int
		err := raw.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%rate_buckets%'`).Scan(&n)
		return err == nil && n == 1
	})
}

// waitFor polls cond until it holds, failing the test after ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSharedTakesFanInPostgres: submissions from different clients to one
// form queue behind the form's statement in one node and are served by
// one statement. While another transaction holds the form's row, client
// a's chain waits in PostgreSQL, and a, b, c, b and d queue in that order.
// Each client may send one a minute and the form has two left: a's first
// takes the form's next to last; then a is refused by its own bucket,
// b, c and d are allowed by theirs (b's second is not), and of those the
// form allows b alone, as the requests one after the other would.
func TestSharedTakesFanInPostgres(t *testing.T) {
	limits, raw := limitsWithRaw(t)

	q := limits.Quotas("submit").(ports.QuotaChain)
	qs := []domain.Quota{domain.PerMinute(1), domain.PerMinute(3)}
	chain := func(client string) []domain.QuotaUse {
		return q.UseChain(context.Background(), []string{"form:f1|ip:" + client, "form:f1"}, qs)
	}
	if u := chain("x"); len(u) != 2 || !u[1].Allowed || u[1].Remaining != 2 {
		t.Fatalf("first submission: %+v, want the form's 2 left", u)
	}
	lock, err := raw.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback() }()
	if _, err := lock.ExecContext(t.Context(), `SELECT 1 FROM rate_buckets WHERE key = 'submit:form:f1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	clients := []string{"a", "a", "b", "c", "b", "d"}
	answers := make([][]domain.QuotaUse, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { answers[i] = chain(c) })
		if i == 0 {
			waitForLockWait(t, raw)
			continue
		}
		waitFor(t, "the chain to queue in the node", func() bool { return sqlstore.QueuedTakes(limits) == i })
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	type want struct {
		n             int  // answers: 1 when the client's bucket refused
		form          bool // the form allowed
		formRemaining int
	}
	for i, w := range []want{{2, true, 1}, {1, false, 0}, {2, true, 0}, {2, false, 0}, {1, false, 0}, {2, false, 0}} {
		u := answers[i]
		if len(u) != w.n || (w.n == 1 && u[0].Allowed) || (w.n == 2 && (!u[0].Allowed || u[0].Remaining != 0 ||
			u[1].Allowed != w.form || u[1].Remaining != w.formRemaining)) {
			t.Errorf("client %s's submission (%d): %+v, want %+v", clients[i], i+1, u, w)
		}
	}
	var taken int
	if err := raw.QueryRowContext(t.Context(), `SELECT taken FROM rate_buckets WHERE key = 'submit:form:f1'`).Scan(&taken); err != nil {
		t.Fatal(err)
	}
	if taken != 1 {
		t.Fatalf("the form's last statement allowed %d, want the queued five's one statement to allow 1", taken)
	}
}

// TestSharedRefusalsAnswerInTheNodePostgres: once a statement tells a node
// that a bucket refuses, the node refuses that bucket's next requests
// itself until the bucket's time comes: while another transaction holds
// the bucket's row, which would keep any statement waiting past the
// check's timeout (and sharedOn fails the test on a failed check), the
// node still answers each request at once, refused, with a wait that does
// not grow. Another node, which has not been refused, asks the database
// and is refused too: the budget is still the one row. A bucket whose
// token comes back within milliseconds is allowed again once it has.
func TestSharedRefusalsAnswerInTheNodePostgres(t *testing.T) {
	nodes, url := sharedOnURL(t, 2)
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	a, b := nodes[0].RateLimiter("autoresponse", 1.0/3600, 2), nodes[1].RateLimiter("autoresponse", 1.0/3600, 2)
	for i := range 2 {
		if ok, _ := a.Allow(t.Context(), "ada@example.com"); !ok {
			t.Fatalf("attempt %d refused, want the burst of 2 allowed", i+1)
		}
	}
	ok, first := a.Allow(t.Context(), "ada@example.com")
	if ok || first <= 59*time.Minute || first > time.Hour {
		t.Fatalf("3rd attempt: %v, wait %v; want refused for up to an hour", ok, first)
	}

	lock, err := raw.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback() }()
	if _, err := lock.ExecContext(t.Context(), `SELECT 1 FROM rate_buckets WHERE key = $1 FOR UPDATE`, "autoresponse:ada@example.com"); err != nil {
		t.Fatal(err)
	}
	last := first
	for i := range 3 {
		ok, wait := a.Allow(t.Context(), "ada@example.com")
		if ok || wait <= 59*time.Minute || wait > last {
			t.Fatalf("attempt %d with the row locked: %v, wait %v; want refused in the node, for no longer than %v", i+4, ok, wait, last)
		}
		last = wait
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	if ok, wait := b.Allow(t.Context(), "ada@example.com"); ok || wait <= 59*time.Minute {
		t.Fatalf("the other node: %v, wait %v; want refused by the shared bucket", ok, wait)
	}

	fast := nodes[0].RateLimiter("fast", 50, 1) // a token every 20 ms
	if ok, _ := fast.Allow(t.Context(), "k"); !ok {
		t.Fatal("first attempt on a fast bucket refused")
	}
	if ok, wait := fast.Allow(t.Context(), "k"); ok || wait > 20*time.Millisecond {
		t.Fatalf("second attempt at once: %v, wait %v; want refused for up to 20 ms", ok, wait)
	}
	waitFor(t, "the fast bucket to allow again", func() bool {
		ok, _ := fast.Allow(t.Context(), "k")
		return ok
	})
}

// TestSharedLeasesPostgres: a big bucket that callers of one node queue
// for is leased (rateleases.go). Twice, while another transaction holds
// the bucket's row, one check waits in PostgreSQL and three queue behind
// it; the second time the queued three's statement also takes 64 tokens
// ahead. Those answer the next 64 checks while the row is still held,
// each allowed with one request less left than the one before, as checks
// one after the other would be; the 65th needs a statement again. A
// small bucket is never leased (TestSharedTakesCoalescePostgres).
func TestSharedLeasesPostgres(t *testing.T) {
	limits, raw := limitsWithRaw(t)
	// A token every 600 ms: the test's own pace refills less than one.
	q, quota, key := limits.Quotas("api"), domain.Quota{Limit: 6000, Window: time.Hour}, "key:busy"
	hold := func() *sql.Tx {
		t.Helper()
		lock, err := raw.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = lock.Rollback() })
		if _, err := lock.ExecContext(t.Context(), `SELECT 1 FROM rate_buckets WHERE key = $1 FOR UPDATE`, "api:"+key); err != nil {
			t.Fatal(err)
		}
		return lock
	}
	if u := q.Use(t.Context(), key, quota); !u.Allowed {
		t.Fatalf("first request: %+v", u)
	}
	for range 2 {
		lock := hold()
		var wg sync.WaitGroup
		wg.Go(func() { q.Use(context.Background(), key, quota) })
		waitForLockWait(t, raw)
		for range 3 {
			wg.Go(func() { q.Use(context.Background(), key, quota) })
		}
		waitFor(t, "three checks to queue in the node", func() bool { return sqlstore.QueuedTakes(limits) == 3 })
		if err := lock.Rollback(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
	var tat, at int64
	if err := raw.QueryRowContext(t.Context(), `SELECT tat, at FROM rate_buckets WHERE key = $1`, "api:"+key).Scan(&tat, &at); err != nil {
		t.Fatal(err)
	}
	// 1 + 4 + 4 requests and 64 tokens ahead, 600 ms each.
	if spent := (tat - at) / 600_000; spent < 72 || spent > 73 {
		t.Fatalf("the bucket holds %d requests' worth, want 73: the 9 asked for and 64 taken ahead", spent)
	}

	lock := hold()
	last := -1
	for i := range 64 {
		u := q.Use(t.Context(), key, quota)
		if !u.Allowed || last >= 0 && u.Remaining != last-1 {
			t.Fatalf("leased check %d: %+v after %d remaining, want allowed with one less", i+1, u, last)
		}
		last = u.Remaining
	}
	if want := 6000 - 73; last != want && last != want+1 {
		t.Errorf("the last leased check left %d, want %d", last, want)
	}
	done := make(chan domain.QuotaUse, 1)
	go func() { done <- q.Use(context.Background(), key, quota) }()
	waitForLockWait(t, raw)
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	if u := <-done; !u.Allowed || u.Remaining >= last {
		t.Fatalf("the check after the lease: %+v, want allowed with fewer than %d left", u, last)
	}
}
