package sqlstore

import (
	"sync"
	"time"
)

// Refusals a node remembers.
//
// A bucket that refused a request refuses every request until its
// theoretical arrival time comes within its tolerance again, and nothing
// but time brings it there: a take moves the arrival time only forward,
// a refused one not at all, and Purge deletes only buckets that are full.
// So once a statement answers that a bucket refused, the node knows the
// earliest instant it can allow again, and refuses until then without
// asking the database. That is the case a limit exists for: a flood from
// one address, a key used past its quota, one recipient's autoresponses,
// each of whose requests otherwise cost the database a statement and a
// commit. The node counts from when it sent the statement, which is no
// later than the database's clock read for it, so it never refuses past
// the bucket's real time; another node's takes can only put that time
// further off, which makes the remembered one early, never late.
//
// Only a chain's first bucket is looked up: a refusal there answers the
// whole chain, while a later bucket's refusal still needs the earlier
// ones taken from, which only the statement does.

// maxRefusals bounds the refusals a node remembers, and with them its
// memory: an attacker who cycles through addresses makes a bucket per
// address. Past it, those that have run out are dropped, at most once per
// sweepEvery so that a flood of new refusals does not scan the whole map
// for each; if none has run out, the new one is not remembered and its
// next request asks the database, as before.
const (
	maxRefusals = 16384
	sweepEvery  = time.Second
)

// refusals is a node's remembered refusals: for each bucket's key, the
// instant its theoretical arrival time is due, by this node's monotonic
// clock.
type refusals struct {
	mu    sync.Mutex
	until map[string]refusal
	swept time.Time // when dropExpired last ran
}

type refusal struct {
	tat time.Time // the bucket's theoretical arrival time, at the earliest
	tol int64     // the tolerance it refused under, µs
}

// refused returns, if b's bucket is known to refuse a take now, how far
// its theoretical arrival time is ahead of now, in µs. A refusal that has
// run out under its own tolerance is dropped.
func (r *refusals) refused(b bucketTake, now time.Time) (ahead int64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.until[b.key]
	if !ok {
		return 0, false
	}
	ahead = f.tat.Sub(now).Microseconds()
	if ahead <= f.tol {
		delete(r.until, b.key)
	}
	return ahead, ahead > b.tol
}

// remember records that bucket key refused a request under tolerance tol
// with its theoretical arrival time ahead µs past sent.
func (r *refusals) remember(key string, tol, ahead int64, sent time.Time) {
	f := refusal{tat: sent.Add(time.Duration(ahead) * time.Microsecond), tol: tol}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.until == nil {
		r.until = make(map[string]refusal)
	}
	if _, known := r.until[key]; !known && len(r.until) >= maxRefusals {
		if now := time.Now(); now.Sub(r.swept) >= sweepEvery {
			r.dropExpired(now)
			r.swept = now
		}
		if len(r.until) >= maxRefusals {
			return
		}
	}
	r.until[key] = f
}

// dropExpired deletes the refusals that would no longer refuse. The
// caller holds r.mu.
func (r *refusals) dropExpired(now time.Time) {
	for k, f := range r.until {
		if f.tat.Sub(now).Microseconds() <= f.tol {
			delete(r.until, k)
		}
	}
}
