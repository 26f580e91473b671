package inmem

import (
	"slices"
	"strings"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// paginate sorts items by key, ascending or, for newestFirst, descending,
// and returns the page after p.After and the cursor of the next page: the
// key of the page's last item, or "" when nothing follows. Cursors are
// keys made with prefix, which the caller checks before they reach a query
// in sqlstore; paginate checks them the same way.
func paginate[T any](items []T, key func(T) string, prefix string, p ports.Page, newestFirst bool) ([]T, string, error) {
	if p.After != "" && !domain.ValidID(prefix, p.After) {
		return nil, "", ports.ErrInvalidCursor
	}
	cmp := func(a, b T) int { return strings.Compare(key(a), key(b)) }
	if newestFirst {
		cmp = func(a, b T) int { return strings.Compare(key(b), key(a)) }
	}
	slices.SortFunc(items, cmp)
	out := make([]T, 0, len(items))
	for _, it := range items {
		k := key(it)
		if p.After == "" || (!newestFirst && k > p.After) || (newestFirst && k < p.After) {
			out = append(out, it)
		}
	}
	if limit := p.Size(); len(out) > limit {
		return out[:limit], key(out[limit-1]), nil
	}
	return out, "", nil
}

// fitBytes ends a page after the item that brings it to
// ports.MaxPageBytes, as sqlstore's listings of large rows do, and
// returns the cursor of what follows: cursor of that item, or next when
// the whole page fits.
func fitBytes[T any](page []T, next string, size func(T) int, cursor func(T) string) ([]T, string) {
	total := 0
	for i, it := range page {
		if total += size(it); total >= ports.MaxPageBytes && i < len(page)-1 {
			return page[:i+1], cursor(it)
		}
	}
	return page, next
}
