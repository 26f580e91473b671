package porttest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func previewLinks(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	editor := domain.NewUserPrincipal(author, false, "ses_x")
	newLink := func(t *testing.T, e domain.Entry, ttl time.Duration, now time.Time) (domain.PreviewLink, string) {
		t.Helper()
		l, token, err := domain.NewPreviewLink(e, editor, ttl, now)
		if err != nil {
			t.Fatal(err)
		}
		return l, token
	}
	add := func(t *testing.T, uow ports.UnitOfWork, l domain.PreviewLink) {
		t.Helper()
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.PreviewLinks().Add(ctx, l) })
	}

	t.Run("ByTokenHashFindsTheLinkOfAnyWorkspaceAndGetOnlyItsOwn", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		e := addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Draft"}))
		l, token := newLink(t, e, time.Hour, t0)
		add(t, uow, l)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.PreviewLinks().ByTokenHash(ctx, domain.HashSecret(token))
			if err != nil {
				return err
			}
			if got.ID() != l.ID() || got.Workspace() != ws.ID() || got.Entry() != e.ID() || !got.ExpiresAt().Equal(l.ExpiresAt()) ||
				!got.CreatedAt().Equal(l.CreatedAt()) || got.RevokedAt() != nil || !domain.SameHash(got.TokenHash(), l.TokenHash()) {
				t.Errorf("ByTokenHash = %+v, want %+v", got, l)
			}
			if k, id := got.Actor(); k != "user" || id != string(author) {
				t.Errorf("actor = %s %s, want user %s", k, id, author)
			}
			_, err = st.PreviewLinks().ByTokenHash(ctx, domain.HashSecret(token+"x"))
			wantErr(t, "ByTokenHash of another token", err, domain.ErrNotFound)
			if _, err := st.PreviewLinks().Get(ctx, ws.ID(), l.ID()); err != nil {
				return err
			}
			_, err = st.PreviewLinks().Get(ctx, other.ID(), l.ID())
			wantErr(t, "Get from another workspace", err, domain.ErrNotFound)
			ls, _, err := st.PreviewLinks().List(ctx, other.ID(), e.ID(), ports.Page{})
			if err != nil || len(ls) != 0 {
				t.Errorf("List from another workspace = %d links, %v; want none", len(ls), err)
			}
			return nil
		})
	})

	t.Run("RevokedAndExpiredLinksAreNotActive", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		e := addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Draft"}))
		short, _ := newLink(t, e, time.Minute, t0)
		long, _ := newLink(t, e, time.Hour, t0)
		revoked, _ := newLink(t, e, time.Hour, t0)
		for _, l := range []domain.PreviewLink{short, long, revoked} {
			add(t, uow, l)
		}
		if !revoked.Revoke(t0.Add(time.Second)) {
			t.Fatal("Revoke of an active link reported it inactive")
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.PreviewLinks().Update(ctx, revoked) })
		count := func(now time.Time) (n int) {
			t.Helper()
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				n, err = st.PreviewLinks().CountActive(ctx, ws.ID(), e.ID(), now)
				return err
			})
			return n
		}
		if n := count(t0.Add(30 * time.Second)); n != 2 {
			t.Errorf("active after 30s = %d, want 2 (the revoked one is not)", n)
		}
		if n := count(t0.Add(time.Minute)); n != 1 {
			t.Errorf("active after a minute = %d, want 1 (the one-minute link has expired)", n)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.PreviewLinks().Get(ctx, ws.ID(), revoked.ID())
			if err != nil {
				return err
			}
			if got.RevokedAt() == nil || !got.RevokedAt().Equal(domain.Timestamp(t0.Add(time.Second))) {
				t.Errorf("revoked_at = %v, want %v", got.RevokedAt(), t0.Add(time.Second))
			}
			return nil
		})
		gone, _ := newLink(t, e, time.Hour, t0)
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error { return st.PreviewLinks().Update(ctx, gone) })
		wantErr(t, "Update of a link never added", err, domain.ErrNotFound)
	})

	t.Run("ListPagesNewestFirstAndDeletingTheEntryDeletesItsLinks", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		e := addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Draft"}))
		other := addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Other"}))
		var want []string
		for i := range 5 {
			l, _ := newLink(t, e, time.Hour, t0.Add(time.Duration(i)*time.Millisecond))
			add(t, uow, l)
			want = append([]string{l.ID().String()}, want...)
		}
		o, _ := newLink(t, other, time.Hour, t0)
		add(t, uow, o)
		var got []string
		page := ports.Page{Limit: 2}
		for {
			var ls []domain.PreviewLink
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				ls, page.After, err = st.PreviewLinks().List(ctx, ws.ID(), e.ID(), page)
				return err
			})
			got = append(got, idsOf(ls, func(l domain.PreviewLink) string { return l.ID().String() })...)
			if page.After == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("List = %v, want %v", got, want)
		}
		err := uow.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
			_, _, err := st.PreviewLinks().List(ctx, ws.ID(), e.ID(), ports.Page{After: "junk"})
			return err
		})
		wantErr(t, "List after a malformed cursor", err, ports.ErrInvalidCursor)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Entries().Delete(ctx, ws.ID(), e.ID()) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			_, err := st.PreviewLinks().Get(ctx, ws.ID(), domain.PreviewLinkID(want[0]))
			wantErr(t, "Get after the entry's deletion", err, domain.ErrNotFound)
			_, err = st.PreviewLinks().Get(ctx, ws.ID(), o.ID())
			return err
		})
	})
}
