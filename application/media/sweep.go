package media

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/keelhq/keel/application/usecase"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// mediaKeyPrefix holds every media file's original and variants in the
// blob store, under media/<workspace>/<media>/ (domain.MediaKey).
const mediaKeyPrefix = "media/"

// sweepBatch is how many blobs the sweep lists, looks up and deletes at a
// time: small, so that one read transaction stays short and a store with
// many files is never listed into memory at once.
const sweepBatch = 100

// parseMediaKey splits a key domain.MediaKey made; ok is false for any
// other key, which the sweep leaves alone.
func parseMediaKey(key string) (ws domain.WorkspaceID, id domain.MediaID, ok bool) {
	parts := strings.Split(strings.TrimPrefix(key, mediaKeyPrefix), "/")
	if !strings.HasPrefix(key, mediaKeyPrefix) || len(parts) != 3 ||
		!domain.ValidID(domain.PrefixWorkspace, parts[0]) || !domain.ValidID(domain.PrefixMedia, parts[1]) ||
		(parts[2] != "original" && !strings.HasPrefix(parts[2], "w")) {
		return "", "", false
	}
	return domain.WorkspaceID(parts[0]), domain.MediaID(parts[1]), true
}

// SweepOrphanFiles deletes the media blobs, originals and variants, older
// than olderThan whose media record does not exist: a crash (kill -9,
// power loss) between an upload's blob write and its record's commit
// leaves an original, and a deletion whose blob deletes failed after the
// record went leaves the rest. It lists, checks and deletes sweepBatch
// blobs at a time and returns how many it deleted. A blob younger than
// olderThan is an upload that may still commit, and stays. serve runs it
// with the submission file sweep, at start and hourly.
func (s *Service) SweepOrphanFiles(ctx context.Context, olderThan time.Duration) (deleted int, err error) {
	ctx, end := usecase.Start(ctx, "media.SweepOrphanFiles")
	defer end(&err)
	if s.blobs == nil {
		return 0, nil
	}
	cutoff := s.clock.Now().Add(-olderThan)
	after := ""
	for {
		blobs, next, err := s.blobs.List(ctx, mediaKeyPrefix, after, sweepBatch)
		if err != nil {
			return deleted, err
		}
		type ref struct {
			ws domain.WorkspaceID
			id domain.MediaID
		}
		held := map[ref]bool{}
		var old []ports.BlobInfo
		for _, b := range blobs {
			ws, id, ok := parseMediaKey(b.Key)
			if ok && b.ModTime.Before(cutoff) {
				held[ref{ws, id}] = false
				old = append(old, b)
			}
		}
		if len(held) > 0 {
			// One short read for the batch's records.
			err := s.uow.ReadOnly(ctx, func(ctx context.Context, st ports.Stores) error {
				for r := range held {
					switch _, err := st.Media().Get(ctx, r.ws, r.id); {
					case err == nil:
						held[r] = true
					case !errors.Is(err, domain.ErrNotFound):
						return err
					}
				}
				return nil
			})
			if err != nil {
				return deleted, err
			}
		}
		for _, b := range old {
			ws, id, _ := parseMediaKey(b.Key)
			if held[ref{ws, id}] {
				continue
			}
			if err := s.blobs.Delete(ctx, b.Key); err != nil {
				return deleted, err
			}
			deleted++
		}
		if next == "" {
			return deleted, nil
		}
		after = next
	}
}
