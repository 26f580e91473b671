package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/testdb"
)

// sharedOn opens n pools on one new PostgreSQL database, as n nodes
// would, and returns each one's shared limits.
func sharedOn(t *testing.T, n int) []*sqlstore.SharedLimits {
	t.Helper()
	nodes, _ := sharedOnURL(t, n)
	return nodes
}

// sharedOnURL is sharedOn that also returns the database's URL.
func sharedOnURL(t *testing.T, n int) ([]*sqlstore.SharedLimits, string) {
	t.Helper()
	url := testdb.Postgres(t, testdb.MigrateKeel)
	var out []*sqlstore.SharedLimits
	for range n {
		db, err := sqlstore.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		l, err := db.SharedLimits(func(err error) { t.Errorf("shared check failed: %v", err) })
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out, url
}

// TestSharedQuotasPostgres: a quota of 10 a minute, spent alternately
// through two nodes, allows 10 requests in all, counts down Remaining,
// and then refuses with a Retry-After of about the 6 s one request takes
// to come back. Another key and another limiter's same key are apart.
func TestSharedQuotasPostgres(t *testing.T) {
	nodes := sharedOn(t, 2)
	q := domain.PerMinute(10)
	a, b := nodes[0].Quotas("api"), nodes[1].Quotas("api")
	for i := range 10 {
		u := []interface {
			Use(context.Context, string, domain.Quota) domain.QuotaUse
		}{a, b}[i%2].Use(t.Context(), "ip:198.51.100.7", q)
		if !u.Allowed || u.Remaining != 9-i {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, u, 9-i)
		}
	}
	for _, l := range []interface {
		Use(context.Context, string, domain.Quota) domain.QuotaUse
	}{a, b} {
		u := l.Use(t.Context(), "ip:198.51.100.7", q)
		if u.Allowed || u.Remaining != 0 || u.RetryAfter <= 5*time.Second || u.RetryAfter > 6*time.Second ||
			u.Reset <= 59*time.Second || u.Reset > time.Minute {
			t.Fatalf("11th request: %+v, want refused, retry after up to 6 s, full again in about a minute", u)
		}
	}
	if u := a.Use(t.Context(), "ip:198.51.100.8", q); !u.Allowed || u.Remaining != 9 {
		t.Fatalf("another key: %+v, want a full bucket", u)
	}
	if u := nodes[1].Quotas("other").Use(t.Context(), "ip:198.51.100.7", q); !u.Allowed {
		t.Fatalf("another limiter's key: %+v, want a bucket of its own", u)
	}
	if u := a.Use(t.Context(), "ip:198.51.100.7", domain.Quota{}); !u.Allowed {
		t.Fatalf("no quota: %+v, want allowed", u)
	}
	// A key PostgreSQL's text cannot hold is kept as its hash, and
	// limited like any other: sharedOn fails the test on a failed check.
	for i := range 11 {
		if u := b.Use(t.Context(), "email:a\x00\xff@example.com", q); u.Allowed != (i < 10) {
			t.Fatalf("request %d with a NUL and a stray byte in its key: %+v", i+1, u)
		}
	}
}

// TestSharedRateLimiterPostgres: a burst of 3 spent through two nodes;
// Check takes nothing; a failure limiter counts Fail only.
func TestSharedRateLimiterPostgres(t *testing.T) {
	nodes := sharedOn(t, 2)
	a, b := nodes[0].RateLimiter("login_ip", 1.0/60, 3), nodes[1].RateLimiter("login_ip", 1.0/60, 3)
	for i := range 3 {
		if ok, _ := b.Check(t.Context(), "k"); !ok {
			t.Fatalf("Check before attempt %d refused", i+1)
		}
		if ok, _ := []*sqlstore.SharedRateLimiter{a, b}[i%2].Allow(t.Context(), "k"); !ok {
			t.Fatalf("attempt %d refused, want the burst of 3 allowed", i+1)
		}
	}
	ok, wait := b.Allow(t.Context(), "k")
	if ok || wait <= 59*time.Second || wait > time.Minute {
		t.Fatalf("4th attempt: %v, wait %v; want refused for up to a minute", ok, wait)
	}
	if ok, wait := a.Check(t.Context(), "k"); ok || wait <= 0 {
		t.Fatalf("Check after the burst: %v, %v; want refused", ok, wait)
	}
}

// TestSharedBackoffPostgres: two free failures through either node, then
// a wait of base that doubles per failure up to ceiling; a success
// forgets the run.
func TestSharedBackoffPostgres(t *testing.T) {
	nodes := sharedOn(t, 2)
	a := nodes[0].Backoff("login_account_ip", 2, time.Minute, 4*time.Minute, time.Hour)
	b := nodes[1].Backoff("login_account_ip", 2, time.Minute, 4*time.Minute, time.Hour)
	a.Fail(t.Context(), "k")
	b.Fail(t.Context(), "k")
	if ok, _ := a.Check(t.Context(), "k"); !ok {
		t.Fatal("refused after 2 free failures")
	}
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 4 * time.Minute} {
		[]interface{ Fail(context.Context, string) }{a, b}[i%2].Fail(t.Context(), "k")
		ok, wait := b.Check(t.Context(), "k")
		if ok || wait > want || wait < want-5*time.Second {
			t.Fatalf("after failure %d: %v, wait %v; want refused for about %v", i+3, ok, wait, want)
		}
	}
	a.Succeed(t.Context(), "k")
	if ok, _ := b.Check(t.Context(), "k"); !ok {
		t.Fatal("refused after a success, want the run forgotten")
	}
}

// TestSharedLimitsPurgePostgres: a purge keeps the buckets still in use
// and deletes none that would change a decision.
func TestSharedLimitsPurgePostgres(t *testing.T) {
	l := sharedOn(t, 1)[0]
	q := l.Quotas("api")
	for range 3 {
		q.Use(t.Context(), "busy", domain.PerMinute(3))
	}
	n, err := l.Purge(t.Context())
	if err != nil || n != 0 {
		t.Fatalf("Purge = %d, %v; want 0 rows, the bucket is not full yet", n, err)
	}
	if u := q.Use(t.Context(), "busy", domain.PerMinute(3)); u.Allowed {
		t.Fatalf("after a purge: %+v, want still refused", u)
	}
	// A bucket that refills within a millisecond is soon full again,
	// and then purged.
	l.RateLimiter("fast", 1000, 1).Allow(t.Context(), "k")
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, err := l.Purge(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a full bucket was not purged within 10 s")
		}
	}
}

// TestSharedLimitsSQLite: SQLite has no shared limits.
func TestSharedLimitsSQLite(t *testing.T) {
	if _, err := openSQLite(t).SharedLimits(nil); err == nil {
		t.Fatal("SharedLimits on SQLite: nil error, want a refusal")
	}
}

// TestSharedQuotaChainPostgres: UseChain takes from a client's bucket and
// then the form's in one statement, through two nodes. A client over its
// quota is refused without touching the form's bucket; a form over its
// quota is refused after the client's bucket was charged, as two Use calls
// one after the other do.
func TestSharedQuotaChainPostgres(t *testing.T) {
	nodes := sharedOn(t, 2)
	a, b := nodes[0].Quotas("submit").(ports.QuotaChain), nodes[1].Quotas("submit").(ports.QuotaChain)
	qs := []domain.Quota{domain.PerMinute(2), domain.PerMinute(3)}
	chain := func(l ports.QuotaChain, client string) []domain.QuotaUse {
		return l.UseChain(t.Context(), []string{"form:f1|ip:" + client, "form:f1"}, qs)
	}
	for i, want := range [][2]int{{1, 2}, {0, 1}} {
		u := chain([]ports.QuotaChain{a, b}[i], "198.51.100.1")
		if len(u) != 2 || !u[0].Allowed || !u[1].Allowed || u[0].Remaining != want[0] || u[1].Remaining != want[1] {
			t.Fatalf("submission %d: %+v, want both allowed with %v remaining", i+1, u, want)
		}
	}
	if u := chain(a, "198.51.100.1"); len(u) != 1 || u[0].Allowed || u[0].RetryAfter <= 0 {
		t.Fatalf("client's third: %+v, want only the client's refusal", u)
	}
	// The refusal left the form's bucket alone: it holds one more.
	if u := chain(b, "198.51.100.2"); len(u) != 2 || !u[0].Allowed || !u[1].Allowed || u[1].Remaining != 0 {
		t.Fatalf("another client: %+v, want both allowed, the form's last", u)
	}
	if u := chain(a, "198.51.100.2"); len(u) != 2 || !u[0].Allowed || u[1].Allowed || u[1].RetryAfter <= 0 {
		t.Fatalf("form over its quota: %+v, want the client allowed and the form refused", u)
	}
	// The form's refusal came after the client's bucket was charged.
	if u := a.(ports.Quotas).Use(t.Context(), "form:f1|ip:198.51.100.2", qs[0]); u.Allowed {
		t.Fatalf("client after the form's refusal: %+v, want its two spent", u)
	}
	// A quota with no limit is skipped and allows.
	if u := b.UseChain(t.Context(), []string{"form:f2|ip:198.51.100.1", "form:f2"}, []domain.Quota{{}, qs[1]}); len(u) != 2 || !u[0].Allowed || !u[1].Allowed || u[1].Remaining != 2 {
		t.Fatalf("no client limit: %+v, want both allowed, the form's 2 remaining", u)
	}
}
