package porttest

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// imports checks ports.ImportStore: sources are found per workspace, a
// source is recorded once, deleting the entry forgets its source, and
// taken slugs are reported per kind.
func imports(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	t.Run("SourcesArePerWorkspaceAndRecordedOnce", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		a, b := addWorkspace(t, uow, "imp-a"), addWorkspace(t, uow, "imp-b")
		post := addEntry(t, uow, mustEntry(t, a.ID(), domain.KindPost, domain.EntryContent{Title: "Loaf", Slug: "loaf"}))
		page := addEntry(t, uow, mustEntry(t, a.ID(), domain.KindPage, domain.EntryContent{Title: "About", Slug: "about"}))
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			return errors.Join(st.Imports().Add(ctx, a.ID(), "wordpress:https://x.example/?p=1", post.ID(), t0),
				st.Imports().Add(ctx, a.ID(), "wordpress:https://x.example/?page_id=2", page.ID(), t0))
		})
		var got, inB map[string]domain.EntryID
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			if got, err = st.Imports().Imported(ctx, a.ID(), []string{"wordpress:https://x.example/?p=1", "wordpress:https://x.example/?page_id=2", "ghost:1"}); err != nil {
				return err
			}
			inB, err = st.Imports().Imported(ctx, b.ID(), []string{"wordpress:https://x.example/?p=1"})
			return err
		})
		want := map[string]domain.EntryID{"wordpress:https://x.example/?p=1": post.ID(), "wordpress:https://x.example/?page_id=2": page.ID()}
		if !maps.Equal(got, want) || len(inB) != 0 {
			t.Errorf("Imported = %v in a, %v in b; want %v and none", got, inB, want)
		}
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			return st.Imports().Add(ctx, a.ID(), "wordpress:https://x.example/?p=1", page.ID(), t0)
		})
		if !errors.Is(err, domain.ErrImportedTwice) {
			t.Errorf("Add twice: %v, want ErrImportedTwice", err)
		}

		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Entries().Delete(ctx, a.ID(), post.ID()) })
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			got, err = st.Imports().Imported(ctx, a.ID(), []string{"wordpress:https://x.example/?p=1"})
			return err
		})
		if len(got) != 0 {
			t.Errorf("a deleted entry's source is still imported: %v", got)
		}
	})

	t.Run("SlugsTakenPerKind", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		a := addWorkspace(t, uow, "slugs-a")
		addEntry(t, uow, mustEntry(t, a.ID(), domain.KindPost, domain.EntryContent{Title: "Loaf", Slug: "loaf"}))
		addEntry(t, uow, mustEntry(t, a.ID(), domain.KindPage, domain.EntryContent{Title: "About", Slug: "about"}))
		var posts, pages map[string]bool
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			if posts, err = st.Imports().SlugsTaken(ctx, a.ID(), domain.KindPost, []string{"loaf", "about", "rye"}); err != nil {
				return err
			}
			pages, err = st.Imports().SlugsTaken(ctx, a.ID(), domain.KindPage, []string{"loaf", "about"})
			return err
		})
		if !maps.Equal(posts, map[string]bool{"loaf": true}) || !maps.Equal(pages, map[string]bool{"about": true}) {
			t.Errorf("SlugsTaken = %v for posts, %v for pages", posts, pages)
		}
	})
}
