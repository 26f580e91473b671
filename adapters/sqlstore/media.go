package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// mediaStore implements ports.MediaStore.
type mediaStore struct{ *stores }

func (s *stores) Media() ports.MediaStore { return mediaStore{s} }

const mediaColumns = `id, workspace_id, name, content_type, size, width, height, alt, caption, focal_x, focal_y,
	blob_key, sha256, variants, actor_kind, actor_id, created_at, updated_at`

func scanMedia(sc scanner) (domain.Media, error) {
	var (
		r            domain.MediaRecord
		id, ws, vars string
		fx, fy       sql.NullFloat64
	)
	if err := sc.Scan(&id, &ws, &r.Name, &r.ContentType, &r.Size, &r.Width, &r.Height, &r.Alt, &r.Caption, &fx, &fy,
		&r.BlobKey, &r.SHA256, &vars, &r.ActorKind, &r.ActorID, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return domain.Media{}, err
	}
	r.ID, r.Workspace = domain.MediaID(id), domain.WorkspaceID(ws)
	if fx.Valid && fy.Valid {
		r.Focal = &domain.FocalPoint{X: fx.Float64, Y: fy.Float64}
	}
	for v := range strings.SplitSeq(vars, ",") {
		if w, err := strconv.Atoi(v); err == nil {
			r.Variants = append(r.Variants, w)
		}
	}
	return domain.RehydrateMedia(r), nil
}

func focalArgs(f *domain.FocalPoint) (sql.NullFloat64, sql.NullFloat64) {
	if f == nil {
		return sql.NullFloat64{}, sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: f.X, Valid: true}, sql.NullFloat64{Float64: f.Y, Valid: true}
}

func variantsText(ws []int) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = strconv.Itoa(w)
	}
	return strings.Join(s, ",")
}

func (s mediaStore) Add(ctx context.Context, m domain.Media) error {
	kind, actor := m.Actor()
	fx, fy := focalArgs(m.Focal())
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO media (`+mediaColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		m.ID().String(), m.Workspace().String(), m.Name(), m.ContentType(), m.Size(), m.Width(), m.Height(), m.Alt(), m.Caption(), fx, fy,
		m.BlobKey(), m.SHA256(), variantsText(m.Variants()), kind, actor, domain.Timestamp(m.CreatedAt()), domain.Timestamp(m.UpdatedAt()))
	if err != nil {
		return fmt.Errorf("add media %s: %w", m.ID(), err)
	}
	return nil
}

func (s mediaStore) Get(ctx context.Context, ws domain.WorkspaceID, id domain.MediaID) (domain.Media, error) {
	m, err := scanMedia(s.q.QueryRowContext(ctx, s.d.rebind(`SELECT `+mediaColumns+` FROM media WHERE workspace_id = ? AND id = ?`),
		ws.String(), id.String()))
	if isNoRows(err) {
		return domain.Media{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Media{}, fmt.Errorf("get media %s: %w", id, err)
	}
	return m, nil
}

// List pages by ID, which starts with the upload's time.
func (s mediaStore) List(ctx context.Context, ws domain.WorkspaceID, f ports.MediaFilter, p ports.Page) ([]domain.Media, string, error) {
	limit, err := pageOf(p, domain.PrefixMedia)
	if err != nil {
		return nil, "", err
	}
	cond, args := `workspace_id = ?`, []any{ws.String()}
	if f.Type != "" {
		if strings.HasSuffix(f.Type, "/") {
			cond, args = cond+` AND content_type LIKE ? ESCAPE '\'`, append(args, strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Type)+"%")
		} else {
			cond, args = cond+` AND content_type = ?`, append(args, f.Type)
		}
	}
	if f.Search != "" {
		cond, args = cond+` AND lower(name) LIKE ? ESCAPE '\'`, append(args, containsPattern(f.Search))
	}
	if p.After != "" {
		cond, args = cond+` AND id < ?`, append(args, p.After)
	}
	ms, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+mediaColumns+` FROM media WHERE `+cond+` ORDER BY id DESC LIMIT ?`),
		scanMedia, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list media of %s: %w", ws, err)
	}
	ms, next := cut(ms, limit, func(m domain.Media) string { return m.ID().String() })
	return ms, next, nil
}

func (s mediaStore) Update(ctx context.Context, m domain.Media) error {
	fx, fy := focalArgs(m.Focal())
	res, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE media SET alt = ?, caption = ?, focal_x = ?, focal_y = ?, variants = ?, updated_at = ?
		WHERE workspace_id = ? AND id = ?`),
		m.Alt(), m.Caption(), fx, fy, variantsText(m.Variants()), domain.Timestamp(m.UpdatedAt()), m.Workspace().String(), m.ID().String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("update media %s: %w", m.ID(), err)
	}
	return nil
}

// Delete clears the covers itself rather than trusting ON DELETE SET
// NULL, which SQLite applies only with foreign keys switched on.
func (s mediaStore) Delete(ctx context.Context, ws domain.WorkspaceID, id domain.MediaID) error {
	if _, err := s.q.ExecContext(ctx, s.d.rebind(`UPDATE entries SET cover_media_id = NULL WHERE workspace_id = ? AND cover_media_id = ?`),
		ws.String(), id.String()); err != nil {
		return fmt.Errorf("clear covers of media %s: %w", id, err)
	}
	res, err := s.q.ExecContext(ctx, s.d.rebind(`DELETE FROM media WHERE workspace_id = ? AND id = ?`), ws.String(), id.String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("delete media %s: %w", id, err)
	}
	return nil
}

func (s mediaStore) TotalSize(ctx context.Context, ws domain.WorkspaceID) (int64, error) {
	var n int64
	if err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT COALESCE(SUM(size), 0) FROM media WHERE workspace_id = ?`), ws.String()).Scan(&n); err != nil {
		return 0, fmt.Errorf("total size of media of %s: %w", ws, err)
	}
	return n, nil
}

// UsedByPublished looks for the ID in published bodies with LIKE: media
// IDs are 30 characters of an alphabet with no LIKE metacharacter but
// "_", escaped here, so a match is a reference.
func (s mediaStore) UsedByPublished(ctx context.Context, ws domain.WorkspaceID, id domain.MediaID) (bool, error) {
	var n int
	err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM entries WHERE workspace_id = ? AND status = 'published'
		AND (cover_media_id = ? OR body LIKE ? ESCAPE '\')`),
		ws.String(), id.String(), "%"+strings.ReplaceAll(id.String(), "_", `\_`)+"%").Scan(&n)
	if err != nil {
		return false, fmt.Errorf("uses of media %s: %w", id, err)
	}
	return n > 0, nil
}
