package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keelhq/keel/adapters/backuparchive"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// A backup copies the blobs that the rows of its snapshot name, and no
// others. Keel writes a blob before the row that names it commits and
// deletes it only after that row's delete commits, so every blob a
// snapshot's row names existed when the snapshot began; the copy comes
// after the snapshot, and a blob whose row was deleted meanwhile may be
// gone by then: it is listed as missing, with a warning, and the restore
// brings back its row without it, as if the delete had stopped half-way.
// A blob no row names (an upload whose submission did not commit, a
// variant being made, the scheduled backups under backups/, a Put's
// temporary file) is not needed by any state the snapshot holds and is
// left out. Outbox messages' attachments name submissions' files, which
// their submissions name too; a message whose submission was erased names
// files erased with it, which the dispatcher leaves out, so they are not
// looked for.

// blobRefs reads, from one JSON line of a table's dump, the keys of the
// blobs its row names, for the tables whose rows name blobs.
var blobRefs = map[string]func(line []byte, add func(key string)) error{
	// A media file's original is at blob_key, and each width its
	// variants column lists beside it (domain.MediaKey).
	"media": func(line []byte, add func(string)) error {
		var row struct {
			ID        string `json:"id"`
			Workspace string `json:"workspace_id"`
			BlobKey   string `json:"blob_key"`
			Variants  string `json:"variants"`
		}
		if err := json.Unmarshal(line, &row); err != nil {
			return err
		}
		add(row.BlobKey)
		for v := range strings.SplitSeq(row.Variants, ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			w, err := strconv.Atoi(v)
			if err != nil || w <= 0 {
				return fmt.Errorf("media %s: variant %q is not a width", row.ID, v)
			}
			add(domain.MediaKey(domain.WorkspaceID(row.Workspace), domain.MediaID(row.ID), w))
		}
		return nil
	},
	// A submission's files are in its field_values, a JSON array whose
	// values list their files with their keys.
	"submissions": func(line []byte, add func(string)) error {
		var row struct {
			Values string `json:"field_values"`
		}
		if err := json.Unmarshal(line, &row); err != nil {
			return err
		}
		if !strings.Contains(row.Values, `"files"`) {
			return nil
		}
		var values []struct {
			Files []struct {
				Key string `json:"key"`
			} `json:"files"`
		}
		if err := json.Unmarshal([]byte(row.Values), &values); err != nil {
			return err
		}
		for _, v := range values {
			for _, f := range v.Files {
				add(f.Key)
			}
		}
		return nil
	},
}

// refScanner passes a table's dump on to w and hands each whole line to
// line, keeping no more than the line being written.
type refScanner struct {
	w       io.Writer
	partial []byte
	line    func([]byte) error
	err     error
}

func (s *refScanner) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		return n, err
	}
	rest := p[:n]
	for s.err == nil {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			s.partial = append(s.partial, rest...)
			break
		}
		if len(s.partial) > 0 {
			s.partial = append(s.partial, rest[:i]...)
			s.err = s.line(s.partial)
			s.partial = s.partial[:0]
		} else {
			s.err = s.line(rest[:i])
		}
		rest = rest[i+1:]
	}
	return n, s.err
}

// blobRefSet gathers the keys a snapshot's rows name.
type blobRefSet map[string]struct{}

func (s blobRefSet) add(key string) {
	if key != "" {
		s[key] = struct{}{}
	}
}

// scan wraps dump, the dump of table name, so that the keys its rows name
// are added to s as it streams; tables that name none pass unchanged.
func (s blobRefSet) scan(name string, dump func(io.Writer) (int64, error)) func(io.Writer) (int64, error) {
	refs := blobRefs[name]
	if refs == nil {
		return dump
	}
	return func(w io.Writer) (int64, error) {
		sc := &refScanner{w: w, line: func(line []byte) error {
			if err := refs(line, s.add); err != nil {
				return fmt.Errorf("read the blob keys of a row of %s: %w", name, err)
			}
			return nil
		}}
		n, err := dump(sc)
		if err == nil && len(sc.partial) > 0 {
			err = fmt.Errorf("%s's dump ends inside a row", name)
		}
		return n, err
	}
}

// copyBlobs copies the blobs keys names from store into w, in key order,
// each streamed, and returns the keys of those the store no longer holds
// (all of them when there is no store).
// Any other failure fails the backup.
func copyBlobs(ctx context.Context, store ports.BlobStore, w *backuparchive.Writer, keys blobRefSet, bar *progress) (missing []string, err error) {
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, key := range sorted {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if store == nil {
			missing = append(missing, key)
			continue
		}
		rc, info, err := store.Get(ctx, key, 0, -1)
		if domain.KindOf(err) == domain.KindNotFound || errors.Is(err, ports.ErrBlobKey) {
			missing = append(missing, key)
			bar.add(1)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read blob %s: %w", key, err)
		}
		err = w.AddBlob(key, info.ContentType, info.Size, rc)
		_ = rc.Close()
		if err != nil {
			return nil, err
		}
		bar.add(1)
	}
	return missing, nil
}

// warnMissingBlobs says on stderr which blobs a backup lacks.
func warnMissingBlobs(stderr io.Writer, missing []string) {
	if len(missing) == 0 {
		return
	}
	shown := missing
	if len(shown) > 10 {
		shown = shown[:10]
	}
	fmt.Fprintf(stderr, "warning: %d blobs the backed-up rows name were gone when they were copied (their rows were deleted after the snapshot began): %s%s; the archive lists them as missing\n",
		len(missing), strings.Join(shown, ", "), map[bool]string{true: ", …", false: ""}[len(missing) > len(shown)])
}

// openCommandBlobStore opens the blob store a command's settings name.
func openCommandBlobStore(cmd *cobra.Command, getenv func(string) string) (ports.BlobStore, string, error) {
	sc, err := loadStoreConfig(cmd.Flags(), getenv)
	if err != nil {
		return nil, "", err
	}
	bc, err := loadBlobConfig(cmd.Flags(), getenv, sc.dataDir)
	if err != nil {
		return nil, "", err
	}
	store, err := openBlobStore(cmd.Context(), bc)
	if err != nil {
		return nil, "", err
	}
	return store, bc.describe(), nil
}

// blobStoreHolds says whether store holds any blob outside the scheduled
// backups, which a restore neither writes nor counts.
func blobStoreHolds(ctx context.Context, store ports.BlobStore) (bool, error) {
	for after := ""; ; {
		blobs, next, err := store.List(ctx, "", after, 100)
		if err != nil {
			return false, fmt.Errorf("list the blob store: %w", err)
		}
		for _, b := range blobs {
			if !strings.HasPrefix(b.Key, backupBlobPrefix) {
				return true, nil
			}
		}
		if next == "" {
			return false, nil
		}
		after = next
	}
}

// restoreBlobs writes every blob of r into store, each checked as it
// streams: the archive was verified before, so a mismatch now means it
// changed since, and fails the restore.
func restoreBlobs(ctx context.Context, store ports.BlobStore, r *backuparchive.Reader, bar *progress) error {
	for _, b := range r.Manifest.Blobs {
		var put bool
		err := r.Blob(b.Key, func(in io.Reader) error {
			_, err := store.Put(ctx, b.Key, b.ContentType, b.Bytes, in)
			put = err == nil
			return err
		})
		if err != nil {
			if put {
				// Its bytes were stored but did not match: they go.
				_ = store.Delete(context.WithoutCancel(ctx), b.Key)
			}
			return fmt.Errorf("restore blob %s: %w", b.Key, err)
		}
		bar.add(1)
	}
	return nil
}
