package media_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/media"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// TestSweepDeletesOrphanedMediaBlobs: the sweep deletes the media blobs
// that no record holds once they are older than its age — an original
// whose upload crashed before its record committed, and the original and
// variant of a file whose record went while its blobs stayed — and keeps
// a recorded file's original and variant and an unrecorded blob younger
// than the age (an upload that may still commit). Nothing is killed: the
// crash is a blob put without a record.
func TestSweepDeletesOrphanedMediaBlobs(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	now := time.Now()
	u, _ := domain.NewUser(domain.NewUserInput{Email: "owner@example.com", Name: "O", PasswordHash: "x"}, now)
	ws, _ := domain.NewWorkspace("Site", "site", now)
	err := db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := st.Users().Add(ctx, u); err != nil {
			return err
		}
		if err := st.Workspaces().Add(ctx, ws); err != nil {
			return err
		}
		return st.Memberships().Add(ctx, domain.Membership{Workspace: ws.ID(), User: u.ID(), Role: domain.RoleOwner, CreatedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	authz, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	dir := t.TempDir()
	blobs, err := blobfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The blobs' times are real; the service's clock runs two hours
	// ahead, so that every blob written now is past the age.
	clock := now
	svc := media.NewService(media.Config{UoW: db, Authorizer: authz, Clock: ports.ClockFunc(func() time.Time { return clock }), Blobs: blobs})
	owner := domain.NewUserPrincipal(u.ID(), false, "ses_x")
	const pdf = "%PDF-1.4\n%keel\n"
	put := func(key string) {
		t.Helper()
		if _, err := blobs.Put(t.Context(), key, domain.MediaPDF, -1, strings.NewReader(pdf)); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := svc.Upload(t.Context(), owner, "site", media.Upload{Name: "kept.pdf", Body: strings.NewReader(pdf)})
	if err != nil {
		t.Fatal(err)
	}
	put(domain.MediaKey(ws.ID(), kept.ID(), 640))
	gone, err := svc.Upload(t.Context(), owner, "site", media.Upload{Name: "gone.pdf", Body: strings.NewReader(pdf)})
	if err != nil {
		t.Fatal(err)
	}
	put(domain.MediaKey(ws.ID(), gone.ID(), 320))
	// The record goes and its blobs stay, as when their deletes failed.
	err = db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		return st.Media().Delete(ctx, ws.ID(), gone.ID())
	})
	if err != nil {
		t.Fatal(err)
	}
	crashed := domain.MediaKey(ws.ID(), domain.NewMediaID(now), 0)
	put(crashed)
	young := domain.MediaKey(ws.ID(), domain.NewMediaID(now), 0)
	put(young)
	clock = now.Add(2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(young)), clock, clock.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Another kind of blob under media/ is not the sweep's.
	put("media/readme")

	n, err := svc.SweepOrphanFiles(t.Context(), time.Hour)
	if err != nil || n != 3 {
		t.Fatalf("sweep = %d, %v; want 3 deleted", n, err)
	}
	got, _, err := blobs.List(t.Context(), "media/", "", ports.MaxBlobListLimit)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, b := range got {
		keys = append(keys, b.Key)
	}
	want := []string{domain.MediaKey(ws.ID(), kept.ID(), 0), domain.MediaKey(ws.ID(), kept.ID(), 640), young, "media/readme"}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("left = %v\nwant %v", keys, want)
	}
	if n, err := svc.SweepOrphanFiles(t.Context(), time.Hour); err != nil || n != 0 {
		t.Fatalf("second sweep = %d, %v", n, err)
	}
}

// TestSweepWorksInBatches: more orphans than one batch lists are all
// deleted, page after page.
func TestSweepWorksInBatches(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	blobs, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	svc := media.NewService(media.Config{UoW: db, Clock: ports.ClockFunc(func() time.Time { return now.Add(2 * time.Hour) }), Blobs: blobs})
	ws := domain.WorkspaceID(domain.NewID(domain.PrefixWorkspace, now))
	const orphans = 250
	for range orphans {
		if _, err := blobs.Put(t.Context(), domain.MediaKey(ws, domain.NewMediaID(now), 0), domain.MediaPDF, -1, strings.NewReader("%PDF-1.4\n")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := svc.SweepOrphanFiles(t.Context(), time.Hour); err != nil || n != orphans {
		t.Fatalf("sweep = %d, %v; want %d", n, err, orphans)
	}
	if left, _, err := blobs.List(t.Context(), "media/", "", 10); err != nil || len(left) != 0 {
		t.Fatalf("left = %v, %v", left, err)
	}
}
