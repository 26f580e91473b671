package sqlstore

import (
	"sync"
	"time"
)

// Tokens a node takes ahead from a hot chain of big buckets.
//
// A busy key (one API key used flat out, one client submitting to one
// form) still costs a statement for every few requests after sharing
// (ratetakes.go), however much room its buckets have. So when a chain's
// statement runs for a first bucket that others of this node queued for,
// and its last statement left every bucket of the chain at least half
// full, the statement takes up to maxLease tokens more than its callers
// asked, as requests that come after theirs. The node then answers the
// next requests for that chain and first bucket from those tokens, each
// with the answer its token got in the statement, without asking the
// database.
//
// Nodes still share one budget: every token leased was taken from the
// rows. What a lease changes is when a token counts. It is taken when
// the statement runs and used up to leaseFor later, so over any span a
// bucket allows at most what it would plus what it refills in leaseFor;
// and the tokens of a lease that runs out unused are lost, at most
// 1/leaseShare of each bucket's capacity. A lease never holds more than
// that share, so buckets smaller than leaseShare tokens are never leased
// and keep their exact answers: login throttling, a form's few
// submissions a minute, a key's small quota.
const (
	maxLease   = 64
	leaseShare = 64
	leaseFor   = 100 * time.Millisecond
	// maxLeases bounds the chains a node holds leases for; past it, a
	// chain takes no lease until the map is swept.
	maxLeases = 4096
)

// leases is a node's tokens taken ahead, by chain (groupID) and first
// bucket's key.
type leases struct {
	mu    sync.Mutex
	m     map[string]*lease
	swept time.Time // when sweep last ran
}

type lease struct {
	// answers are the tokens left, each the answer of a request that
	// reached every bucket of the chain and was allowed, in order.
	answers [][]taken
	until   time.Time // when the tokens left are dropped
	// room is set when the chain's last statement left every bucket at
	// least half full, and drained when its last lease ran out in use:
	// the next statement may take a lease when both hold.
	room, drained bool
}

func leaseKey(id, first string) string { return id + "\x00" + first }

// use returns the answer of the next token leased for the chain id and
// first key, if one is left and not expired.
func (l *leases) use(id, first string, now time.Time) ([]taken, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.m[leaseKey(id, first)]
	if r == nil || len(r.answers) == 0 {
		return nil, false
	}
	if now.After(r.until) {
		r.answers = nil
		return nil, false
	}
	got := r.answers[0]
	r.answers = r.answers[1:]
	r.drained = len(r.answers) == 0
	return got, true
}

// ask returns how many tokens a statement for chain id should take ahead
// for first, which n of its callers asked for: none unless the last
// statement left room and the key is hot (n > 1, or its last lease was
// used up), and never more than maxLease or a leaseShare of any bucket.
func (l *leases) ask(id string, chain []bucketTake, first string, n int) int {
	size := maxLease
	for _, b := range chain {
		size = min(size, int((b.tol/b.t+1)/leaseShare))
	}
	if size <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.m[leaseKey(id, first)]
	if r == nil || !r.room || n < 2 && !r.drained {
		return 0
	}
	return size
}

// keep records what a statement for chain id found for first: whether it
// left every bucket half full (room), and the answers of the tokens it
// took ahead, of which those allowed by every bucket make the new lease.
// A chain is followed from the first statement that n > 1 callers of
// this node shared.
func (l *leases) keep(id string, chain []bucketTake, first string, n int, room bool, ahead [][]taken, sent time.Time) {
	var ok [][]taken
	for _, a := range ahead {
		if len(a) == len(chain) && a[len(a)-1].allowed {
			ok = append(ok, a)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := leaseKey(id, first)
	r := l.m[k]
	if r == nil {
		if n < 2 {
			return
		}
		if len(l.m) >= maxLeases && sent.Sub(l.swept) >= sweepEvery {
			l.sweep(sent)
		}
		if len(l.m) >= maxLeases {
			return
		}
		if l.m == nil {
			l.m = make(map[string]*lease)
		}
		r = &lease{}
		l.m[k] = r
	}
	r.room, r.drained = room, false
	if len(ok) > 0 {
		r.answers, r.until = ok, sent.Add(leaseFor)
	}
}

// sweep drops the chains without tokens left or whose tokens expired, at
// most once per sweepEvery (raterefusals.go) so that many hot chains do
// not scan the map for each new one.
func (l *leases) sweep(now time.Time) {
	l.swept = now
	for k, r := range l.m {
		if len(r.answers) == 0 || now.After(r.until) {
			delete(l.m, k)
		}
	}
}
