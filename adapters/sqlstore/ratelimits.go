package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// SharedLimits makes rate limiters whose state PostgreSQL keeps
// (migration 00023), so that every node of one database spends one budget
// per key: N nodes allow the rate once, not N times. Each check is one
// statement on the pool, outside any use case's transaction, and commits
// on its own. A check that fails (the database away or slower than
// checkTimeout) allows the attempt and is reported to OnError: the
// database being away already stops whatever the limit guards, and a
// limiter that refused everything then would only add to the outage.
type SharedLimits struct {
	db      *DB
	onError func(error)
	takes   takeGroup
	refused refusals
	leased  leases // tokens taken ahead for hot chains (rateleases.go)
}

// checkTimeout bounds one check, on a request's hot path.
const checkTimeout = time.Second

// errNotShared is SharedLimits' refusal on SQLite.
var errNotShared = errors.New("shared rate limits need PostgreSQL; SQLite's single process limits in memory")

// SharedLimits returns the maker of shared limiters, or an error on
// SQLite. onError receives each failed check; nil ignores them.
func (db *DB) SharedLimits(onError func(error)) (*SharedLimits, error) {
	if db.d.name() != "postgres" {
		return nil, errNotShared
	}
	if onError == nil {
		onError = func(error) {}
	}
	return &SharedLimits{db: db, onError: onError}, nil
}

// nowMicros is the database's clock, in microseconds since the epoch:
// every node then measures against one clock, whatever theirs say.
// statement_timestamp is fixed for a statement, so its every use agrees.
const nowMicros = `(extract(epoch FROM statement_timestamp()) * 1000000)::bigint`

// sharedKey names a key within a limiter, whose name has no colon. Keys
// come from visitors (an address, a header), so a long one is kept as its
// SHA-256, as boundKey in the in-memory limiters does, and so is one that
// PostgreSQL's text would refuse (a NUL, bytes that are not UTF-8): a key
// that made the statement fail would let its attempts through.
func sharedKey(limiter, key string) string {
	const maxKey = 128
	if len(key) > maxKey || !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		h := sha256.Sum256([]byte(key))
		key = "sha256:" + hex.EncodeToString(h[:])
	}
	return limiter + ":" + key
}

func micros(d time.Duration) int64 { return max(d.Microseconds(), 1) }

// peek reports how far key's bucket is ahead of now without taking from
// it; 0 for a bucket never used or full.
func (s *SharedLimits) peek(ctx context.Context, key string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var ahead int64
	err := s.db.sql.QueryRowContext(ctx, `SELECT tat - `+nowMicros+` FROM rate_buckets WHERE key = $1`, key).Scan(&ahead)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read rate limit bucket: %w", err)
	}
	return max(ahead, 0), nil
}

// Quotas returns the shared ports.Quotas named name: the API's limits
// per credential and the public form's, as ratelimit.Quotas keeps them
// in memory.
func (s *SharedLimits) Quotas(name string) ports.Quotas { return sharedQuotas{s, name} }

type sharedQuotas struct {
	s    *SharedLimits
	name string
}

// Use takes one request from key's bucket under q. An invalid quota (no
// limit) allows everything and reads nothing.
func (q sharedQuotas) Use(ctx context.Context, key string, quota domain.Quota) domain.QuotaUse {
	if !quota.Valid() {
		return domain.QuotaUse{Allowed: true, Remaining: max(quota.Limit, 0)}
	}
	w := micros(quota.Window)
	t := max(w/int64(quota.Limit), 1)
	got, err := q.s.take(ctx, []bucketTake{{sharedKey(q.name, key), t, w - t}})
	if err != nil {
		q.s.onError(err)
		return domain.QuotaUse{Allowed: true, Remaining: quota.Limit - 1}
	}
	return quotaUse(got[0], t, w)
}

// quotaUse is the QuotaUse of one request's take from a bucket whose
// emission interval is t and span w, in µs.
func quotaUse(g taken, t, w int64) domain.QuotaUse {
	ahead := max(g.ahead, 0)
	u := domain.QuotaUse{Allowed: g.allowed, Reset: time.Duration(ahead) * time.Microsecond}
	if g.allowed {
		u.Remaining = int((w - ahead) / t)
	} else {
		u.RetryAfter = time.Duration(ahead-(w-t)) * time.Microsecond
	}
	return u
}

var _ ports.QuotaChain = sharedQuotas{}

// UseChain takes one request from each key's bucket under its quota, in
// order, in one statement (take), each only if every one before it
// allowed: the public form submission's client bucket and then its form's
// cost one round trip instead of two. It returns one use per bucket
// reached, the last the refusal if one refused. A quota with no limit
// allows and reads nothing, as Use's does. Keys that repeat fall back to
// one Use each, since one statement may not update a row twice.
func (q sharedQuotas) UseChain(ctx context.Context, keys []string, qs []domain.Quota) []domain.QuotaUse {
	out := make([]domain.QuotaUse, 0, len(keys))
	var (
		buckets []chainBucket
		chain   []bucketTake
		seen    = make(map[string]bool, len(keys))
	)
	for i, key := range keys {
		if !qs[i].Valid() {
			continue
		}
		k := sharedKey(q.name, key)
		if seen[k] {
			for j := range keys {
				u := q.Use(ctx, keys[j], qs[j])
				out = append(out, u)
				if !u.Allowed {
					break
				}
			}
			return out
		}
		seen[k] = true
		w := micros(qs[i].Window)
		t := max(w/int64(qs[i].Limit), 1)
		buckets = append(buckets, chainBucket{i, t, w})
		chain = append(chain, bucketTake{k, t, w - t})
	}
	uses := make(map[int]domain.QuotaUse, len(buckets))
	if len(buckets) > 0 {
		got, err := q.s.take(ctx, chain)
		if err != nil {
			q.s.onError(err)
			for _, b := range buckets {
				uses[b.at] = domain.QuotaUse{Allowed: true, Remaining: qs[b.at].Limit - 1}
			}
		}
		for i, g := range got {
			uses[buckets[i].at] = quotaUse(g, buckets[i].t, buckets[i].w)
		}
	}
	for i := range keys {
		u, ok := uses[i]
		switch {
		case !qs[i].Valid():
			u = domain.QuotaUse{Allowed: true, Remaining: max(qs[i].Limit, 0)}
		case !ok:
			return out // an earlier bucket refused
		}
		out = append(out, u)
		if !u.Allowed {
			return out
		}
	}
	return out
}

// chainBucket is one bucket of a chained take: its key's index in the
// caller's keys, its emission interval and its span, in µs.
type chainBucket struct {
	at   int
	t, w int64
}

// RateLimiter returns the shared limiter named name that allows burst
// attempts per key at once, refilled at rate a second: a ports.RateLimiter,
// and a ports.FailureLimiter whose bucket holds failures, as
// ratelimit.RateLimiter is. It panics unless rate is positive and burst at
// least 1.
func (s *SharedLimits) RateLimiter(name string, rate float64, burst int) *SharedRateLimiter {
	if !(rate > 0) || burst < 1 {
		panic("sqlstore.SharedLimits.RateLimiter: rate must be positive and burst at least 1")
	}
	t := max(int64(float64(time.Second/time.Microsecond)/rate), 1)
	return &SharedRateLimiter{s: s, name: name, t: t, w: t * int64(burst)}
}

// SharedRateLimiter is a token bucket per key in PostgreSQL
// (SharedLimits.RateLimiter).
type SharedRateLimiter struct {
	s    *SharedLimits
	name string
	t, w int64 // emission interval and bucket span, µs
}

var (
	_ ports.RateLimiter    = (*SharedRateLimiter)(nil)
	_ ports.FailureLimiter = (*SharedRateLimiter)(nil)
)

// Allow takes one attempt from key's bucket, or returns false and how long
// until an attempt is back.
func (l *SharedRateLimiter) Allow(ctx context.Context, key string) (bool, time.Duration) {
	got, err := l.s.take(ctx, []bucketTake{{sharedKey(l.name, key), l.t, l.w - l.t}})
	if err != nil {
		l.s.onError(err)
		return true, 0
	}
	if got[0].allowed {
		return true, 0
	}
	return false, time.Duration(got[0].ahead-(l.w-l.t)) * time.Microsecond
}

// Check reports whether key's bucket holds an attempt, without taking it.
func (l *SharedRateLimiter) Check(ctx context.Context, key string) (bool, time.Duration) {
	ahead, err := l.s.peek(ctx, sharedKey(l.name, key))
	if err != nil {
		l.s.onError(err)
		return true, 0
	}
	if over := ahead - (l.w - l.t); over > 0 {
		return false, time.Duration(over) * time.Microsecond
	}
	return true, 0
}

// Fail takes an attempt from key's bucket: used as a FailureLimiter, the
// bucket holds failures only.
func (l *SharedRateLimiter) Fail(ctx context.Context, key string) { l.Allow(ctx, key) }

// Succeed does nothing: a success does not refund the failures before it,
// or an attacker who also knows one password could refill the bucket.
func (l *SharedRateLimiter) Succeed(context.Context, string) {}

// Backoff returns the shared ports.FailureLimiter named name whose delays
// grow with consecutive failures, as ratelimit.Backoff's do: free failures
// in a row cost nothing, each one after them doubles the wait before the
// next attempt from base up to ceiling, and a success or reset of quiet
// forgets them. It panics on the durations ratelimit.NewBackoff refuses.
func (s *SharedLimits) Backoff(name string, free int, base, ceiling, reset time.Duration) ports.FailureLimiter {
	if base <= 0 || ceiling < base || reset < ceiling {
		panic("sqlstore.SharedLimits.Backoff: want 0 < base <= ceiling <= reset")
	}
	return sharedBackoff{s: s, name: name, free: max(free, 0), base: micros(base), ceiling: micros(ceiling), reset: micros(reset)}
}

type sharedBackoff struct {
	s                    *SharedLimits
	name                 string
	free                 int
	base, ceiling, reset int64 // µs
}

// Check reports whether key may attempt now, or how long to wait.
func (b sharedBackoff) Check(ctx context.Context, key string) (bool, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var wait int64
	err := b.s.db.sql.QueryRowContext(ctx, `SELECT next_at - `+nowMicros+` FROM rate_backoffs
		WHERE key = $1 AND expires_at > `+nowMicros, sharedKey(b.name, key)).Scan(&wait)
	switch {
	case isNoRows(err):
		return true, 0
	case err != nil:
		b.s.onError(fmt.Errorf("read backoff: %w", err))
		return true, 0
	case wait > 0:
		return false, time.Duration(wait) * time.Microsecond
	}
	return true, 0
}

// Fail records a failure and sets the wait before key's next attempt, in
// one statement: a run that went quiet for reset starts again at one.
func (b sharedBackoff) Fail(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	// f is the run's length with this failure; its wait doubles from
	// base for each failure past free, up to ceiling (2^30 caps the
	// doubling long before an int64 would overflow).
	const f = `(CASE WHEN excluded.last_at >= b.expires_at THEN 1 ELSE b.failures + 1 END)`
	_, err := b.s.db.sql.ExecContext(ctx, `INSERT INTO rate_backoffs AS b (key, failures, last_at, next_at, expires_at)
		VALUES ($1, 1, `+nowMicros+`, `+nowMicros+` + $2, `+nowMicros+` + $3)
		ON CONFLICT (key) DO UPDATE SET
			failures = `+f+`,
			next_at = excluded.last_at + CASE WHEN `+f+` <= $4 THEN 0
				ELSE LEAST($5, $6 * power(2, LEAST(`+f+` - $4 - 1, 30))::bigint) END,
			last_at = excluded.last_at,
			expires_at = excluded.expires_at`,
		sharedKey(b.name, key), b.wait(1), b.reset, b.free, b.ceiling, b.base)
	if err != nil {
		b.s.onError(fmt.Errorf("record failure: %w", err))
	}
}

// wait is the delay after the n-th failure in a row, as Fail computes it.
func (b sharedBackoff) wait(n int) int64 {
	over := n - b.free
	if over <= 0 {
		return 0
	}
	if over <= 30 && b.base<<(over-1) < b.ceiling {
		return b.base << (over - 1)
	}
	return b.ceiling
}

// Succeed forgets key's failures.
func (b sharedBackoff) Succeed(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if _, err := b.s.db.sql.ExecContext(ctx, `DELETE FROM rate_backoffs WHERE key = $1`, sharedKey(b.name, key)); err != nil {
		b.s.onError(fmt.Errorf("forget failures: %w", err))
	}
}

// purgeBatch bounds the rows one purge statement deletes, so that it
// holds no lock long enough to stall the checks that run meanwhile.
const purgeBatch = 1000

// Purge deletes the buckets that are full again and the runs of failures
// that are forgotten: deleting them changes no decision, since a missing
// row means exactly that. It returns how many rows it deleted. Every node
// may run it; they then share the work.
func (s *SharedLimits) Purge(ctx context.Context) (int64, error) {
	var total int64
	for _, q := range []string{
		`DELETE FROM rate_buckets WHERE key IN (SELECT key FROM rate_buckets WHERE tat < ` + nowMicros + ` LIMIT $1 FOR UPDATE SKIP LOCKED)`,
		`DELETE FROM rate_backoffs WHERE key IN (SELECT key FROM rate_backoffs WHERE expires_at < ` + nowMicros + ` LIMIT $1 FOR UPDATE SKIP LOCKED)`,
	} {
		for {
			res, err := s.db.sql.ExecContext(ctx, q, purgeBatch)
			if err != nil {
				return total, fmt.Errorf("purge rate limits: %w", err)
			}
			n, _ := res.RowsAffected()
			total += n
			if n < purgeBatch {
				break
			}
		}
	}
	return total, nil
}
