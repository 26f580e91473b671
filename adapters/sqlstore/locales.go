package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// nullGroup is an entry's translation_group: NULL for its own.
func nullGroup(e domain.Entry) sql.NullString {
	g := e.StoredTranslationGroup()
	return sql.NullString{String: string(g), Valid: g != ""}
}

// localeCondition keeps, of a public listing, the entries without a
// locale and, of each translation group, the published entry whose
// locale comes first in chain. rank numbers a locale by its place in the
// chain; an entry is left out when another published entry of its group
// ranks before it. Its group's members are those whose translation_group
// names the group and the group's first entry itself, two index lookups.
func localeCondition(chain []domain.Locale) (string, []any) {
	var rank strings.Builder
	var rankArgs []any
	rank.WriteString(`CASE %s.locale`)
	for i, l := range chain {
		fmt.Fprintf(&rank, ` WHEN ? THEN %d`, i)
		rankArgs = append(rankArgs, l.String())
	}
	rank.WriteString(` ELSE 1000 END`)
	in := strings.TrimSuffix(strings.Repeat("?, ", len(chain)), ", ")
	cond := ` AND (e.locale = '' OR (e.locale IN (` + in + `) AND NOT EXISTS (
		SELECT 1 FROM entries o WHERE o.workspace_id = e.workspace_id AND o.kind = e.kind AND o.status = 'published'
			AND (o.translation_group = COALESCE(e.translation_group, e.id) OR o.id = COALESCE(e.translation_group, e.id))
			AND o.id <> e.id AND ` + fmt.Sprintf(rank.String(), "o") + ` < ` + fmt.Sprintf(rank.String(), "e") + `)))`
	args := make([]any, 0, 3*len(chain))
	for _, l := range chain {
		args = append(args, l.String())
	}
	args = append(args, rankArgs...)
	return cond, append(args, rankArgs...)
}

func (s entryStore) Translations(ctx context.Context, ws domain.WorkspaceID, group domain.EntryID) ([]domain.Entry, error) {
	es, err := queryAll(ctx, s.q, s.d.rebind(`SELECT `+entryColumns+` FROM entries e
		WHERE e.workspace_id = ? AND (e.translation_group = ? OR e.id = ?) ORDER BY e.locale, e.id LIMIT ?`),
		scanEntry, ws.String(), string(group), string(group), ports.MaxTranslations)
	if err != nil {
		return nil, fmt.Errorf("translations of %s: %w", group, err)
	}
	return es, nil
}

// siteLocaleStore implements ports.SiteLocaleStore.
type siteLocaleStore struct{ *stores }

func (s *stores) SiteLocales() ports.SiteLocaleStore { return siteLocaleStore{s} }

func (s siteLocaleStore) Get(ctx context.Context, ws domain.WorkspaceID) (domain.SiteLocales, error) {
	var (
		def, fallbacks string
		updatedAt      time.Time
	)
	err := s.q.QueryRowContext(ctx, s.d.rebind(`SELECT default_locale, fallbacks, updated_at FROM site_locales WHERE workspace_id = ?`), ws.String()).
		Scan(&def, &fallbacks, &updatedAt)
	if isNoRows(err) {
		return domain.DefaultSiteLocales(ws), nil
	}
	if err != nil {
		return domain.SiteLocales{}, fmt.Errorf("get locales of %s: %w", ws, err)
	}
	var fb map[domain.Locale][]domain.Locale
	if err := json.Unmarshal([]byte(fallbacks), &fb); err != nil {
		return domain.SiteLocales{}, fmt.Errorf("locales of %s: fallbacks: %w", ws, err)
	}
	return domain.RehydrateSiteLocales(ws, domain.Locale(def), fb, updatedAt), nil
}

// Put inserts or replaces the row in one statement; selecting from
// workspaces makes an unknown workspace change no row.
func (s siteLocaleStore) Put(ctx context.Context, l domain.SiteLocales) error {
	fb, err := json.Marshal(l.Fallbacks())
	if err != nil {
		return fmt.Errorf("put locales of %s: %w", l.Workspace(), err)
	}
	res, err := s.q.ExecContext(ctx, s.d.rebind(`INSERT INTO site_locales (workspace_id, default_locale, fallbacks, updated_at)
		SELECT id, ?, ?, ? FROM workspaces WHERE id = ?
		ON CONFLICT (workspace_id) DO UPDATE SET default_locale = excluded.default_locale, fallbacks = excluded.fallbacks,
			updated_at = excluded.updated_at`),
		l.Default().String(), string(fb), domain.Timestamp(l.UpdatedAt()), l.Workspace().String())
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		if domain.KindOf(err) == domain.KindNotFound {
			return domain.ErrNotFound
		}
		return fmt.Errorf("put locales of %s: %w", l.Workspace(), err)
	}
	return nil
}
