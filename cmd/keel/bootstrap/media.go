package bootstrap

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/adapters/mediaimage"
	"github.com/keelhq/keel/application/media"
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
