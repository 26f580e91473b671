package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Coalesced takes from the shared rate limit buckets.
//
// Every request a limit guards updates its bucket's row, and the requests
// that matter most come together on one key: a flood from one address,
// one API key used flat out, one recipient's autoresponses. PostgreSQL
// serves the updates of one row one after the other, each waiting for the
// row lock the one before holds until it commits, so concurrent checks of
// one key queue in the database as a convoy of backends, each woken in
// turn. On this machine (BENCHMARKS.md, issue 14) such a queue held every
// public submission for about 5 ms in the limit statement, and took 40%
// of the server's throughput.
//
// So a node runs at most one statement at a time for the same buckets.
// The first caller runs its take alone; the callers that ask for the same
// buckets while that statement runs queue, and when it ends the oldest of
// them runs one statement for all of them, taking n requests at once
// (gcraChainN). Nobody waits for company, so a lone caller costs one
// statement as before. The answers are those the n requests would get one
// after the other at that instant: the first ones the bucket can hold are
// allowed, each with its own count of what is left, and the rest refused.
// Nodes still share one budget: each statement takes from the one row.

// bucketTake is one bucket of a take: its key, its emission interval (the
// time one request's token takes to come back) and its tolerance (its span
// less one interval, so that a full bucket allows span/interval requests
// at once), in µs.
type bucketTake struct {
	key    string
	t, tol int64
}

// taken is what one request got from one bucket it reached: whether the
// bucket allowed it, and how far the bucket's theoretical arrival time is
// then ahead of now (how long until it is full again).
type taken struct {
	allowed bool
	ahead   int64
}

// takeGroup queues the takes of one node that name the same buckets while
// a statement for them runs.
type takeGroup struct {
	mu sync.Mutex
	// busy holds, for each chain of buckets with a statement in flight,
	// the callers that asked for it since.
	busy map[string][]*takeWaiter
}

// takeWaiter is a caller queued behind a statement for its buckets.
type takeWaiter struct {
	turn chan takeTurn // one slot: whoever answers never blocks
}

// takeTurn is a queued caller's answer: the batch it is to run the
// statement for (itself first), or its result.
type takeTurn struct {
	batch []*takeWaiter
	got   []taken
	err   error
}

// errTakeAbandoned answers the callers of a batch whose statement never
// returned, because the code running it panicked.
var errTakeAbandoned = errors.New("take from rate limit buckets: abandoned")

// take takes one request from each bucket of chain in order, each only if
// the one before allowed, and returns what it got from each bucket it
// reached: one statement, shared with the callers of this node that take
// from the same buckets meanwhile (see the top of this file). A queued
// caller waits without its context: the statement in flight and then its
// batch's are each bounded by checkTimeout.
func (s *SharedLimits) take(ctx context.Context, chain []bucketTake) ([]taken, error) {
	id := chainID(chain)
	me := &takeWaiter{turn: make(chan takeTurn, 1)}
	g := &s.takes
	g.mu.Lock()
	if queued, busy := g.busy[id]; busy {
		g.busy[id] = append(queued, me)
		g.mu.Unlock()
		turn := <-me.turn
		if turn.batch == nil {
			return turn.got, turn.err
		}
		return s.takeFor(ctx, id, chain, turn.batch)
	}
	if g.busy == nil {
		g.busy = make(map[string][]*takeWaiter)
	}
	g.busy[id] = nil
	g.mu.Unlock()
	return s.takeFor(ctx, id, chain, []*takeWaiter{me})
}

// takeFor runs the statement for batch, whose first caller is this one,
// hands the buckets to the callers that queued meanwhile, and answers the
// batch's others. It answers them even if the statement's code panics,
// so that no caller waits for ever.
func (s *SharedLimits) takeFor(ctx context.Context, id string, chain []bucketTake, batch []*takeWaiter) (own []taken, err error) {
	got, err := [][]taken(nil), errTakeAbandoned
	defer func() {
		g := &s.takes
		g.mu.Lock()
		next := g.busy[id]
		if len(next) == 0 {
			delete(g.busy, id)
		} else {
			g.busy[id] = nil
		}
		g.mu.Unlock()
		if len(next) > 0 {
			next[0].turn <- takeTurn{batch: next}
		}
		for j, w := range batch[1:] {
			t := takeTurn{err: err}
			if err == nil {
				t.got = got[j+1]
			}
			w.turn <- t
		}
	}()
	got, err = s.takeN(ctx, chain, len(batch))
	if err != nil {
		return nil, err
	}
	return got[0], nil
}

// takeN takes n requests from chain's buckets in one statement and
// returns what each request got, in the order of the batch. The statement
// runs without the caller's cancellation: it answers other callers too.
func (s *SharedLimits) takeN(ctx context.Context, chain []bucketTake, n int) ([][]taken, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
	defer cancel()
	stmt := gcraChainN(len(chain))
	args := make([]any, 0, 1+3*len(chain))
	args = append(args, n)
	for _, b := range chain {
		args = append(args, b.key, b.t, b.tol)
	}
	rows, err := s.db.sql.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("take from rate limit buckets: %w", err)
	}
	defer rows.Close()
	var counts []bucketCount
	for rows.Next() {
		var (
			i int
			c bucketCount
		)
		if err := rows.Scan(&i, &c.taken, &c.ahead); err != nil {
			return nil, fmt.Errorf("take from rate limit buckets: %w", err)
		}
		if i != len(counts) || i >= len(chain) {
			return nil, fmt.Errorf("take from rate limit buckets: row for bucket %d of %d after %d", i, len(chain), len(counts))
		}
		counts = append(counts, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("take from rate limit buckets: %w", err)
	}
	return share(counts, chain, n), nil
}

// bucketCount is one bucket's row of a take of n requests: how many of
// the requests that reached it it allowed, and how far its theoretical
// arrival time is then ahead of now.
type bucketCount struct {
	taken int64
	ahead int64
}

// share splits the counts of a take of n requests among the requests, in
// order: request j (from 0) reached bucket i if the bucket before allowed
// more than j of them (all n reach the first), and bucket i allowed it if
// it allowed more than j. An allowed request sees the bucket as it was
// right after its own token was taken, a refused one as the take left it,
// as n takes one after the other would.
func share(counts []bucketCount, chain []bucketTake, n int) [][]taken {
	out := make([][]taken, n)
	reached := int64(n)
	for i, c := range counts {
		for j := range reached {
			g := taken{allowed: j < c.taken, ahead: c.ahead}
			if g.allowed {
				g.ahead -= (c.taken - 1 - j) * chain[i].t
			}
			out[j] = append(out[j], g)
		}
		reached = min(reached, c.taken)
	}
	return out
}

// chainID names a chain of buckets for coalescing: takes that name the
// same keys with the same intervals and tolerances may share a statement.
// sharedKey keeps NUL out of keys, so it separates them.
func chainID(chain []bucketTake) string {
	var b strings.Builder
	for _, t := range chain {
		b.WriteString(t.key)
		b.WriteByte(0)
		b.WriteString(strconv.FormatInt(t.t, 10))
		b.WriteByte(0)
		b.WriteString(strconv.FormatInt(t.tol, 10))
		b.WriteByte(0)
	}
	return b.String()
}

// gcraChains holds the statements of the chains in use: of one bucket
// (Use, RateLimiter) and of two (the public form submission's).
var gcraChains = [...]string{1: buildGCRAChain(1), 2: buildGCRAChain(2)}

// gcraChainN returns the statement that takes $1 requests from each of l
// buckets in order (GCRA), each bucket only those its predecessor allowed.
// Bucket i's key, emission interval and tolerance are parameters 3i+2 to
// 3i+4. It returns a row per bucket reached, in order: the bucket's index,
// how many requests it allowed (taken) and its theoretical arrival time
// less now (ahead).
//
// For a bucket whose tat is T, base = max(T, now) is where the first
// request's token goes; request j (from 1) is allowed if base - now +
// (j-1)·t is within the tolerance, so the first
// a = min(n, (tol - (base - now)) / t + 1) are, and the bucket's tat moves
// to base + a·t. Refused requests leave the bucket alone. A bucket never
// used is a row inserted with base = now. The update computes the same
// from the row under its lock, reading n from the inserted row's taken,
// which holds min(n, tol/t + 1): a may not exceed that either. Buckets
// are locked in the order given, so callers that name them in one order
// cannot deadlock.
func gcraChainN(l int) string {
	if l < len(gcraChains) && gcraChains[l] != "" {
		return gcraChains[l]
	}
	return buildGCRAChain(l)
}

// buildGCRAChain builds gcraChainN's statement for l buckets.
func buildGCRAChain(l int) string {
	var b strings.Builder
	b.WriteString("WITH ")
	for i := range l {
		p := func(j int) string { return "$" + strconv.Itoa(3*i+1+j) }
		key, t, tol := p(1)+"::text", p(2)+"::bigint", p(3)+"::bigint"
		src := "(SELECT $1::bigint AS n) s"
		if i > 0 {
			src = fmt.Sprintf("(SELECT taken AS n FROM b%d WHERE taken > 0) s", i-1)
		}
		first := "LEAST(s.n, " + tol + " / " + t + " + 1)"
		behind := "(GREATEST(r.tat, " + nowMicros + ") - " + nowMicros + ")"
		a := "(CASE WHEN " + behind + " > " + tol + " THEN 0 ELSE LEAST(excluded.taken, (" + tol + " - " + behind + ") / " + t + " + 1) END)"
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `b%d AS (INSERT INTO rate_buckets AS r (key, tat, allowed, taken)
	SELECT %s, %s + %s * %s, true, %s FROM %s
	ON CONFLICT (key) DO UPDATE SET
		taken = %s,
		allowed = %s > 0,
		tat = CASE WHEN %s > 0 THEN GREATEST(r.tat, %s) + %s * %s ELSE r.tat END
	RETURNING taken, tat - %s AS ahead)`,
			i, key, nowMicros, first, t, first, src, a, a, a, nowMicros, a, t, nowMicros)
	}
	for i := range l {
		if i > 0 {
			b.WriteString("\nUNION ALL ")
		} else {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "SELECT %d AS i, taken, ahead FROM b%d", i, i)
	}
	b.WriteString("\nORDER BY i")
	return b.String()
}
