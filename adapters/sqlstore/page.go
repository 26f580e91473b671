package sqlstore

import (
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// Page sizes: a zero Limit means the default, and no page is larger than
// the maximum, whatever the caller asks for.
const (
	defaultLimit = 50
	maxLimit     = 200
)

// errInvalidCursor rejects an After that no listing could have returned.
var errInvalidCursor = domain.Invalid(domain.FieldError{
	Field: "after", Code: "invalid_cursor", Message: "The cursor is not valid; start again from the first page.",
})

// pageOf checks p's cursor, which is the ID (made with prefix) of the last
// item of the previous page, and returns its clamped limit.
func pageOf(p ports.Page, prefix string) (int, error) {
	if p.After != "" && !domain.ValidID(prefix, p.After) {
		return 0, errInvalidCursor
	}
	switch {
	case p.Limit == 0:
		return defaultLimit, nil
	case p.Limit < 1:
		return 1, nil
	case p.Limit > maxLimit:
		return maxLimit, nil
	}
	return p.Limit, nil
}

// cut trims items, fetched with LIMIT limit+1, to limit and returns the
// next page's cursor: the last item's ID, or "" when no row follows.
func cut[T any](items []T, limit int, id func(T) string) ([]T, string) {
	if len(items) > limit {
		return items[:limit], id(items[limit-1])
	}
	return items, ""
}
