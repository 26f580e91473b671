package sqlstore

import (
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// pageOf checks p's cursor, which is the ID (made with prefix) of the last
// item of the previous page, and returns its clamped limit.
func pageOf(p ports.Page, prefix string) (int, error) {
	if p.After != "" && !domain.ValidID(prefix, p.After) {
		return 0, ports.ErrInvalidCursor
	}
	return p.Size(), nil
}

// cut trims items, fetched with LIMIT limit+1, to limit and returns the
// next page's cursor: the last item's ID, or "" when no row follows.
func cut[T any](items []T, limit int, id func(T) string) ([]T, string) {
	if len(items) > limit {
		return items[:limit], id(items[limit-1])
	}
	return items, ""
}
