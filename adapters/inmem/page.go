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
