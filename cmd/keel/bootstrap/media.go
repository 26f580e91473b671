package bootstrap

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/adapters/mediaimage"
	"github.com/keelhq/keel/application/media"
	"github.com/keelhq/keel/cmd/keel/bootstrap/jobs"
	"github.com/keelhq/keel/ports"
)

// The media library's settings.
var (
	sMediaMaxFileSize      = setting{"media-max-file-size", "KEEL_MEDIA_MAX_FILE_SIZE", strconv.Itoa(media.DefaultMaxFileSize), "largest file the media library accepts, in bytes"}
	sMediaMaxWorkspaceSize = setting{"media-max-workspace-size", "KEEL_MEDIA_MAX_WORKSPACE_SIZE", strconv.Itoa(media.DefaultMaxWorkspaceSize), "largest sum of one workspace's media files, in bytes"}
)

// mediaConfig holds the media library's limits.
type mediaConfig struct {
	maxFileSize, maxWorkspaceSize int64
}

func loadMediaConfig(fs *pflag.FlagSet, getenv func(string) string) (mediaConfig, error) {
	var c mediaConfig
	for _, s := range []struct {
		setting setting
		dst     *int64
	}{{sMediaMaxFileSize, &c.maxFileSize}, {sMediaMaxWorkspaceSize, &c.maxWorkspaceSize}} {
		raw := value(fs, getenv, s.setting)
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return c, s.setting.errorf("want a positive number of bytes, got %q", raw)
		}
		*s.dst = n
	}
	return c, nil
}

// newMedia wires the media library on the blob store; publicChanged
// empties the public cache when a published entry's cover changes.
func newMedia(cfg mediaConfig, uow ports.UnitOfWork, authz ports.Authorizer, blobs ports.BlobStore, log *slog.Logger, publicChanged func()) *media.Service {
	return media.NewService(media.Config{
		UoW: uow, Authorizer: authz, Clock: ports.ClockFunc(time.Now), Blobs: blobs, Images: mediaimage.Processor{}, Log: log,
		MaxFileSize: cfg.maxFileSize, MaxWorkspaceSize: cfg.maxWorkspaceSize, PublicChanged: publicChanged,
	})
}

// mediaFileSweepJob is serve's job that deletes, at start and hourly, the
// media blobs no record holds (a crash between an upload's blob write and
// its record's commit, or a deletion whose blob deletes failed) once they
// are age old: KEEL_UPLOAD_SWEEP_AGE, which the submission file sweep
// uses too.
func mediaFileSweepJob(svc *media.Service, age time.Duration, log *slog.Logger) jobs.Job {
	return jobs.Job{Name: "media file sweep", Run: func(ctx context.Context) error {
		return jobs.Every(ctx, retentionEvery, true, func(ctx context.Context) {
			n, err := svc.SweepOrphanFiles(ctx, age)
			switch {
			case err != nil && ctx.Err() == nil:
				log.ErrorContext(ctx, "media file sweep failed", "err", err)
			case n > 0:
				log.InfoContext(ctx, "media file sweep deleted orphaned files", "count", n)
			}
		})
	}}
}
