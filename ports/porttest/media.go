package porttest

import (
	"context"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func media(t *testing.T, open func(t *testing.T) ports.UnitOfWork) {
	editor := domain.NewUserPrincipal(author, false, "ses_x")
	newMedia := func(t *testing.T, ws domain.WorkspaceID, name, ct string, size int64, at time.Time) domain.Media {
		t.Helper()
		m, err := domain.NewMedia(ws, editor, domain.MediaUpload{ID: domain.NewMediaID(at), Name: name, ContentType: ct, Size: size,
			Width: 640, Height: 480, SHA256: "ab12"}, at)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	add := func(t *testing.T, uow ports.UnitOfWork, m domain.Media) {
		t.Helper()
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Media().Add(ctx, m) })
	}

	t.Run("AddGetUpdateDeleteKeepEveryFieldAndStayInTheWorkspace", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		m := newMedia(t, ws.ID(), "Photo of us.JPG", domain.MediaJPEG, 5000, t0)
		add(t, uow, m)
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Media().Get(ctx, ws.ID(), m.ID())
			if err != nil {
				return err
			}
			if got.ID() != m.ID() || got.Name() != "Photo-of-us.JPG" || got.ContentType() != domain.MediaJPEG || got.Size() != 5000 ||
				got.Width() != 640 || got.Height() != 480 || got.BlobKey() != m.BlobKey() || got.SHA256() != "ab12" ||
				!got.CreatedAt().Equal(m.CreatedAt()) || got.Focal() != nil || len(got.Variants()) != 0 {
				t.Errorf("Get = %+v, want %+v", got, m)
			}
			if k, id := got.Actor(); k != "user" || id != string(author) {
				t.Errorf("actor = %s %s, want user %s", k, id, author)
			}
			_, err = st.Media().Get(ctx, other.ID(), m.ID())
			wantErr(t, "Get from another workspace", err, domain.ErrNotFound)
			return nil
		})
		alt, caption := "Two people", "At the lake"
		if _, err := m.Apply(domain.MediaChange{Alt: &alt, Caption: &caption, Focal: &domain.FocalPoint{X: 0.25, Y: 0.75}}, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		m.AddVariant(960)
		m.AddVariant(320)
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Media().Update(ctx, m) })
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			got, err := st.Media().Get(ctx, ws.ID(), m.ID())
			if err != nil {
				return err
			}
			if got.Alt() != alt || got.Caption() != caption || got.Focal() == nil || *got.Focal() != (domain.FocalPoint{X: 0.25, Y: 0.75}) ||
				!got.UpdatedAt().Equal(m.UpdatedAt()) || !got.HasVariant(320) || !got.HasVariant(960) || len(got.Variants()) != 2 {
				t.Errorf("after Update = %+v", got)
			}
			wantErr(t, "Delete from another workspace", st.Media().Delete(ctx, other.ID(), m.ID()), domain.ErrNotFound)
			if err := st.Media().Delete(ctx, ws.ID(), m.ID()); err != nil {
				return err
			}
			_, err = st.Media().Get(ctx, ws.ID(), m.ID())
			wantErr(t, "Get after Delete", err, domain.ErrNotFound)
			wantErr(t, "Update after Delete", st.Media().Update(ctx, m), domain.ErrNotFound)
			return nil
		})
	})

	t.Run("ListFiltersByTypeAndNameAndPagesNewestFirst", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws, other := addWorkspace(t, uow, "acme"), addWorkspace(t, uow, "other")
		a := newMedia(t, ws.ID(), "Sunset.jpg", domain.MediaJPEG, 100, t0)
		b := newMedia(t, ws.ID(), "logo.png", domain.MediaPNG, 200, t0.Add(time.Second))
		c := newMedia(t, ws.ID(), "menu_100%.pdf", domain.MediaPDF, 300, t0.Add(2*time.Second))
		for _, m := range []domain.Media{a, b, c, newMedia(t, other.ID(), "sunset.jpg", domain.MediaJPEG, 400, t0)} {
			add(t, uow, m)
		}
		list := func(f ports.MediaFilter, p ports.Page) (ids []domain.MediaID, next string) {
			t.Helper()
			run(t, uow, func(ctx context.Context, st ports.Stores) error {
				ms, n, err := st.Media().List(ctx, ws.ID(), f, p)
				for _, m := range ms {
					ids = append(ids, m.ID())
				}
				next = n
				return err
			})
			return ids, next
		}
		eq := func(what string, got []domain.MediaID, want ...domain.Media) {
			t.Helper()
			ok := len(got) == len(want)
			for i := 0; ok && i < len(want); i++ {
				ok = got[i] == want[i].ID()
			}
			if !ok {
				t.Errorf("%s = %v, want %d files", what, got, len(want))
			}
		}
		all, _ := list(ports.MediaFilter{}, ports.Page{})
		eq("all", all, c, b, a)
		images, _ := list(ports.MediaFilter{Type: "image/"}, ports.Page{})
		eq("image/", images, b, a)
		pngs, _ := list(ports.MediaFilter{Type: domain.MediaPNG}, ports.Page{})
		eq("image/png", pngs, b)
		sun, _ := list(ports.MediaFilter{Search: "SUN"}, ports.Page{})
		eq("search SUN", sun, a)
		pct, _ := list(ports.MediaFilter{Search: "_"}, ports.Page{})
		eq("search _", pct, c)
		none, _ := list(ports.MediaFilter{Search: "%"}, ports.Page{})
		eq("search %", none)
		first, next := list(ports.MediaFilter{}, ports.Page{Limit: 2})
		eq("page 1", first, c, b)
		rest, last := list(ports.MediaFilter{}, ports.Page{Limit: 2, After: next})
		eq("page 2", rest, a)
		if next == "" || last != "" {
			t.Errorf("cursors = %q, %q; want one, then none", next, last)
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			n, err := st.Media().TotalSize(ctx, ws.ID())
			if err != nil || n != 600 {
				t.Errorf("TotalSize = %d, %v; want 600", n, err)
			}
			_, _, err = st.Media().List(ctx, ws.ID(), ports.MediaFilter{}, ports.Page{After: "x"})
			wantErr(t, "List after a bad cursor", err, ports.ErrInvalidCursor)
			return nil
		})
	})

	t.Run("UsedByPublishedSeesBodiesOfPublishedEntriesOnly", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		m, unused := newMedia(t, ws.ID(), "a.png", domain.MediaPNG, 10, t0), newMedia(t, ws.ID(), "b.png", domain.MediaPNG, 10, t0)
		add(t, uow, m)
		add(t, uow, unused)
		used := func() (u [2]bool) {
			t.Helper()
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				if u[0], err = st.Media().UsedByPublished(ctx, ws.ID(), m.ID()); err != nil {
					return err
				}
				u[1], err = st.Media().UsedByPublished(ctx, ws.ID(), unused.ID())
				return err
			})
			return u
		}
		body := "![Us](/v1/sites/acme/media/" + m.ID().String() + "/a.png?w=640)"
		e := addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Draft", Body: body}))
		if u := used(); u != [2]bool{} {
			t.Fatalf("used while the entry is a draft = %v, want none", u)
		}
		prev := e.Version()
		setStatus(t, &e, domain.EntryPublished)
		updateEntry(t, uow, e, prev)
		if u := used(); u != [2]bool{true, false} {
			t.Fatalf("used once published = %v, want the referenced file only", u)
		}
	})
	t.Run("CoverIsStoredUsedAndClearedByDelete", func(t *testing.T) {
		t.Parallel()
		uow := open(t)
		ws := addWorkspace(t, uow, "acme")
		m := newMedia(t, ws.ID(), "cover.jpg", domain.MediaJPEG, 10, t0)
		add(t, uow, m)
		e := addEntry(t, uow, mustEntry(t, ws.ID(), domain.KindPost, domain.EntryContent{Title: "Lake", CoverMedia: m.ID()}))
		get := func() (got domain.Entry, used bool) {
			t.Helper()
			run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
				if got, err = st.Entries().Get(ctx, ws.ID(), e.ID()); err != nil {
					return err
				}
				used, err = st.Media().UsedByPublished(ctx, ws.ID(), m.ID())
				return err
			})
			return got, used
		}
		if got, used := get(); got.CoverMedia() != m.ID() || used {
			t.Fatalf("draft: cover %q, used %v; want %s, unused", got.CoverMedia(), used, m.ID())
		}
		prev := e.Version()
		setStatus(t, &e, domain.EntryPublished)
		updateEntry(t, uow, e, prev)
		if got, used := get(); got.CoverMedia() != m.ID() || !used {
			t.Fatalf("published: cover %q, used %v; want %s, used", got.CoverMedia(), used, m.ID())
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error {
			return st.Entries().AddRevision(ctx, domain.NewRevision(e, editor))
		})
		var rev domain.Revision
		run(t, uow, func(ctx context.Context, st ports.Stores) (err error) {
			rev, err = st.Entries().Revision(ctx, ws.ID(), e.ID(), e.Version())
			return err
		})
		if rev.Content.CoverMedia != m.ID() {
			t.Errorf("revision's cover = %q, want %s", rev.Content.CoverMedia, m.ID())
		}
		run(t, uow, func(ctx context.Context, st ports.Stores) error { return st.Media().Delete(ctx, ws.ID(), m.ID()) })
		if got, _ := get(); got.CoverMedia() != "" {
			t.Fatalf("cover after the file's deletion = %q, want none", got.CoverMedia())
		}
	})
}
