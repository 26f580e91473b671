package smtpmail_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/smtpmail"
)

// TestSessionReuse: sequential sends share one session, and a dispatcher's
// 8 concurrent sends need no more than 8, however many rounds they make.
func TestSessionReuse(t *testing.T) {
	t.Parallel()
	t.Run("Sequential", func(t *testing.T) {
		t.Parallel()
		r := &relay{}
		r.start(t)
		m := newMailer(t, "smtp://"+r.addr+"?tls=none")
		for i := range 20 {
			if err := m.Send(t.Context(), message(t)); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
		if got := r.conns.Load(); got != 1 {
			t.Errorf("connections = %d, want 1 for 20 messages", got)
		}
		if got := r.ends.Load(); got != 20 {
			t.Errorf("messages received = %d, want 20", got)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		r := &relay{}
		r.start(t)
		m := newMailer(t, "smtp://"+r.addr+"?tls=none")
		for round := range 5 {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					if err := m.Send(t.Context(), message(t)); err != nil {
						t.Errorf("round %d: Send: %v", round, err)
					}
				})
			}
			wg.Wait()
		}
		if got := r.conns.Load(); got > 8 {
			t.Errorf("connections = %d, want at most 8 for 5 rounds of 8 concurrent sends", got)
		}
		if got := r.ends.Load(); got != 40 {
			t.Errorf("messages received = %d, want 40", got)
		}
	})
}

// TestReconnectAfterRelayClosedIdleSession: a relay may end a session that
// waited too long, with a 421 or silently; the next Send notices at its
// first command and sends on a new session, once.
func TestReconnectAfterRelayClosedIdleSession(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, idleReply string }{
		{"421", "421 4.4.2 fake Error: timeout exceeded"},
		{"HangUp", hangUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &relay{idle: 100 * time.Millisecond, idleReply: tc.idleReply}
			r.start(t)
			m := newMailer(t, "smtp://keel:"+secret+"@"+r.addr+"?tls=none")
			if err := m.Send(t.Context(), message(t)); err != nil {
				t.Fatalf("first Send: %v", err)
			}
			eventually(t, "the relay to close the idle session", func() bool { return r.open.Load() == 0 })
			if err := m.Send(t.Context(), message(t)); err != nil {
				t.Fatalf("Send after the relay closed the session: %v", err)
			}
			if got := r.conns.Load(); got != 2 {
				t.Errorf("connections = %d, want 2", got)
			}
			if got := r.ends.Load(); got != 2 {
				t.Errorf("messages received = %d, want 2", got)
			}
		})
	}
}

// TestNoResendAfterData: once the message went out to the end of DATA, the
// relay may have accepted it, so a failure there is returned, not retried
// on a new session, even on a reused one.
func TestNoResendAfterData(t *testing.T) {
	t.Parallel()
	r := &relay{script: map[string]string{"END 2": hangUp}}
	r.start(t)
	m := newMailer(t, "smtp://"+r.addr+"?tls=none")
	if err := m.Send(t.Context(), message(t)); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	checkUnavailable(t, m.Send(t.Context(), message(t)))
	if got := r.mails.Load(); got != 2 {
		t.Errorf("transactions = %d, want 2: the second message was offered again", got)
	}
	if got := r.conns.Load(); got != 1 {
		t.Errorf("connections = %d, want 1", got)
	}
}

// TestNoRetryOnDeferral: a 4xx other than 421 on a reused session is the
// relay's answer, not a lost session; the dispatcher's backoff handles it.
func TestNoRetryOnDeferral(t *testing.T) {
	t.Parallel()
	r := &relay{script: map[string]string{"RCPT 2": "451 4.3.0 Mailbox temporarily unavailable"}}
	r.start(t)
	m := newMailer(t, "smtp://"+r.addr+"?tls=none")
	if err := m.Send(t.Context(), message(t)); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	checkUnavailable(t, m.Send(t.Context(), message(t)))
	if got := r.mails.Load(); got != 2 {
		t.Errorf("transactions = %d, want 2", got)
	}
}

// TestCloseEndsIdleSessions: Close says QUIT on every idle session.
func TestCloseEndsIdleSessions(t *testing.T) {
	t.Parallel()
	r := &relay{}
	r.start(t)
	m := newMailer(t, "smtp://"+r.addr+"?tls=none")
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := m.Send(t.Context(), message(t)); err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
	wg.Wait()
	if r.open.Load() == 0 {
		t.Fatal("no session open after Send")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	eventually(t, "every session closed", func() bool { return r.open.Load() == 0 })
	if q, c := r.quits.Load(), r.conns.Load(); q != c {
		t.Errorf("QUIT on %d of %d sessions", q, c)
	}
	// A Send after Close still delivers, and leaves nothing open.
	if err := m.Send(t.Context(), message(t)); err != nil {
		t.Fatalf("Send after Close: %v", err)
	}
	eventually(t, "the session of a Send after Close closed", func() bool { return r.open.Load() == 0 })
}

// TestIdleSessionsExpire: a session nobody used for the idle timeout is
// closed with QUIT.
func TestIdleSessionsExpire(t *testing.T) {
	t.Parallel()
	r := &relay{}
	r.start(t)
	m := newMailer(t, "smtp://"+r.addr+"?tls=none")
	smtpmail.SetIdleTimeout(m, 100*time.Millisecond)
	if err := m.Send(t.Context(), message(t)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	eventually(t, "the idle session closed", func() bool { return r.open.Load() == 0 })
	if got := r.quits.Load(); got != 1 {
		t.Errorf("QUIT = %d, want 1", got)
	}
	if err := m.Send(t.Context(), message(t)); err != nil {
		t.Fatalf("Send after expiry: %v", err)
	}
	if got := r.conns.Load(); got != 2 {
		t.Errorf("connections = %d, want 2", got)
	}
}

// TestCancelDuringSend: a relay that stops answering holds a Send no longer
// than its ctx, though the session's own timeout is longer.
func TestCancelDuringSend(t *testing.T) {
	t.Parallel()
	r := &relay{script: map[string]string{"END 2": stall}}
	r.start(t)
	m := newMailer(t, "smtp://"+r.addr+"?tls=none&timeout=30s")
	if err := m.Send(t.Context(), message(t)); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	checkUnavailable(t, m.Send(ctx, message(t)))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send returned after %v, want about 200ms", d)
	}
	// The cut session is not reused.
	if err := m.Send(t.Context(), message(t)); err != nil {
		t.Fatalf("Send after a cancelled one: %v", err)
	}
	if got := r.conns.Load(); got != 2 {
		t.Errorf("connections = %d, want 2", got)
	}
}
