package bootstrap

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/adapters/blobs3"
	"github.com/keelhq/keel/cmd/keel/bootstrap/jobs"
	"github.com/keelhq/keel/ports"
)

var sBlobURL = setting{"blob-url", "KEEL_BLOB_URL", "", "where files (media, uploads) are stored: s3://bucket/prefix?endpoint=…&region=… (credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), or file://DIR (default: blobs in the data directory)"}

// blobCheckTimeout bounds serve's check of the S3 bucket at start.
const blobCheckTimeout = 15 * time.Second

// blobConfig says which blob store serve opens: a directory, or an S3
// bucket when s3 is set.
type blobConfig struct {
	dir string // the filesystem store's root
	s3  *blobs3.Config
}

// describe names the store for the start-up log, without credentials
// (the URL holds none: they come from the AWS variables).
func (c blobConfig) describe() string {
	if c.s3 != nil {
		d := "s3://" + c.s3.Bucket + "/" + c.s3.Prefix
		if c.s3.Endpoint != "" {
			d += " at " + c.s3.Endpoint
		}
		return d
	}
	return c.dir
}

// loadBlobConfig reads KEEL_BLOB_URL: unset is blobs/ in the data
// directory, file://DIR (or file:DIR) a directory of its own, s3://… a
// bucket. Every mistake that can be seen without connecting is an error
// here, naming the setting.
func loadBlobConfig(fs *pflag.FlagSet, getenv func(string) string, dataDir string) (blobConfig, error) {
	raw := strings.TrimSpace(value(fs, getenv, sBlobURL))
	scheme, rest, _ := strings.Cut(raw, ":")
	switch {
	case raw == "":
		return blobConfig{dir: filepath.Join(dataDir, "blobs")}, nil
	case scheme == "file":
		dir := strings.TrimPrefix(rest, "//")
		if dir == "" {
			return blobConfig{}, sBlobURL.errorf("file: names no directory (want file:///var/lib/keel/blobs)")
		}
		return blobConfig{dir: dir}, nil
	case scheme == "s3":
		c, err := blobs3.ParseURL(raw)
		if err != nil {
			return blobConfig{}, sBlobURL.errorf("%v", err)
		}
		// The standard AWS variables, read here like every setting.
		c.AccessKeyID, c.SecretAccessKey, c.SessionToken = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")
		if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
			return blobConfig{}, sBlobURL.errorf("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither for a public bucket")
		}
		return blobConfig{s3: &c}, nil
	}
	return blobConfig{}, sBlobURL.errorf("want s3://bucket/prefix?endpoint=…&region=… or file://DIR")
}

// openBlobStore opens the configured store. An S3 bucket is checked at
// once, so that a wrong bucket, endpoint or credentials stop serve at
// start with one line, rather than fail the first upload hours later.
func openBlobStore(ctx context.Context, c blobConfig) (ports.BlobStore, error) {
	if c.s3 == nil {
		s, err := blobfs.New(c.dir)
		if err != nil {
			return nil, sBlobURL.errorf("%v", err)
		}
		return s, nil
	}
	s, err := blobs3.New(*c.s3)
	if err != nil {
		return nil, sBlobURL.errorf("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, blobCheckTimeout)
	defer cancel()
	if err := s.Check(ctx); err != nil {
		return nil, sBlobURL.errorf("%v", err)
	}
	return s, nil
}

// blobSweepAge is how long a temporary file of the directory store must
// have gone unwritten before the sweep deletes it: a Put writes its file
// all along, so only a crash leaves one that old.
const blobSweepAge = time.Hour

// blobSweepJob is serve's job that deletes the temporary files a crash in
// the middle of a Put left in the directory store, at start and hourly;
// ok is false for a store that leaves none (S3 discards an unfinished
// upload itself).
func blobSweepJob(store ports.BlobStore, log *slog.Logger) (_ jobs.Job, ok bool) {
	dirStore, ok := store.(*blobfs.Store)
	if !ok {
		return jobs.Job{}, false
	}
	return jobs.Job{Name: "blob sweep", Run: func(ctx context.Context) error {
		return jobs.Every(ctx, retentionEvery, true, func(ctx context.Context) {
			n, err := dirStore.Sweep(ctx, blobSweepAge, time.Now())
			switch {
			case err != nil && ctx.Err() == nil:
				log.ErrorContext(ctx, "blob sweep failed", "dir", dirStore.Root(), "err", err)
			case n > 0:
				log.InfoContext(ctx, "blob sweep deleted unfinished files", "count", n, "dir", dirStore.Root())
			}
		})
	}}, true
}
