package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keelhq/keel/domain"
)

// cachedResponse is a rendered public response, kept with the validators
// it is served with.
type cachedResponse struct {
	body         []byte
	contentType  string
	etag         string    // strong: a hash of body
	lastModified time.Time // zero when the resource has no single date
	// site is the workspace the response belongs to, as it was when the
	// response was made, for its CORS decision; anyOrigin is that
	// decision when it is "any origin" (setSite sets both).
	site      domain.Workspace
	anyOrigin bool
	// transient responses are served but not kept: their key is one that
	// anyone can vary without end for the same answer.
	transient bool
	// nextKey is the key of the page a list's next_cursor leads to, or
	// empty: keeping this page vouches for that cursor (issued).
	nextKey string
	// linkHeader is a list's Link to its next page, or nil.
	linkHeader []string
	// The header values write sends, made once so that a cache hit
	// allocates none: every request's header map shares these
	// one-element slices, which nothing changes after this (Add would
	// append to a copy, their capacity being 1).
	contentTypeHeader, contentLengthHeader, etagHeader, lastModifiedHeader []string
}

func newCachedResponse(body []byte, contentType string, lastModified time.Time) *cachedResponse {
	sum := sha256.Sum256(body)
	r := &cachedResponse{
		body: body, contentType: contentType, lastModified: lastModified.UTC().Truncate(time.Second),
		etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`,
	}
	r.contentTypeHeader, r.etagHeader = []string{r.contentType}, []string{r.etag}
	if len(body) > 0 {
		r.contentLengthHeader = []string{strconv.Itoa(len(body))}
	}
	if !r.lastModified.IsZero() {
		r.lastModifiedHeader = []string{r.lastModified.Format(http.TimeFormat)}
	}
	return r
}

// setSite records the workspace r belongs to and its CORS decision.
func (r *cachedResponse) setSite(site domain.Workspace) {
	r.site, r.anyOrigin = site, allowsAnyOrigin(site)
}

// PublicCache keeps rendered responses of the public delivery API in
// memory, keyed by route and the parameters that select a response
// (cacheKey). Any change to public content anywhere
// empties it (Invalidate): changes are rare next to reads, and a precise
// invalidation would have to know every list, feed and sitemap an entry
// appears in.
//
// A response built from a read that started before an invalidation is
// not kept: each fill carries the generation it started in, and a fill
// from an older generation is dropped. Without that, a slow read racing a
// publish could put the old content back into the cache for good.
type PublicCache struct {
	gen     atomic.Uint64
	mu      sync.RWMutex
	entries map[string]*cachedResponse
	// cursors holds the nextKey of every list page kept since the last
	// invalidation. A store accepts any well-formed cursor, so a page
	// after a cursor is kept only when a kept page handed that cursor
	// out: forged cursors cannot fill the cache with pages of their own.
	cursors    map[string]struct{}
	bytes      int
	maxBytes   int
	maxEntries int
}

// NewPublicCache returns a cache holding at most maxBytes of bodies.
func NewPublicCache(maxBytes int) *PublicCache {
	return &PublicCache{entries: map[string]*cachedResponse{}, cursors: map[string]struct{}{}, maxBytes: maxBytes, maxEntries: 100_000}
}

// Invalidate forgets every response. It is safe to call from any
// goroutine, at any rate.
func (pc *PublicCache) Invalidate() {
	pc.gen.Add(1)
	pc.mu.Lock()
	clear(pc.entries)
	clear(pc.cursors)
	pc.bytes = 0
	pc.mu.Unlock()
}

// Len is the number of responses held.
func (pc *PublicCache) Len() int {
	pc.mu.RLock()
	defer pc.mu.RUnlock()
	return len(pc.entries)
}

func (pc *PublicCache) generation() uint64 { return pc.gen.Load() }

// issued reports whether a kept list page handed out the cursor of the
// page whose key this is.
func (pc *PublicCache) issued(key []byte) bool {
	pc.mu.RLock()
	_, ok := pc.cursors[string(key)]
	pc.mu.RUnlock()
	return ok
}

func (pc *PublicCache) get(key string) (*cachedResponse, bool) {
	pc.mu.RLock()
	r, ok := pc.entries[key]
	pc.mu.RUnlock()
	return r, ok
}

// lookup is get for a key held in bytes: indexing the map with
// string(key) copies nothing, so a cache hit builds no key string.
func (pc *PublicCache) lookup(key []byte) (*cachedResponse, bool) {
	pc.mu.RLock()
	r, ok := pc.entries[string(key)]
	pc.mu.RUnlock()
	return r, ok
}

// put keeps r under key unless the cache was invalidated since gen was
// read. When full, it evicts arbitrary entries (Go's map order) until r
// fits: a simple policy that keeps memory bounded.
func (pc *PublicCache) put(key string, r *cachedResponse, gen uint64) {
	size := len(r.body) + len(key)
	if size > pc.maxBytes/8 {
		return // one huge sitemap must not empty the cache
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.gen.Load() != gen {
		return
	}
	if old, ok := pc.entries[key]; ok {
		pc.bytes -= len(old.body) + len(key)
	}
	for k, v := range pc.entries {
		if pc.bytes+size <= pc.maxBytes && len(pc.entries) < pc.maxEntries {
			break
		}
		delete(pc.entries, k)
		pc.bytes -= len(v.body) + len(k)
	}
	pc.entries[key] = r
	pc.bytes += size
	if r.nextKey != "" && len(pc.cursors) < pc.maxEntries {
		pc.cursors[r.nextKey] = struct{}{}
	}
}

// etagMatches reports whether an If-None-Match header names etag. It
// compares weakly, as RFC 9110 says If-None-Match must: W/"x" matches "x".
func etagMatches(header, etag string) bool {
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || strings.TrimPrefix(part, "W/") == etag {
			return true
		}
	}
	return false
}
