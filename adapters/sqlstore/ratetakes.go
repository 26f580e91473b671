package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Coalesced takes from the shared rate limit buckets.
//
// Every request a limit guards updates its bucket's row, and the requests
// that matter most come together on one bucket: a flood from one address,
// one API key used flat out, one recipient's autoresponses, and any busy
// form, whose bucket every submission takes from whatever its address.
// PostgreSQL serves the updates of one row one after the other, each
// waiting for the row lock the one before holds until it commits, so
// concurrent checks of one bucket queue in the database as a convoy of
// backends, each woken in turn. On this machine (BENCHMARKS.md, issue 14)
// such a queue held every public submission for about 5 ms in the limit
// statement, and took 40% of the server's throughput.
//
// So a node runs at most one statement at a time for the same buckets.
// The first caller runs its take alone; the callers that ask for the same
// buckets while that statement runs queue, and when it ends the oldest of
// them runs one statement for all of them (gcraFanIn). Nobody waits for
// company, so a lone caller costs one statement as before. Takes of a
// chain (a client's bucket, then its form's) queue together when they
// differ only in their first key: the statement takes from each client's
// bucket what that client asked, and then from the shared ones what the
// clients' buckets allowed. The answers are those the requests would get
// one after the other, in the order they queued, at that instant: the
// first ones a bucket can hold are allowed, each with its own count of
// what is left, and the rest refused. Nodes still share one budget: each
// statement takes from the one row.

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

// takeGroup queues the takes of one node that may share a statement
// while a statement for them runs.
type takeGroup struct {
	mu sync.Mutex
	// busy holds, for each group of takes with a statement in flight
	// (groupID), the callers that asked since.
	busy map[string][]*takeWaiter
}

// takeWaiter is a caller of take: its first bucket's key, and where it is
// told its turn once it queued.
type takeWaiter struct {
	first string
	turn  chan takeTurn // one slot: whoever answers never blocks
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
// batch's are each bounded by checkTimeout. A first bucket this node knows
// to refuse answers without a statement (raterefusals.go).
func (s *SharedLimits) take(ctx context.Context, chain []bucketTake) ([]taken, error) {
	now := time.Now()
	if ahead, ok := s.refused.refused(chain[0], now); ok {
		return []taken{{ahead: ahead}}, nil
	}
	id := groupID(chain)
	if got, ok := s.leased.use(id, chain[0].key, now); ok {
		return got, nil
	}
	me := &takeWaiter{first: chain[0].key, turn: make(chan takeTurn, 1)}
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
		// The callers that queued meanwhile are answered from the
		// tokens the statement took ahead for them, if any, and the
		// others run the next statement.
		var next, served []*takeWaiter
		var answers [][]taken
		now := time.Now()
		for _, w := range g.busy[id] {
			if got, ok := s.leased.use(id, w.first, now); ok {
				served, answers = append(served, w), append(answers, got)
			} else {
				next = append(next, w)
			}
		}
		if len(next) == 0 {
			delete(g.busy, id)
		} else {
			g.busy[id] = nil
		}
		g.mu.Unlock()
		for i, w := range served {
			w.turn <- takeTurn{got: answers[i]}
		}
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
	firsts := make([]string, len(batch))
	asked := make(map[string]int, 1)
	for j, w := range batch {
		firsts[j] = w.first
		asked[w.first]++
	}
	// The tokens taken ahead (rateleases.go) are asked for as requests
	// after the callers', so that the callers' own come first.
	for k, n := range asked {
		for range s.leased.ask(id, chain, k, n) {
			firsts = append(firsts, k)
		}
	}
	sent := time.Now()
	var room map[string]bool
	got, room, err = s.takeN(ctx, chain, firsts, len(batch))
	if err != nil {
		return nil, err
	}
	for k, n := range asked {
		var ahead [][]taken
		for j := len(batch); j < len(firsts); j++ {
			if firsts[j] == k {
				ahead = append(ahead, got[j])
			}
		}
		s.leased.keep(id, chain, k, n, room[k], ahead, sent)
	}
	return got[0], nil
}

// takeN takes one request per entry of firsts, from the first bucket that
// entry names and then from chain's other buckets, in one statement, and
// returns what each request got, in the order of firsts. chain gives the
// first bucket's interval and tolerance (its key is firsts') and the
// others whole. The statement runs without the caller's cancellation: it
// answers other callers too.
//
// Only the first callers of firsts are callers; the entries after them
// are tokens taken ahead, which count neither as refusals to remember
// nor otherwise. room tells, for each first bucket, whether the
// statement left it and every later bucket at least half full.
func (s *SharedLimits) takeN(ctx context.Context, chain []bucketTake, firsts []string, callers int) (got [][]taken, room map[string]bool, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
	defer cancel()
	// One row per client's bucket, however many of its requests queued,
	// since one statement may not update a row twice; in key order, the
	// order in which every statement locks them, so that no two can
	// deadlock.
	asked := make(map[string]int64, len(firsts))
	for _, k := range firsts {
		asked[k]++
	}
	keys := make([]string, 0, len(asked))
	for k := range asked {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ns := make([]int64, len(keys))
	for i, k := range keys {
		ns[i] = asked[k]
	}
	args := make([]any, 0, 4+3*(len(chain)-1))
	args = append(args, keys, ns, chain[0].t, chain[0].tol)
	for _, b := range chain[1:] {
		args = append(args, b.key, b.t, b.tol)
	}
	sent := time.Now()
	rows, err := s.db.sql.QueryContext(ctx, gcraFanIn(len(chain)), args...)
	if err != nil {
		return nil, nil, fmt.Errorf("take from rate limit buckets: %w", err)
	}
	defer rows.Close()
	firstCounts := make(map[string]bucketCount, len(keys))
	var rest []bucketCount
	for rows.Next() {
		var (
			i   int
			key string
			c   bucketCount
		)
		if err := rows.Scan(&i, &key, &c.taken, &c.ahead); err != nil {
			return nil, nil, fmt.Errorf("take from rate limit buckets: %w", err)
		}
		switch {
		case i == 0:
			firstCounts[key] = c
		case i == len(rest)+1 && i < len(chain):
			rest = append(rest, c)
		default:
			return nil, nil, fmt.Errorf("take from rate limit buckets: row for bucket %d of %d after %d", i, len(chain), len(rest)+1)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("take from rate limit buckets: %w", err)
	}
	if len(firstCounts) != len(keys) {
		return nil, nil, fmt.Errorf("take from rate limit buckets: %d rows for %d first buckets", len(firstCounts), len(keys))
	}
	callersOf := make(map[string]int64, len(keys))
	for _, k := range firsts[:callers] {
		callersOf[k]++
	}
	// The later buckets have room when each allowed all that reached it
	// and is at least half full.
	restRoom, reached := true, int64(0)
	for _, c := range firstCounts {
		reached += c.taken
	}
	for i, c := range rest {
		restRoom = restRoom && c.taken == reached && c.ahead <= chain[i+1].tol/2
		reached = c.taken
	}
	restRoom = restRoom && len(rest) == len(chain)-1
	room = make(map[string]bool, len(keys))
	for k, c := range firstCounts {
		if c.taken < callersOf[k] {
			s.refused.remember(k, chain[0].tol, c.ahead, sent)
		}
		room[k] = restRoom && c.taken == asked[k] && c.ahead <= chain[0].tol/2
	}
	return share(firsts, firstCounts, rest, chain), room, nil
}

// bucketCount is one bucket's row of a take: how many of the requests
// that reached it it allowed, and how far its theoretical arrival time is
// then ahead of now.
type bucketCount struct {
	taken int64
	ahead int64
}

// share splits a take's counts among its requests, in the order of
// firsts: each first bucket allows the first of its own requests it took,
// and each later bucket the first of the requests that every bucket
// before allowed, as many as it took. An allowed request sees the bucket
// as it was right after its own token was taken, a refused one as the
// take left it, as the requests one after the other would.
func share(firsts []string, firstCounts map[string]bucketCount, rest []bucketCount, chain []bucketTake) [][]taken {
	out := make([][]taken, len(firsts))
	seen := make(map[string]int64, len(firstCounts))
	var reached []int // the requests every bucket so far allowed, in order
	for j, k := range firsts {
		c, nth := firstCounts[k], seen[k]
		seen[k]++
		out[j] = append(out[j], took(c, nth, chain[0].t))
		if nth < c.taken {
			reached = append(reached, j)
		}
	}
	for i, c := range rest {
		var next []int
		for nth, j := range reached {
			out[j] = append(out[j], took(c, int64(nth), chain[i+1].t))
			if int64(nth) < c.taken {
				next = append(next, j)
			}
		}
		reached = next
	}
	return out
}

// took is what the nth request (from 0) to reach a bucket got from it,
// when the bucket took c and its emission interval is t.
func took(c bucketCount, nth, t int64) taken {
	if nth >= c.taken {
		return taken{ahead: c.ahead}
	}
	return taken{allowed: true, ahead: c.ahead - (c.taken-1-nth)*t}
}

// groupID names the takes that may share a statement: those of one
// bucket alone, or of chains whose buckets after the first are the same
// and whose first buckets differ in their key only. sharedKey keeps NUL
// out of keys, so it separates them.
func groupID(chain []bucketTake) string {
	var b strings.Builder
	for i, t := range chain {
		if i > 0 || len(chain) == 1 {
			b.WriteString(t.key)
		}
		b.WriteByte(0)
		b.WriteString(strconv.FormatInt(t.t, 10))
		b.WriteByte(0)
		b.WriteString(strconv.FormatInt(t.tol, 10))
		b.WriteByte(0)
	}
	return b.String()
}

// gcraFanIns holds the statements of the chains in use: of one bucket
// (Use, RateLimiter) and of two (the public form submission's).
var gcraFanIns = [...]string{1: buildGCRAFanIn(1), 2: buildGCRAFanIn(2)}

// gcraFanIn returns the statement that takes requests from a chain of l
// buckets (GCRA): $2[k] requests from each first bucket $1[k], whose
// emission interval and tolerance are $3 and $4, then as many as those
// allowed in all from each later bucket in order, each taking those its
// predecessor allowed. Bucket i's key, interval and tolerance, for i from
// 1, are parameters 3i+2 to 3i+4. It returns a row per bucket reached,
// the first buckets' first: the chain's index, the bucket's key, how many
// requests it allowed (taken) and its theoretical arrival time less now
// (ahead).
//
// For a bucket whose tat is T, base = max(T, now) is where the first
// request's token goes; request j (from 1) is allowed if base - now +
// (j-1)·t is within the tolerance, so the first
// a = min(n, (tol - (base - now)) / t + 1) are, and the bucket's tat moves
// to base + a·t. Refused requests leave the bucket alone. A bucket never
// used is a row inserted with base = now. The update computes the same
// from the row under its lock, reading n from the inserted row's taken,
// which holds min(n, tol/t + 1): a may not exceed that either. There, now
// is the later of the statement's clock and the row's at, the clock of
// the take before, which a statement that waited for the lock would
// otherwise precede (migration 00038); at keeps the now used. The first
// buckets are locked in key order and the others after them in the order
// given, so statements that name them so cannot deadlock.
func gcraFanIn(l int) string {
	if l < len(gcraFanIns) && gcraFanIns[l] != "" {
		return gcraFanIns[l]
	}
	return buildGCRAFanIn(l)
}

// buildGCRAFanIn builds gcraFanIn's statement for l buckets.
func buildGCRAFanIn(l int) string {
	var b strings.Builder
	b.WriteString("WITH ")
	for i := range l {
		key, t, tol, src := "u.key", "$3::bigint", "$4::bigint", "unnest($1::text[], $2::bigint[]) AS u(key, n)"
		order := " ORDER BY u.key"
		if i > 0 {
			p := func(j int) string { return "$" + strconv.Itoa(3*i+1+j) }
			key, t, tol = p(1)+"::text", p(2)+"::bigint", p(3)+"::bigint"
			src = fmt.Sprintf("(SELECT taken AS n FROM b%d WHERE taken > 0) u", i-1)
			if i == 1 {
				src = "(SELECT sum(taken)::bigint AS n FROM b0 HAVING sum(taken) > 0) u"
			}
			order = ""
		}
		first := "LEAST(u.n, " + tol + " / " + t + " + 1)"
		now := "GREATEST(r.at, " + nowMicros + ")"
		behind := "(GREATEST(r.tat, " + now + ") - " + now + ")"
		a := "(CASE WHEN " + behind + " > " + tol + " THEN 0 ELSE LEAST(excluded.taken, (" + tol + " - " + behind + ") / " + t + " + 1) END)"
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `b%d AS (INSERT INTO rate_buckets AS r (key, tat, allowed, taken, at)
	SELECT %s, %s + %s * %s, true, %s, %s FROM %s%s
	ON CONFLICT (key) DO UPDATE SET
		taken = %s,
		allowed = %s > 0,
		tat = CASE WHEN %s > 0 THEN GREATEST(r.tat, %s) + %s * %s ELSE r.tat END,
		at = %s
	RETURNING key, taken, tat - at AS ahead)`,
			i, key, nowMicros, first, t, first, nowMicros, src, order, a, a, a, now, a, t, now)
	}
	for i := range l {
		if i > 0 {
			b.WriteString("\nUNION ALL ")
		} else {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "SELECT %d AS i, key, taken, ahead FROM b%d", i, i)
	}
	b.WriteString("\nORDER BY i")
	return b.String()
}
