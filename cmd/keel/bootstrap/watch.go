package bootstrap

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/ports"
)

// changeWatch brings the changes other nodes commit to this node's caches
// as they commit, instead of at the next poll: on PostgreSQL each bump of
// the policies or public content counter is a notification (a LISTEN
// connection, sqlstore's WatchCounters), which pokes the authorizer's
// poller or runInvalidation to read the counter at once. A bump of the
// policies or credentials counter also empties the cache of verified
// tokens, which otherwise trusts a token for up to half a second after
// another node ended it. While the
// notifications flow the polls slow down to a fallback; when the
// connection is lost they return to their normal pace until it is back.
// On SQLite nothing is watched and the polls keep their pace.
type changeWatch struct {
	authz *casbinauthz.Authorizer
	// forget empties the cache of verified tokens.
	forget func()
	// content pokes runInvalidation; watched says that notifications
	// flow, so that it polls only as a fallback.
	content chan struct{}
	watched atomic.Bool
	log     *slog.Logger
	// lost is the watcher goroutine's own: whether it last reported an
	// outage, so that an outage is logged once and its end once.
	lost bool
}

func newChangeWatch(authz *casbinauthz.Authorizer, forget func(), log *slog.Logger) *changeWatch {
	return &changeWatch{authz: authz, forget: forget, content: make(chan struct{}, 1), log: log}
}

// run watches until ctx ends, then returns nil.
func (w *changeWatch) run(ctx context.Context, db ports.CounterWatcher) error {
	return db.WatchCounters(ctx, []string{ports.PolicyCounter, ports.PublicContentCounter, ports.CredentialsCounter}, w.changed, w.listening)
}

func (w *changeWatch) changed(name string) {
	switch name {
	case ports.PolicyCounter:
		w.authz.Changed()
		w.forget()
	case ports.CredentialsCounter:
		w.forget()
	case ports.PublicContentCounter:
		w.pokeContent()
	}
}

func (w *changeWatch) pokeContent() {
	select {
	case w.content <- struct{}{}:
	default:
	}
}

// listening switches the polls between fallback and normal pace. Either
// way each poll runs at once: changes committed while the connection was
// down, or before it listened, went unannounced.
func (w *changeWatch) listening(err error) {
	on := err == nil
	w.watched.Store(on)
	w.authz.SetWatched(on)
	w.pokeContent()
	switch {
	case !on && !w.lost:
		w.log.Warn("lost the database's change notifications; polling for changes until they are back", "err", err)
		w.lost = true
	case on && w.lost:
		w.log.Info("change notifications are back")
		w.lost = false
	case on:
		w.log.Info("listening for changes on other nodes")
	}
}
