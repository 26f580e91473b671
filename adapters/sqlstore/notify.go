package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keelhq/keel/ports"
)

var _ ports.CounterWatcher = (*DB)(nil)

// ListenApplicationName is the application_name of the connection
// WatchCounters holds on PostgreSQL, by which pg_stat_activity tells it
// from the pool's (and tests find it to cut it).
const ListenApplicationName = "keel-listen"

// Bounds of the watcher's life on PostgreSQL. A reconnection waits
// between listenBackoffMin and listenBackoffMax, doubling after each
// failure, so that a database that is down is not hammered while one
// that only dropped the connection is back within a fraction of a second.
// A connection with no notification for listenIdle is pinged, so that
// one that died without a word (a partition, a cut NAT entry) is noticed
// within listenIdle plus listenPing rather than never.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
	listenIdle       = 15 * time.Second
	listenPing       = 5 * time.Second
)

// counterChannel is the PostgreSQL notification channel of a counter:
// one per counter, so that a node listens only to the counters it acts
// on. The channel is an identifier, so the name's dots become
// underscores ("content.public" is keel_content_public).
func counterChannel(name string) string {
	return "keel_" + strings.ReplaceAll(name, ".", "_")
}

// WatchCounters implements ports.CounterWatcher. On PostgreSQL it holds
// one connection of its own, outside the pool, that LISTENs on each
// counter's channel; BumpCounter's statement notifies it (instance.go),
// so the notification is sent when the bumping transaction commits. A
// lost connection is reported through listening(err) and reopened with
// backoff. On SQLite it returns nil at once: every node is this process.
//
// listening is called with nil once the connection listens and a probe
// it sent itself came back (probeChannel), and with the error that ended
// it when it is lost or the probe did not come back; ctx ending is not
// reported.
func (db *DB) WatchCounters(ctx context.Context, names []string, changed func(name string), listening func(err error)) error {
	if db.d.name() != "postgres" || len(names) == 0 {
		return nil
	}
	cfg, err := pgx.ParseConfig(db.dsn)
	if err != nil {
		return fmt.Errorf("parse database URL for listening: %w", err)
	}
	cfg.RuntimeParams["application_name"] = ListenApplicationName
	byChannel := make(map[string]string, len(names))
	for _, n := range names {
		byChannel[counterChannel(n)] = n
	}
	backoff := listenBackoffMin
	for {
		err := db.listenOnce(ctx, cfg, byChannel, changed, func() {
			backoff = listenBackoffMin
			listening(nil)
		})
		if ctx.Err() != nil {
			return nil
		}
		listening(err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// probeChannel carries the notification each watcher sends itself, from
// the pool, once it listens: only when it comes back is the connection
// known to hear what other connections send. A connection pooler in
// transaction mode, such as PgBouncer's, accepts LISTEN and then delivers
// nothing; the probe turns that into an error, and the polls keep their
// normal pace.
const probeChannel = "keel_listen_probe"

// listenOnce connects, listens on every channel of byChannel, checks
// with a probe that notifications arrive, calls started, then reports
// notifications until the connection fails or ctx ends; it returns why it
// stopped.
func (db *DB) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, byChannel map[string]string, changed func(string), started func()) error {
	cctx, cancel := context.WithTimeout(ctx, listenPing)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("connect to listen: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	channels := []string{probeChannel}
	for ch := range byChannel {
		channels = append(channels, ch)
	}
	for _, ch := range channels {
		cctx, cancel := context.WithTimeout(ctx, listenPing)
		_, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{ch}.Sanitize())
		cancel()
		if err != nil {
			return fmt.Errorf("listen on %s: %w", ch, err)
		}
	}
	if err := db.probe(ctx, conn, byChannel, changed); err != nil {
		return err
	}
	started()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Quiet for listenIdle: make sure that the quiet is the
			// database's and not a dead connection's.
			pctx, cancel := context.WithTimeout(ctx, listenPing)
			err = conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("ping the listening connection: %w", err)
			}
		case err != nil:
			return fmt.Errorf("wait for notification: %w", err)
		default:
			if name, ok := byChannel[n.Channel]; ok {
				changed(name)
			}
		}
	}
}

// probe sends a notification from the pool to probeChannel and waits up
// to listenPing for conn to receive it, reporting the other notifications
// that arrive meanwhile.
func (db *DB) probe(ctx context.Context, conn *pgx.Conn, byChannel map[string]string, changed func(string)) error {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	pctx, cancel := context.WithTimeout(ctx, listenPing)
	defer cancel()
	if _, err := db.sql.ExecContext(pctx, `SELECT pg_notify($1, $2)`, probeChannel, token); err != nil {
		return fmt.Errorf("send the listening probe: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(pctx)
		if err != nil {
			return fmt.Errorf("the listening probe did not come back within %v (a connection pooler in transaction mode delivers no notifications): %w", listenPing, err)
		}
		if n.Channel == probeChannel && n.Payload == token {
			return nil
		}
		if name, ok := byChannel[n.Channel]; ok {
			changed(name)
		}
	}
}
