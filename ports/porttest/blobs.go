package porttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// BlobHarness is one BlobStore under test, empty, and what the suite may
// expect of its backend.
type BlobHarness struct {
	Store ports.BlobStore
	// SignsURLs says the backend has signed URLs (S3); the suite then
	// fetches one over HTTP. Otherwise SignedURL must answer
	// ports.ErrBlobSignedURLUnsupported.
	SignsURLs bool
}

// LargeBlobBytes is the size of the blob the suite streams through Put and
// Get to show that memory stays flat.
const LargeBlobBytes = 64 << 20

// maxLargeBlobAlloc bounds what Put and Get of the large blob may allocate,
// all of it counted, freed or not: a store that held the blob in memory
// would allocate it whole, at least once.
const maxLargeBlobAlloc = LargeBlobBytes / 2

// BlobStore checks a ports.BlobStore: round trips, ranges, overwrites,
// deletes, listing by prefix with pages, strict keys, size checks, a large
// blob streamed in flat memory, signed URLs and cancellation. open returns
// an empty store per case. The large blob's case runs first and alone, as
// it measures the process's allocations; the others run in parallel, so
// call BlobStore from a test that is not itself parallel.
func BlobStore(t *testing.T, open func(t *testing.T) BlobHarness) {
	t.Run("LargeBlobStreamsInFlatMemory", func(t *testing.T) {
		h := open(t)
		ctx := t.Context()
		want := sha256.New()
		if _, err := io.Copy(want, newPattern(LargeBlobBytes)); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		info, err := h.Store.Put(ctx, "large/blob.bin", "application/octet-stream", LargeBlobBytes, newPattern(LargeBlobBytes))
		if err != nil {
			t.Fatalf("Put of %d bytes: %v", LargeBlobBytes, err)
		}
		if info.Size != LargeBlobBytes {
			t.Errorf("Put's Size = %d, want %d", info.Size, LargeBlobBytes)
		}
		rc, _, err := h.Store.Get(ctx, "large/blob.bin", 0, -1)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		got := sha256.New()
		n, err := io.Copy(got, rc)
		_ = rc.Close()
		if err != nil {
			t.Fatalf("read the large blob: %v", err)
		}
		runtime.ReadMemStats(&after)
		if n != LargeBlobBytes || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatalf("read back %d bytes that differ from the %d written", n, LargeBlobBytes)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("Put and Get of %d MiB allocated %.1f MiB in all", LargeBlobBytes>>20, float64(alloc)/(1<<20))
		if alloc > maxLargeBlobAlloc {
			t.Errorf("Put and Get of %d MiB allocated %d MiB, want at most %d MiB: the blob is not streamed",
				LargeBlobBytes>>20, alloc>>20, maxLargeBlobAlloc>>20)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		ctx := t.Context()
		body := []byte("<svg xmlns=\"http://www.w3.org/2000/svg\"/>")
		info, err := h.Store.Put(ctx, "ws_1/media/abc/original", "image/svg+xml", int64(len(body)), bytes.NewReader(body))
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if info.Key != "ws_1/media/abc/original" || info.Size != int64(len(body)) || info.ContentType != "image/svg+xml" {
			t.Errorf("Put = %+v", info)
		}
		got, gi := get(t, h.Store, "ws_1/media/abc/original", 0, -1)
		if !bytes.Equal(got, body) {
			t.Errorf("Get = %q, want %q", got, body)
		}
		st, err := h.Store.Stat(ctx, "ws_1/media/abc/original")
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		for name, i := range map[string]ports.BlobInfo{"Get": gi, "Stat": st} {
			if i.Key != info.Key || i.Size != info.Size || i.ContentType != info.ContentType {
				t.Errorf("%s's info = %+v, want %+v", name, i, info)
			}
			if d := time.Until(i.ModTime); d > time.Minute || d < -time.Minute {
				t.Errorf("%s's ModTime = %v, not about now", name, i.ModTime)
			}
		}
		// Empty blobs and blobs without a content type are blobs too.
		if _, err := h.Store.Put(ctx, "empty", "", 0, strings.NewReader("")); err != nil {
			t.Fatalf("Put of an empty blob: %v", err)
		}
		got, gi = get(t, h.Store, "empty", 0, -1)
		if len(got) != 0 || gi.Size != 0 || gi.ContentType != ports.DefaultBlobContentType {
			t.Errorf("empty blob: %q, %+v", got, gi)
		}
		// A reader of unknown size.
		big := bytes.Repeat([]byte("0123456789abcdef"), 10_000)
		if info, err := h.Store.Put(ctx, "unknown-size", "text/plain", -1, io.MultiReader(bytes.NewReader(big))); err != nil || info.Size != int64(len(big)) {
			t.Fatalf("Put of unknown size = %+v, %v", info, err)
		}
		if got, _ := get(t, h.Store, "unknown-size", 0, -1); !bytes.Equal(got, big) {
			t.Errorf("blob of unknown size read back as %d bytes, want %d", len(got), len(big))
		}
	})

	t.Run("Ranges", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		put(t, h.Store, "range", "text/plain", "0123456789")
		for _, c := range []struct {
			offset, length int64
			want           string
		}{
			{0, -1, "0123456789"},
			{2, 3, "234"},
			{0, 1, "0"},
			{9, -1, "9"},
			{8, 10, "89"}, // a length past the end stops at the end
			{10, -1, ""},  // the end itself is an empty range
			{3, 0, ""},
		} {
			got, info := get(t, h.Store, "range", c.offset, c.length)
			if string(got) != c.want {
				t.Errorf("Get(%d, %d) = %q, want %q", c.offset, c.length, got, c.want)
			}
			if info.Size != 10 {
				t.Errorf("Get(%d, %d)'s Size = %d, want the whole blob's 10", c.offset, c.length, info.Size)
			}
		}
		if _, _, err := h.Store.Get(t.Context(), "range", 11, -1); !errors.Is(err, ports.ErrBlobRange) {
			t.Errorf("Get past the end: err = %v, want ErrBlobRange", err)
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		put(t, h.Store, "doc", "text/plain", "first version, the longer one")
		put(t, h.Store, "doc", "text/markdown", "second")
		got, info := get(t, h.Store, "doc", 0, -1)
		if string(got) != "second" || info.Size != 6 || info.ContentType != "text/markdown" {
			t.Errorf("after overwrite: %q, %+v", got, info)
		}
	})

	t.Run("SizeMismatchStoresNothing", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		ctx := t.Context()
		put(t, h.Store, "kept", "text/plain", "old")
		for _, c := range []struct {
			name string
			size int64
			body string
		}{
			{"short", 10, "12345"},
			{"long", 3, "12345"},
			{"negative", -2, "12345"},
		} {
			if _, err := h.Store.Put(ctx, "kept", "text/plain", c.size, strings.NewReader(c.body)); !errors.Is(err, ports.ErrBlobSize) {
				t.Errorf("%s: Put of %d bytes declared as %d: err = %v, want ErrBlobSize", c.name, len(c.body), c.size, err)
			}
			if _, err := h.Store.Put(ctx, "absent-"+c.name, "text/plain", c.size, strings.NewReader(c.body)); !errors.Is(err, ports.ErrBlobSize) {
				t.Errorf("%s: Put of a new blob: err = %v, want ErrBlobSize", c.name, err)
			}
			if _, err := h.Store.Stat(ctx, "absent-"+c.name); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("%s: the refused new blob exists: Stat err = %v", c.name, err)
			}
		}
		if got, _ := get(t, h.Store, "kept", 0, -1); string(got) != "old" {
			t.Errorf("a refused Put replaced the blob: %q", got)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		ctx := t.Context()
		put(t, h.Store, "a/b/c", "text/plain", "c")
		put(t, h.Store, "a/b2", "text/plain", "b2")
		if err := h.Store.Delete(ctx, "a/b/c"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, _, err := h.Store.Get(ctx, "a/b/c", 0, -1); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Get after Delete: err = %v, want ErrNotFound", err)
		}
		if _, err := h.Store.Stat(ctx, "a/b/c"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Stat after Delete: err = %v, want ErrNotFound", err)
		}
		if err := h.Store.Delete(ctx, "a/b/c"); err != nil {
			t.Errorf("second Delete: %v, want nil", err)
		}
		if err := h.Store.Delete(ctx, "never/was"); err != nil {
			t.Errorf("Delete of a blob that never was: %v, want nil", err)
		}
		if got, _ := get(t, h.Store, "a/b2", 0, -1); string(got) != "b2" {
			t.Errorf("a neighbour of the deleted blob reads %q", got)
		}
		// A key whose directory Delete just emptied can be written again.
		put(t, h.Store, "a/b/d", "text/plain", "d")
		if got, _ := get(t, h.Store, "a/b/d", 0, -1); string(got) != "d" {
			t.Errorf("a blob put after its directory was emptied reads %q", got)
		}
		if _, err := h.Store.Stat(ctx, "missing"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Stat of a missing blob: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("ListByPrefixInPages", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		ctx := t.Context()
		// "p/a-b" and "p/a.x" sort before "p/a/c" ('-' and '.' come
		// before '/'), and "p/a/d/e" before "p/a/d0", which a walk of
		// directories in the order of their names gets wrong.
		keys := []string{"p/a-b", "p/a.x", "p/a/c", "p/a/d/e", "p/a/d0", "p/b", "p/b0/z", "q/a", "pz"}
		for _, k := range keys {
			put(t, h.Store, k, "text/plain", k)
		}
		all := list(t, h.Store, "p/", 1000)
		want := []string{"p/a-b", "p/a.x", "p/a/c", "p/a/d/e", "p/a/d0", "p/b", "p/b0/z"}
		if strings.Join(all, " ") != strings.Join(want, " ") {
			t.Errorf("List(p/) = %q, want %q", all, want)
		}
		for _, limit := range []int{1, 2, 3, 7} {
			if got := list(t, h.Store, "p/", limit); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("List(p/) in pages of %d = %q, want %q", limit, got, want)
			}
		}
		for prefix, want := range map[string][]string{
			"p/a/d": {"p/a/d/e", "p/a/d0"}, // a prefix that ends inside a segment
			"p/b":   {"p/b", "p/b0/z"},
			"q/":    {"q/a"},
			"p":     {"p/a-b", "p/a.x", "p/a/c", "p/a/d/e", "p/a/d0", "p/b", "p/b0/z", "pz"},
			"none/": nil,
		} {
			if got := list(t, h.Store, prefix, 2); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("List(%q) = %q, want %q", prefix, got, want)
			}
		}
		blobs, next, err := h.Store.List(ctx, "", "", 1000)
		if err != nil || next != "" || len(blobs) != len(keys) {
			t.Fatalf("List of everything = %d blobs, next %q, %v; want %d", len(blobs), next, err, len(keys))
		}
		for _, b := range blobs {
			if b.Size != int64(len(b.Key)) {
				t.Errorf("List's %s has Size %d, want %d", b.Key, b.Size, len(b.Key))
			}
		}
		// A page that ends exactly at the last key says so.
		blobs, next, err = h.Store.List(ctx, "q/", "", 1)
		if err != nil || len(blobs) != 1 || next != "" {
			t.Errorf("List(q/, 1) = %v, next %q, %v; want one blob and no next page", blobs, next, err)
		}
		for _, limit := range []int{0, -1, ports.MaxBlobListLimit + 1} {
			if _, _, err := h.Store.List(ctx, "p/", "", limit); err == nil {
				t.Errorf("List with limit %d: no error", limit)
			}
		}
	})

	t.Run("StrictKeys", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		ctx := t.Context()
		bad := []string{
			"", "/a", "a/", "a//b", "..", "../a", "a/../b", "a/./b", ".", ".hidden", "a/.b",
			"A", "a b", `a\b`, "a\x00b", "a:b", "a%2fb", "ä", "a?b", "a#b", "~a",
			strings.Repeat("a", ports.MaxBlobSegmentBytes+1),
			strings.Repeat(strings.Repeat("a", 100)+"/", 6) + "a",
		}
		for _, key := range bad {
			if _, err := h.Store.Put(ctx, key, "text/plain", 1, strings.NewReader("x")); !errors.Is(err, ports.ErrBlobKey) {
				t.Errorf("Put(%q): err = %v, want ErrBlobKey", key, err)
			}
			if _, _, err := h.Store.Get(ctx, key, 0, -1); !errors.Is(err, ports.ErrBlobKey) {
				t.Errorf("Get(%q): err = %v, want ErrBlobKey", key, err)
			}
			if _, err := h.Store.Stat(ctx, key); !errors.Is(err, ports.ErrBlobKey) {
				t.Errorf("Stat(%q): err = %v, want ErrBlobKey", key, err)
			}
			if err := h.Store.Delete(ctx, key); !errors.Is(err, ports.ErrBlobKey) {
				t.Errorf("Delete(%q): err = %v, want ErrBlobKey", key, err)
			}
			if _, err := h.Store.SignedURL(ctx, key, time.Minute); !errors.Is(err, ports.ErrBlobKey) {
				t.Errorf("SignedURL(%q): err = %v, want ErrBlobKey", key, err)
			}
			if key != "" {
				if _, _, err := h.Store.List(ctx, "", key, 10); !errors.Is(err, ports.ErrBlobKey) {
					t.Errorf("List after %q: err = %v, want ErrBlobKey", key, err)
				}
			}
		}
		for _, prefix := range []string{"/", "../", "a//", "A", ".x", "a/.b"} {
			if _, _, err := h.Store.List(ctx, prefix, "", 10); !errors.Is(err, ports.ErrBlobKey) {
				t.Errorf("List(%q): err = %v, want ErrBlobKey", prefix, err)
			}
		}
		longest := strings.Repeat(strings.Repeat("a", 127)+"/", 3)
		longest += strings.Repeat("b", ports.MaxBlobKeyBytes-len(longest))
		for _, key := range []string{"a", "ws_01jd/media/m_01jd.x/w-320.webp", "0-9_a.z", longest} {
			put(t, h.Store, key, "text/plain", "ok")
		}
		if _, err := h.Store.Put(ctx, longest+"b", "text/plain", 2, strings.NewReader("ok")); !errors.Is(err, ports.ErrBlobKey) {
			t.Errorf("Put of a key of %d bytes: err = %v, want ErrBlobKey", len(longest)+1, err)
		}
	})

	t.Run("SignedURL", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		ctx := t.Context()
		put(t, h.Store, "signed/file.txt", "text/plain", "fetched without credentials")
		u, err := h.Store.SignedURL(ctx, "signed/file.txt", time.Minute)
		if !h.SignsURLs {
			if !errors.Is(err, ports.ErrBlobSignedURLUnsupported) {
				t.Errorf("SignedURL: %q, %v; want ErrBlobSignedURLUnsupported", u, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("SignedURL: %v", err)
		}
		status, body := fetch(t, u)
		if status != http.StatusOK || body != "fetched without credentials" {
			t.Errorf("GET signed URL = %d %q", status, body)
		}
		// The signature covers the key: the same URL for another key,
		// or with its signature changed, is refused.
		put(t, h.Store, "signed/other.txt", "text/plain", "secret")
		other := strings.Replace(u, "file.txt", "other.txt", 1)
		if status, _ := fetch(t, other); status != http.StatusForbidden {
			t.Errorf("GET of the URL moved to another key = %d, want 403", status)
		}
		if status, _ := fetch(t, tamper(t, u)); status != http.StatusForbidden {
			t.Errorf("GET with a changed signature = %d, want 403", status)
		}
		for _, ttl := range []time.Duration{0, time.Millisecond, ports.MaxBlobURLTTL + time.Second} {
			if _, err := h.Store.SignedURL(ctx, "signed/file.txt", ttl); err == nil {
				t.Errorf("SignedURL with ttl %v: no error", ttl)
			}
		}
	})

	t.Run("Cancellation", func(t *testing.T) {
		t.Parallel()
		h := open(t)
		put(t, h.Store, "cancel/kept", "text/plain", "old")

		// A Put whose context ends while it reads stops and stores
		// nothing: the old blob stays.
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancelAfter{r: newPattern(8 << 20), n: 1 << 20, cancel: cancel}
		if _, err := h.Store.Put(ctx, "cancel/kept", "application/octet-stream", 8<<20, r); !errors.Is(err, context.Canceled) {
			t.Errorf("Put cancelled midway: err = %v, want context.Canceled", err)
		}
		if got, _ := get(t, h.Store, "cancel/kept", 0, -1); string(got) != "old" {
			t.Errorf("a cancelled Put replaced the blob with %d bytes", len(got))
		}

		// Every call with an ended context fails with its error.
		ctx, cancel = context.WithCancel(t.Context())
		cancel()
		if _, err := h.Store.Put(ctx, "cancel/new", "text/plain", 1, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("Put with an ended context: err = %v", err)
		}
		if _, err := h.Store.Stat(t.Context(), "cancel/new"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Put with an ended context stored the blob: Stat err = %v", err)
		}
		if _, _, err := h.Store.Get(ctx, "cancel/kept", 0, -1); !errors.Is(err, context.Canceled) {
			t.Errorf("Get with an ended context: err = %v", err)
		}
		if _, err := h.Store.Stat(ctx, "cancel/kept"); !errors.Is(err, context.Canceled) {
			t.Errorf("Stat with an ended context: err = %v", err)
		}
		if _, _, err := h.Store.List(ctx, "cancel/", "", 10); !errors.Is(err, context.Canceled) {
			t.Errorf("List with an ended context: err = %v", err)
		}
		if err := h.Store.Delete(ctx, "cancel/kept"); !errors.Is(err, context.Canceled) {
			t.Errorf("Delete with an ended context: err = %v", err)
		}

		// A read stops when its context ends.
		put(t, h.Store, "cancel/big", "application/octet-stream", strings.Repeat("x", 4<<20))
		ctx, cancel = context.WithCancel(t.Context())
		rc, _, err := h.Store.Get(ctx, "cancel/big", 0, -1)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		defer func() { _ = rc.Close() }()
		if _, err := io.ReadFull(rc, make([]byte, 1024)); err != nil {
			t.Fatalf("first read: %v", err)
		}
		cancel()
		if n, err := io.Copy(io.Discard, rc); err == nil {
			t.Errorf("reading on after cancel: read %d more bytes and no error", n)
		}
	})
}

func put(t *testing.T, s ports.BlobStore, key, contentType, body string) {
	t.Helper()
	if _, err := s.Put(t.Context(), key, contentType, int64(len(body)), strings.NewReader(body)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s ports.BlobStore, key string, offset, length int64) ([]byte, ports.BlobInfo) {
	t.Helper()
	rc, info, err := s.Get(t.Context(), key, offset, length)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", key, offset, length, err)
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b, info
}

// list pages through prefix limit keys at a time and returns every key.
func list(t *testing.T, s ports.BlobStore, prefix string, limit int) []string {
	t.Helper()
	var keys []string
	after := ""
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatalf("List(%q) never ends", prefix)
		}
		blobs, next, err := s.List(t.Context(), prefix, after, limit)
		if err != nil {
			t.Fatalf("List(%q, after %q): %v", prefix, after, err)
		}
		if len(blobs) > limit {
			t.Fatalf("List(%q) returned %d blobs, limit %d", prefix, len(blobs), limit)
		}
		for _, b := range blobs {
			keys = append(keys, b.Key)
		}
		if next == "" {
			return keys
		}
		if len(blobs) == 0 {
			t.Fatalf("List(%q) returned an empty page with a next key %q", prefix, next)
		}
		after = next
	}
}

var fetchClient = sync.OnceValue(func() *http.Client { return &http.Client{Timeout: 30 * time.Second} })

func fetch(t *testing.T, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := fetchClient().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	return resp.StatusCode, string(b)
}

// tamper changes one character of the URL's signature parameter (the
// longest query value, whatever the backend calls it).
func tamper(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	longest := ""
	for k, v := range q {
		if len(v) == 1 && strings.Contains(strings.ToLower(k), "signature") {
			longest = k
		}
	}
	if longest == "" {
		t.Fatalf("signed URL %s has no signature parameter", raw)
	}
	sig := []byte(q.Get(longest))
	if sig[0] == '0' {
		sig[0] = '1'
	} else {
		sig[0] = '0'
	}
	q.Set(longest, string(sig))
	u.RawQuery = q.Encode()
	return u.String()
}

// pattern yields n bytes of a fixed pseudo-random sequence without holding
// them: a large blob's source that costs no memory.
type pattern struct {
	left  int64
	state uint64
	word  [8]byte // the current word's bytes from off on are still to go
	off   int
}

func newPattern(n int64) *pattern { return &pattern{left: n, state: 0x9e3779b97f4a7c15, off: 8} }

func (p *pattern) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := len(b)
	for len(b) > 0 {
		if p.off == 8 {
			p.next()
		}
		if p.off == 0 && len(b) >= 8 {
			// A whole word at once: eight times fewer steps.
			copy(b, p.word[:])
			b, p.off = b[8:], 8
			continue
		}
		b[0] = p.word[p.off]
		b, p.off = b[1:], p.off+1
	}
	p.left -= int64(n)
	return n, nil
}

// next steps xorshift64, cheap and never repeating within a blob, into
// the current word.
func (p *pattern) next() {
	p.state ^= p.state << 13
	p.state ^= p.state >> 7
	p.state ^= p.state << 17
	binary.LittleEndian.PutUint64(p.word[:], p.state)
	p.off = 0
}

// cancelAfter reads from r and cancels once n bytes have gone through.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n -= int64(n)
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}
