package bootstrap

import (
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

var sMemoryLimit = setting{"memory-limit", "KEEL_MEMORY_LIMIT", "64MiB",
	"soft limit of the Go runtime's memory (a number of bytes with B, KiB, MiB or GiB; off for none); GOMEMLIMIT in the environment wins"}

// loadMemoryLimit reads the memory limit in bytes; 0 means none.
func loadMemoryLimit(fs *pflag.FlagSet, getenv func(string) string) (int64, error) {
	raw := value(fs, getenv, sMemoryLimit)
	if raw == "off" {
		return 0, nil
	}
	n, ok := parseByteSize(raw)
	// Below 8 MiB the collector would run all the time for Keel's live
	// heap alone; such a value is a typo.
	if !ok || n < 8<<20 {
		return 0, sMemoryLimit.errorf("want a size of at least 8MiB such as 64MiB, or off, got %q", raw)
	}
	return n, nil
}

var sSearchMmap = setting{"sqlite-search-mmap", "KEEL_SQLITE_SEARCH_MMAP", "512MiB",
	"SQLite only: how much of the database each search connection maps into memory (B, KiB, MiB or GiB; off for none: less resident memory, a third more CPU per search)"}

// loadSearchMmap reads the memory map of SQLite's search connections in
// bytes (sqlstore.WithSearchMmapSize); 0 means none.
func loadSearchMmap(fs *pflag.FlagSet, getenv func(string) string) (int64, error) {
	raw := value(fs, getenv, sSearchMmap)
	if raw == "off" {
		return 0, nil
	}
	n, ok := parseByteSize(raw)
	if !ok {
		return 0, sSearchMmap.errorf("want a size such as 512MiB, or off, got %q", raw)
	}
	return n, nil
}

// parseByteSize reads a size as GOMEMLIMIT writes it: a whole number with
// an optional unit B, KiB, MiB, GiB or TiB.
func parseByteSize(s string) (int64, bool) {
	shift := 0
	for _, u := range []struct {
		suffix string
		shift  int
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"B", 0}} {
		if strings.HasSuffix(s, u.suffix) {
			s, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, false
	}
	return n << shift, true
}

// applyMemoryLimit sets the Go runtime's soft memory limit, unless
// GOMEMLIMIT is set. With GOGC=400 (serve) the heap may grow to five times
// its live size between collections; near the limit the collector runs
// earlier instead, so the heap stays below it while the live heap is
// small, and grows past it (the limit is soft) when the live heap itself
// needs more. The default, 64 MiB, binds only once the live heap passes
// about 13 MB: 32 MiB kept the anonymous memory of a mixed load at 41 MB
// but cost 12 to 15% more CPU per cached read, as the collector ran more
// often. The limit counts only Go's memory: SQLite's page caches,
// allocated outside Go's heap, and its memory map of the database come on
// top (BENCHMARKS.md, "Issue 14: resident memory").
func applyMemoryLimit(limit int64, getenv func(string) string) {
	if limit > 0 && getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}
