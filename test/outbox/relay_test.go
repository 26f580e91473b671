package outbox

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// relay is a TCP proxy between keel and Mailpit that a test can take down
// and bring back on the same address: an SMTP outage as keel sees it
// (connections refused), with Mailpit itself untouched and its mapped
// ports unchanged.
type relay struct {
	target string
	addr   string // fixed by the first listen

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // the accept loop and the copiers
}

// startRelay listens on a free loopback port and forwards to target until
// the test ends.
func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	r := &relay{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

// start listens on the relay's address again. The port was ours a moment
// ago; retrying briefly covers the unlikely case that the kernel has not
// released it yet.
func (r *relay) start(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay: listen on %s: %v", r.addr, err)
		}
	}
	r.mu.Lock()
	r.ln, r.addr = ln, ln.Addr().String()
	r.mu.Unlock()
	r.wg.Go(func() { r.accept(ln) })
}

// stop closes the listener, so new connections are refused, and cuts the
// open ones. It returns once nothing of the relay runs.
func (r *relay) stop() {
	r.mu.Lock()
	if r.ln != nil {
		_ = r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *relay) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed by stop
		}
		up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		r.mu.Lock()
		if r.ln != ln { // stopped meanwhile
			r.mu.Unlock()
			_ = c.Close()
			_ = up.Close()
			return
		}
		r.conns[c], r.conns[up] = struct{}{}, struct{}{}
		r.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			r.mu.Lock()
			delete(r.conns, dst)
			delete(r.conns, src)
			r.mu.Unlock()
		}
		r.wg.Go(func() { pipe(up, c) })
		r.wg.Go(func() { pipe(c, up) })
	}
}
