package casbinauthz_test

import (
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/domain"
)

// TestChangedPollsAtOnce: with a poll interval far beyond the test, a
// change applies as soon as Changed is called, as a notification from the
// database calls it; SetWatched polls at once too, since changes made
// while notifications were down went unannounced.
func TestChangedPollsAtOnce(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	var (
		ws domain.WorkspaceID
		u  domain.UserID
	)
	change(t, db, func(s *seeder) {
		ws, u = s.workspace("alpha"), s.user("a")
		s.member(ws, u, domain.RoleViewer)
	})
	a := newAuthorizer(t, db, casbinauthz.Options{PollInterval: time.Hour})

	change(t, db, func(s *seeder) { s.setRole(ws, u, domain.RoleEditor) }) // another node's change
	a.Changed()
	waitFor(t, 5*time.Second, func() bool {
		return a.Authorize(t.Context(), user(u), ws, domain.PermFormsWrite) == nil
	})

	change(t, db, func(s *seeder) { s.setRole(ws, u, domain.RoleViewer) })
	a.SetWatched(false) // the notifications were lost
	waitFor(t, 5*time.Second, func() bool {
		return a.Authorize(t.Context(), user(u), ws, domain.PermFormsWrite) == domain.ErrForbidden
	})
}
