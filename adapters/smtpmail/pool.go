package smtpmail

import (
	"sync"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// Pool settings. A dispatcher sends DefaultConcurrency (8) messages at
// once, so each of its sends finds a session waiting.
const (
	// maxIdle is how many sessions wait for the next Send; one more that
	// comes back is closed.
	maxIdle = 8
	// idleTimeout is how long a session waits before it is closed. It
	// stays well under the 5 minutes RFC 5321 lets a server wait for a
	// command, so that the relay rarely drops one first.
	idleTimeout = 30 * time.Second
	// quitTimeout bounds the QUIT that closes an idle session.
	quitTimeout = 2 * time.Second
)

// pool holds connected, logged-in SMTP sessions between Sends, newest
// last. Sessions are in it only while idle: a Send owns the one it took
// until it puts it back or closes it.
type pool struct {
	mu      sync.Mutex
	idle    []idleConn
	max     int
	timeout time.Duration
	reaper  *time.Timer // closes expired sessions once traffic stops
	closed  bool
}

type idleConn struct {
	c     *smtp.Client
	since time.Time
}

func newPool(maxIdle int, timeout time.Duration) *pool {
	return &pool{max: maxIdle, timeout: timeout}
}

// get returns the most recently used idle session, or nil when there is
// none. Sessions idle for longer than the timeout are closed instead: the
// relay may have given up on them.
func (p *pool) get() *smtp.Client {
	p.mu.Lock()
	var stale []*smtp.Client
	var c *smtp.Client
	now := time.Now()
	for len(p.idle) > 0 {
		last := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(last.since) < p.timeout {
			c = last.c
			break
		}
		stale = append(stale, last.c)
	}
	p.mu.Unlock()
	if len(stale) > 0 {
		go quitAll(stale) // not on the Send's time
	}
	return c
}

// put returns a session after a successful Send. It closes the session
// when the pool is full or closed.
func (p *pool) put(c *smtp.Client) {
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.max {
		p.mu.Unlock()
		quit(c)
		return
	}
	p.idle = append(p.idle, idleConn{c: c, since: time.Now()})
	if p.reaper == nil {
		p.reaper = time.AfterFunc(p.timeout, p.reap)
	}
	p.mu.Unlock()
}

// reap closes the sessions that have been idle for the timeout and runs
// again when the oldest remaining one will have.
func (p *pool) reap() {
	p.mu.Lock()
	now := time.Now()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].since) >= p.timeout {
		n++
	}
	stale := make([]*smtp.Client, n)
	for i := range n {
		stale[i] = p.idle[i].c
	}
	p.idle = append(p.idle[:0], p.idle[n:]...)
	p.reaper = nil
	if len(p.idle) > 0 && !p.closed {
		p.reaper = time.AfterFunc(p.timeout-now.Sub(p.idle[0].since), p.reap)
	}
	p.mu.Unlock()
	quitAll(stale)
}

// close closes the idle sessions and makes put close the rest as their
// Sends finish.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	if p.reaper != nil {
		p.reaper.Stop()
		p.reaper = nil
	}
	stale := make([]*smtp.Client, len(p.idle))
	for i, ic := range p.idle {
		stale[i] = ic.c
	}
	p.idle = nil
	p.mu.Unlock()
	quitAll(stale)
}

// quitAll closes sessions at once, so that closing many waits no longer
// than closing one.
func quitAll(cs []*smtp.Client) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { quit(c) })
	}
	wg.Wait()
}

// quit says QUIT, as RFC 5321 asks of a client, and closes the connection
// whatever the answer: the session is over either way.
func quit(c *smtp.Client) {
	if c.UpdateDeadline(quitTimeout) == nil && c.Quit() == nil {
		return
	}
	_ = c.Close()
}
