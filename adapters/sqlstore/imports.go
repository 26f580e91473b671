package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// importStore implements ports.ImportStore over entry_sources.
type importStore struct{ *stores }

func (s *stores) Imports() ports.ImportStore { return importStore{s} }

func (s importStore) Imported(ctx context.Context, ws domain.WorkspaceID, sources []string) (map[string]domain.EntryID, error) {
	out := make(map[string]domain.EntryID, len(sources))
	if len(sources) == 0 {
		return out, nil
	}
	if len(sources) > ports.MaxPageLimit {
		return nil, fmt.Errorf("imported sources of %s: %d sources, more than %d", ws, len(sources), ports.MaxPageLimit)
	}
	args := []any{ws.String()}
	for _, src := range sources {
		args = append(args, src)
	}
	type pair struct{ source, entry string }
	rows, err := queryAll(ctx, s.q, s.d.rebind(`SELECT source, entry_id FROM entry_sources WHERE workspace_id = ? AND source IN (?`+
		strings.Repeat(`, ?`, len(sources)-1)+`)`), func(sc scanner) (pair, error) {
		var p pair
		err := sc.Scan(&p.source, &p.entry)
		return p, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("imported sources of %s: %w", ws, err)
	}
	for _, p := range rows {
		out[p.source] = domain.EntryID(p.entry)
	}
	return out, nil
}

func (s importStore) Add(ctx context.Context, ws domain.WorkspaceID, source string, id domain.EntryID, now time.Time) error {
	_, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO entry_sources (workspace_id, source, entry_id, created_at) VALUES (?, ?, ?, ?)`),
		ws.String(), source, string(id), domain.Timestamp(now))
	if s.d.uniqueViolation(err) {
		return domain.ErrImportedTwice
	}
	if err != nil {
		return fmt.Errorf("record the source of %s: %w", id, err)
	}
	return nil
}

func (s importStore) SlugsTaken(ctx context.Context, ws domain.WorkspaceID, kind domain.EntryKind, slugs []string) (map[string]bool, error) {
	out := make(map[string]bool, len(slugs))
	if len(slugs) == 0 {
		return out, nil
	}
	if len(slugs) > ports.MaxPageLimit {
		return nil, fmt.Errorf("slugs of %s: %d slugs, more than %d", ws, len(slugs), ports.MaxPageLimit)
	}
	args := []any{ws.String(), kind.String()}
	for _, slug := range slugs {
		args = append(args, slug)
	}
	taken, err := queryAll(ctx, s.q, s.d.rebind(`SELECT slug FROM entries WHERE workspace_id = ? AND kind = ? AND slug IN (?`+
		strings.Repeat(`, ?`, len(slugs)-1)+`)`), func(sc scanner) (string, error) {
		var slug string
		err := sc.Scan(&slug)
		return slug, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("slugs of %s: %w", ws, err)
	}
	for _, slug := range taken {
		out[slug] = true
	}
	return out, nil
}
