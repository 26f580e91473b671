package sqlstore

import (
	"context"
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
// listening is called with nil once the connection listens and with the
// error that ended it when it is lost; ctx ending is not reported.
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
		err := listenOnce(ctx, cfg, byChannel, changed, func() {
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

// listenOnce connects, listens on every channel of byChannel, calls
// started, then reports notifications until the connection fails or ctx
// ends; it returns why it stopped.
func listenOnce(ctx context.Context, cfg *pgx.ConnConfig, byChannel map[string]string, changed func(string), started func()) error {
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
	for ch := range byChannel {
		cctx, cancel := context.WithTimeout(ctx, listenPing)
		_, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{ch}.Sanitize())
		cancel()
		if err != nil {
			return fmt.Errorf("listen on %s: %w", ch, err)
		}
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
