package sqlstore

import (
	"strconv"
	"time"

	"github.com/keelhq/keel/adapters/internal/cursor"
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

// sized is a listing candidate: its key (an ID, or a version) and the
// bytes of its large columns, read with octet_length, which takes the
// length from SQLite's record header and from PostgreSQL's TOAST pointer
// without reading the value.
type sized struct {
	key  string
	size int64
}

func scanSized(sc scanner) (c sized, err error) { return c, sc.Scan(&c.key, &c.size) }

// fitPage returns how many of cands, fetched with LIMIT limit+1, a page
// takes: at most limit, at least one when there is one, and none after
// the one that brings the page to ports.MaxPageBytes. Listings whose rows
// visitors or editors make large read such sizes first and then only the
// rows that fit: fetching limit+1 whole rows and stopping early would
// still make the engine produce them all, and pgx read them off the wire.
func fitPage(cands []sized, limit int) int {
	n, size := 0, int64(0)
	for n < len(cands) && n < limit && (n == 0 || size < ports.MaxPageBytes) {
		size += cands[n].size
		n++
	}
	return n
}

// Cursors of listings that are not ordered by ID alone. They are opaque
// to clients (base64 of a tagged text) and checked strictly when they
// come back: anything a listing could not have returned is
// ports.ErrInvalidCursor, never a query error.
const (
	cursorOffset    = "o" // a search's rank: the number of entries already returned
	cursorPublished = "p" // a public listing's last entry: published_at in µs, then its ID
	cursorVersion   = "v" // a revision listing's last version
	cursorNav       = "n" // a public list of pages' last page: nav_order, then its slug
)

// maxOffset bounds a search cursor far beyond any page a person reads.
const maxOffset = 1 << 20

func offsetCursor(n int) string { return cursor.Encode(cursorOffset, strconv.Itoa(n)) }

// offsetOf reads a search cursor; "" is the first page.
func offsetOf(after string) (int, error) {
	if after == "" {
		return 0, nil
	}
	f, ok := cursor.Decode(after, cursorOffset, 1)
	if !ok {
		return 0, ports.ErrInvalidCursor
	}
	n, ok := cursor.Natural(f[0], maxOffset)
	if !ok {
		return 0, ports.ErrInvalidCursor
	}
	return n, nil
}

func publishedCursor(e domain.Entry) string {
	var at int64
	if t := e.PublishedAt(); t != nil {
		at = t.UnixMicro()
	}
	return cursor.Encode(cursorPublished, strconv.FormatInt(at, 10), string(e.ID()))
}

func parsePublishedCursor(s string) (time.Time, string, error) {
	f, ok := cursor.Decode(s, cursorPublished, 2)
	if !ok {
		return time.Time{}, "", ports.ErrInvalidCursor
	}
	us, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || us < 0 || strconv.FormatInt(us, 10) != f[0] || !domain.ValidID(domain.PrefixEntry, f[1]) {
		return time.Time{}, "", ports.ErrInvalidCursor
	}
	return time.UnixMicro(us).UTC(), f[1], nil
}

func navCursor(e domain.Entry) string {
	return cursor.Encode(cursorNav, strconv.Itoa(e.NavOrder()), e.Slug())
}

func parseNavCursor(s string) (int, string, error) {
	f, ok := cursor.Decode(s, cursorNav, 2)
	if !ok {
		return 0, "", ports.ErrInvalidCursor
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || strconv.Itoa(n) != f[0] || n < -domain.MaxNavOrder || n > domain.MaxNavOrder || f[1] == "" {
		return 0, "", ports.ErrInvalidCursor
	}
	return n, f[1], nil
}

func versionCursor(v int) string { return cursor.Encode(cursorVersion, strconv.Itoa(v)) }

func parseVersionCursor(s string) (int, error) {
	f, ok := cursor.Decode(s, cursorVersion, 1)
	if !ok {
		return 0, ports.ErrInvalidCursor
	}
	v, ok := cursor.Natural(f[0], 1<<31-1)
	if !ok || v < 1 {
		return 0, ports.ErrInvalidCursor
	}
	return v, nil
}
