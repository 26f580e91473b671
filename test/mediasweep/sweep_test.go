// Package mediasweep checks the sweep of media blobs that no media record
// holds: keel serve runs it as it starts, on the blob store in its data
// directory, and the use case does the same on an S3 bucket (SeaweedFS).
package mediasweep

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/adapters/blobs3"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/sqlstore/sqlitetest"
	"github.com/keelhq/keel/application/media"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/s3server"
)

func TestMain(m *testing.M) {
	containers.Main(m, s3server.Stop, keelproc.RemoveBinary)
}

const pdf = "%PDF-1.4\n%keel\n"

func keys(t *testing.T, s ports.BlobStore) []string {
	t.Helper()
	blobs, _, err := s.List(t.Context(), "media/", "", ports.MaxBlobListLimit)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range blobs {
		out = append(out, b.Key)
	}
	return out
}

// TestServeSweepsOrphanedMediaAtStart: keel serve, as it starts, deletes
// a media original and variant that no record holds once they are older
// than KEEL_UPLOAD_SWEEP_AGE (a crash left them two hours ago), and
// keeps one written a moment ago.
func TestServeSweepsOrphanedMediaAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := blobfs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	ws := domain.WorkspaceID(domain.NewID(domain.PrefixWorkspace, time.Now()))
	id := domain.NewMediaID(time.Now())
	old := []string{domain.MediaKey(ws, id, 0), domain.MediaKey(ws, id, 640)}
	young := domain.MediaKey(ws, domain.NewMediaID(time.Now()), 0)
	for _, k := range append(old, young) {
		if _, err := store.Put(t.Context(), k, domain.MediaPDF, -1, strings.NewReader(pdf)); err != nil {
			t.Fatal(err)
		}
	}
	crashed := time.Now().Add(-2 * time.Hour)
	for _, k := range old {
		if err := os.Chtimes(filepath.Join(dir, "blobs", filepath.FromSlash(k)), crashed, crashed); err != nil {
			t.Fatal(err)
		}
	}
	p := keelproc.Serve(t, "serve", []string{"KEEL_DATA_DIR=" + dir})
	line := p.WaitLog(t, "media file sweep deleted orphaned files", 30*time.Second)
	if n, _ := line["count"].(float64); n != 2 {
		t.Errorf("the sweep's log line = %v, want count 2", line)
	}
	if got := keys(t, store); len(got) != 1 || got[0] != young {
		t.Fatalf("left = %v, want only %s", got, young)
	}
}

// TestSweepOnS3: on an S3 bucket the sweep keeps every blob younger than
// its age, then deletes the ones no record holds and keeps a recorded
// file's original and variant.
func TestSweepOnS3(t *testing.T) {
	t.Parallel()
	srv := s3server.Start(t)
	cfg, err := blobs3.ParseURL("s3://" + srv.NewBucket(t) + "/keel?endpoint=" + srv.Endpoint + "&region=" + s3server.Region)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AccessKeyID, cfg.SecretAccessKey = s3server.AccessKey, s3server.SecretKey
	store, err := blobs3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sqlitetest.New(t)
	now := time.Now()
	u, _ := domain.NewUser(domain.NewUserInput{Email: "owner@example.com", Name: "O", PasswordHash: "x"}, now)
	w, _ := domain.NewWorkspace("Site", "site", now)
	err = db.WithinTx(t.Context(), func(ctx context.Context, st ports.Stores) error {
		if err := st.Users().Add(ctx, u); err != nil {
			return err
		}
		if err := st.Workspaces().Add(ctx, w); err != nil {
			return err
		}
		return st.Memberships().Add(ctx, domain.Membership{Workspace: w.ID(), User: u.ID(), Role: domain.RoleOwner, CreatedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	authz, err := casbinauthz.New(t.Context(), db, casbinauthz.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	// The bucket's times are the server's; the service's clock runs two
	// hours ahead of them.
	svc := media.NewService(media.Config{UoW: db, Authorizer: authz, Clock: ports.ClockFunc(func() time.Time { return now.Add(2 * time.Hour) }), Blobs: store})
	kept, err := svc.Upload(t.Context(), domain.NewUserPrincipal(u.ID(), false, "ses_x"), "site", media.Upload{Name: "kept.pdf", Body: strings.NewReader(pdf)})
	if err != nil {
		t.Fatal(err)
	}
	orphan := domain.NewMediaID(now)
	for _, k := range []string{domain.MediaKey(w.ID(), kept.ID(), 320), domain.MediaKey(w.ID(), orphan, 0), domain.MediaKey(w.ID(), orphan, 320)} {
		if _, err := store.Put(t.Context(), k, domain.MediaPDF, -1, strings.NewReader(pdf)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := svc.SweepOrphanFiles(t.Context(), 10*time.Hour); err != nil || n != 0 {
		t.Fatalf("sweep of young blobs = %d, %v; want none deleted", n, err)
	}
	if n, err := svc.SweepOrphanFiles(t.Context(), time.Hour); err != nil || n != 2 {
		t.Fatalf("sweep = %d, %v; want 2 deleted", n, err)
	}
	want := []string{domain.MediaKey(w.ID(), kept.ID(), 0), domain.MediaKey(w.ID(), kept.ID(), 320)}
	if got := keys(t, store); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("left = %v, want %v", got, want)
	}
}
