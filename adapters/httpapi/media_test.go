package httpapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/argon2id"
	"github.com/keelhq/keel/adapters/blobfs"
	"github.com/keelhq/keel/adapters/casbinauthz"
	"github.com/keelhq/keel/adapters/markdown"
	"github.com/keelhq/keel/adapters/mediaimage"
	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/application/media"
	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// mediaFixture is the forms fixture's database and owner behind a server
// that also has the media library, on a blob store in a temporary
// directory.
type mediaFixture struct {
	*formsFixture
	blobs *blobfs.Store
	media *media.Service
}

func newMediaFixture(t testing.TB, cfg media.Config) *mediaFixture {
	t.Helper()
	f := newFormsFixture(t, fixtureOptions{publicURL: "https://api.example.com/"})
	ctx := t.Context()
	log := slog.New(slog.NewJSONHandler(f.logs, nil))
	authz, err := casbinauthz.New(ctx, f.db, casbinauthz.Options{PollInterval: -1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authz.Close() })
	ids, err := identity.NewService(ctx, identity.Config{
		UoW: f.db, Authorizer: authz, Clock: f.clock, SessionTTL: 24 * time.Hour, Sealer: testSealer,
		Hasher:          argon2id.New(argon2id.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		LoginPerIP:      ratelimit.NewRateLimiter(1000, 1000, f.clock.Now),
		LoginPerAccount: ratelimit.NewRateLimiter(1000, 1000, f.clock.Now),
	})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blobfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// One public cache, emptied by both services as keel serve wires them.
	cache := NewPublicCache(1 << 20)
	cfg.UoW, cfg.Authorizer, cfg.Clock, cfg.Blobs, cfg.Images = f.db, authz, f.clock, blobs, mediaimage.Processor{}
	cfg.PublicChanged = cache.Invalidate
	ms := media.NewService(cfg)
	cs := content.NewService(content.Config{UoW: f.db, Authorizer: authz, Clock: f.clock, Renderer: markdown.New(), PublicChanged: cache.Invalidate})
	srv := New(Config{
		Logger: log, System: system.NewService(f.db, f.db, f.clock), Identity: ids, Content: cs, Media: ms, Blobs: blobs,
		PublicURL: "https://api.example.com/", PublicCache: cache,
	})
	g := *f
	g.srv, g.checked = srv, checked(t, srv)
	return &mediaFixture{formsFixture: &g, blobs: blobs, media: ms}
}

// upload posts body raw, with ?name= and the client's Content-Type ct.
func (f *mediaFixture) upload(t testing.TB, name, ct string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/workspaces/acme/media?name="+url.QueryEscape(name), bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+f.token)
	return f.serve(req)
}

func (f *mediaFixture) uploadMultipart(t *testing.T, name string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("note", "ignored")
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(body)
	_ = mw.Close()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/workspaces/acme/media", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+f.token)
	return f.serve(req)
}

// invalid marks the fixture's requests deliberately invalid, as
// formsFixture.invalid.
func (f *mediaFixture) invalid() *mediaFixture {
	return &mediaFixture{formsFixture: f.formsFixture.invalid(), blobs: f.blobs, media: f.media}
}

func (f *mediaFixture) get(t *testing.T, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return f.serve(req)
}

// testJPEG encodes a w×h JPEG with a gradient, and an EXIF segment with
// a GPS marker right after its start when exif is set.
func testJPEG(t testing.TB, w, h int, exif bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !exif {
		return b
	}
	payload := []byte("Exif\x00\x00GPSLatitude 48.8584 N")
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	return append(append(append([]byte{}, b[:2]...), append(seg, payload...)...), b[2:]...)
}

func testPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngHeader is a PNG's signature and IHDR chunk declaring w×h pixels,
// with no image data: what a decompression bomb shows before decoding.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk := append([]byte("IHDR"), ihdr...)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, chunk...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
}

// TestMediaUploadListAndDelivery uploads a photo, reads it back through
// the management API and the public URL (ETag, 304, Range, headers),
// asks for a variant, and deletes it.
func TestMediaUploadListAndDelivery(t *testing.T) {
	f := newMediaFixture(t, media.Config{})
	photo := testJPEG(t, 800, 600, true)
	w := f.upload(t, "../../Holiday Photo!.jpg", "text/plain; charset=utf-8", photo)
	m := decodeBody[mediaResponse](t, w, http.StatusCreated)
	if !strings.HasPrefix(m.ID, "med_") || m.ContentType != "image/jpeg" || m.Name != "Holiday-Photo.jpg" || m.Width != 800 || m.Height != 600 {
		t.Fatalf("uploaded = %+v", m)
	}
	if w.Header().Get("Location") != "/v1/workspaces/acme/media/"+m.ID {
		t.Errorf("Location = %q", w.Header().Get("Location"))
	}
	wantURL := "https://api.example.com/v1/sites/acme/media/" + m.ID + "/Holiday-Photo.jpg"
	if m.URL != wantURL || len(m.Variants) != 2 || m.Variants[1].Width != 640 || m.Variants[1].URL != wantURL+"?w=640" || m.Variants[1].Made {
		t.Errorf("urls = %s %+v; want %s and 320, 640 not made", m.URL, m.Variants, wantURL)
	}
	// The stored bytes lost the EXIF segment and nothing else.
	if int(m.Size) != len(photo)-len("Exif\x00\x00GPSLatitude 48.8584 N")-4 {
		t.Errorf("stored size = %d of %d uploaded, want the EXIF segment gone", m.Size, len(photo))
	}
	path := "/v1/sites/acme/media/" + m.ID + "/Holiday-Photo.jpg"
	got := f.get(t, path)
	if got.Code != http.StatusOK || bytes.Contains(got.Body.Bytes(), []byte("GPSLatitude")) || int64(got.Body.Len()) != m.Size {
		t.Fatalf("public GET = %d, %d bytes, GPS stripped %v", got.Code, got.Body.Len(), !bytes.Contains(got.Body.Bytes(), []byte("GPSLatitude")))
	}
	hd := got.Header()
	etag := hd.Get("ETag")
	if hd.Get("Cache-Control") != "public, max-age=31536000, immutable" || !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") ||
		hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Content-Type") != "image/jpeg" ||
		hd.Get("Content-Disposition") != "inline; filename=Holiday-Photo.jpg" {
		t.Errorf("public headers = %v", hd)
	}
	if w := f.get(t, path, "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match = %d, want 304", w.Code)
	}
	r := f.get(t, path, "Range", "bytes=2-9")
	if r.Code != http.StatusPartialContent || !bytes.Equal(r.Body.Bytes(), got.Body.Bytes()[2:10]) {
		t.Errorf("Range = %d %x, want 206 with bytes 2 to 9", r.Code, r.Body.Bytes())
	}
	// A variant: made once, a JPEG 640 wide, listed as made afterwards.
	v := f.get(t, path+"?w=640")
	if v.Code != http.StatusOK || v.Header().Get("Content-Type") != "image/jpeg" || v.Header().Get("ETag") == etag {
		t.Fatalf("variant = %d %v", v.Code, v.Header())
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(v.Body.Bytes()))
	if err != nil || cfg.Width != 640 || cfg.Height != 480 {
		t.Errorf("variant is %dx%d (%v), want 640x480", cfg.Width, cfg.Height, err)
	}
	if w := f.invalid().get(t, path+"?w=641"); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "invalid_width") {
		t.Errorf("w=641 = %d %s, want 400 invalid_width", w.Code, w.Body)
	}
	after := decodeBody[mediaResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/media/"+m.ID, nil), http.StatusOK)
	if !after.Variants[1].Made || after.Variants[0].Made {
		t.Errorf("variants after one request = %+v, want 640 made only", after.Variants)
	}
	// Details, the list and its filters.
	patched := decodeBody[mediaResponse](t, f.api(t, http.MethodPatch, "/v1/workspaces/acme/media/"+m.ID,
		map[string]any{"alt": "A lake", "caption": "Summer", "focal_point": map[string]any{"x": 0.25, "y": 0.5}}), http.StatusOK)
	if patched.Alt != "A lake" || patched.Caption != "Summer" || patched.FocalPoint == nil || patched.FocalPoint.X != 0.25 {
		t.Errorf("patched = %+v", patched)
	}
	if w := f.invalid().api(t, http.MethodPatch, "/v1/workspaces/acme/media/"+m.ID, map[string]any{"focal_point": map[string]any{"x": 2, "y": 0}}); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("focal x=2 = %d, want 422", w.Code)
	}
	cleared := decodeBody[mediaResponse](t, f.api(t, http.MethodPatch, "/v1/workspaces/acme/media/"+m.ID, map[string]any{"focal_point": nil}), http.StatusOK)
	if cleared.FocalPoint != nil || cleared.Alt != "A lake" {
		t.Errorf("after clearing the focal point = %+v", cleared)
	}
	f.clock.Add(time.Second) // IDs start with the time: the PDF lists first
	pdf := decodeBody[mediaResponse](t, f.uploadMultipart(t, "menu.pdf", []byte("%PDF-1.4\n%âãÏÓ\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")), http.StatusCreated)
	if pdf.ContentType != "application/pdf" || pdf.Name != "menu.pdf" || len(pdf.Variants) != 0 {
		t.Errorf("pdf = %+v", pdf)
	}
	if w := f.get(t, "/v1/sites/acme/media/"+pdf.ID+"/menu.pdf?w=320"); w.Code != http.StatusBadRequest {
		t.Errorf("a PDF's variant = %d, want 400", w.Code)
	}
	type list struct {
		Data []mediaResponse `json:"data"`
	}
	for q, want := range map[string][]string{"": {pdf.ID, m.ID}, "?type=image/": {m.ID}, "?type=application/pdf": {pdf.ID}, "?q=HOLIDAY": {m.ID}} {
		l := decodeBody[list](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/media"+q, nil), http.StatusOK)
		var ids []string
		for _, d := range l.Data {
			ids = append(ids, d.ID)
		}
		if strings.Join(ids, ",") != strings.Join(want, ",") {
			t.Errorf("list%s = %v, want %v", q, ids, want)
		}
	}
	// Delete removes the record and the blobs, variants too.
	if w := f.api(t, http.MethodDelete, "/v1/workspaces/acme/media/"+m.ID, nil); w.Code != http.StatusNoContent {
		t.Fatalf("delete = %d %s", w.Code, w.Body)
	}
	if w := f.get(t, path); w.Code != http.StatusNotFound {
		t.Errorf("public GET after delete = %d, want 404", w.Code)
	}
	left, _, err := f.blobs.List(t.Context(), "media/", "", 100)
	if err != nil || len(left) != 1 || !strings.Contains(left[0].Key, pdf.ID) {
		t.Errorf("blobs after delete = %+v, %v; want the PDF's only", left, err)
	}
}

// TestMediaDeliveryOverSocket serves a file through a real server, where
// net/http sends the blob's file itself (sendfile) rather than gin copying
// it: whole, as one range, as a suffix and as two ranges, each with the
// stored bytes, and the access log counts the bytes that went out.
func TestMediaDeliveryOverSocket(t *testing.T) {
	f := newMediaFixture(t, media.Config{})
	m := decodeBody[mediaResponse](t, f.upload(t, "photo.jpg", "image/jpeg", testJPEG(t, 800, 600, false)), http.StatusCreated)
	path := "/v1/sites/acme/media/" + m.ID + "/photo.jpg"
	want := f.get(t, path).Body.Bytes()
	if int64(len(want)) != m.Size || len(want) < 4096 {
		t.Fatalf("stored file = %d bytes, record says %d; want a few KB", len(want), m.Size)
	}
	srv := httptest.NewServer(f.srv)
	get := func(rng string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, body := get("")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) || resp.ContentLength != int64(len(want)) ||
		resp.Header.Get("ETag") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET = %d, %d bytes (equal %v), Content-Length %d, headers %v", resp.StatusCode, len(body), bytes.Equal(body, want), resp.ContentLength, resp.Header)
	}
	n := len(want)
	for rng, part := range map[string][]byte{
		"bytes=2-9":                         want[2:10],
		"bytes=1000-" + strconv.Itoa(n-100): want[1000 : n-99],
		"bytes=-700":                        want[n-700:],
	} {
		resp, body := get(rng)
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, part) {
			t.Errorf("Range %s = %d, %d bytes, want 206 with %d bytes", rng, resp.StatusCode, len(body), len(part))
		}
	}
	resp, body = get("bytes=0-3,3000-3999")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusPartialContent || !strings.HasPrefix(ct, "multipart/byteranges") ||
		!bytes.Contains(body, want[3000:4000]) || !bytes.Contains(body, want[0:4]) {
		t.Errorf("two ranges = %d %s, %d bytes, want 206 multipart/byteranges holding both", resp.StatusCode, ct, len(body))
	}
	srv.Close() // waits for the handlers, and so for their access log lines
	if logs := f.logs.String(); !strings.Contains(logs, `"path":"`+path+`","status":200,`) ||
		!strings.Contains(logs, `"bytes":`+strconv.Itoa(n)+",") || !strings.Contains(logs, `"bytes":8,`) {
		t.Errorf("access log does not count %d and 8 bytes sent:\n%s", n, logs)
	}
}

// TestMediaHostileFiles uploads files meant to fool a type check or
// exhaust the server; each is refused, or stored as the harmless type
// its bytes start as, and nothing refused leaves a blob behind.
func TestMediaHostileFiles(t *testing.T) {
	f := newMediaFixture(t, media.Config{MaxFileSize: 64 << 10})
	zipPNG := append(testPNG(t, 4, 4), []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00evil.html<script>alert(1)</script>")...)
	polyglot := append([]byte("GIF89a/*\x01\x00\x01\x00\x00\x00\x00;*/=1;alert(document.domain)//"), testPNG(t, 1, 1)...)
	for _, tc := range []struct {
		name, ct string
		body     []byte
		status   int
		code     string // for a refusal
		stored   string // for a file stored
	}{
		{"svg", "image/svg+xml", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), 415, "svg_not_supported", ""},
		{"svg-bom", "image/png", []byte("\xef\xbb\xbf  <svg onload=alert(1)>"), 415, "svg_not_supported", ""},
		{"html-as-jpeg", "image/jpeg", []byte("<html><script>alert(1)</script></html>"), 415, "media_type_unsupported", ""},
		{"exe", "application/octet-stream", []byte("MZ\x90\x00\x03\x00\x00\x00"), 415, "media_type_unsupported", ""},
		{"bomb-50000x50000", "image/png", pngHeader(50000, 50000), 422, "image_too_many_pixels", ""},
		{"truncated-jpeg", "image/jpeg", []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF"), 422, "media_corrupt", ""},
		{"too-large", "image/jpeg", append(testJPEG(t, 16, 16, false), make([]byte, 65<<10)...), 413, "media_too_large", ""},
		{"png-that-is-a-zip", "application/zip", zipPNG, 201, "", "image/png"},
		// A GIF header that is also JavaScript: stored as the GIF its bytes
		// start as, and served as image/gif with nosniff, so no browser
		// runs it as a script.
		{"gif-js-polyglot", "text/javascript", polyglot, 201, "", "image/gif"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.invalid().upload(t, tc.name, tc.ct, tc.body)
			if w.Code != tc.status || (tc.code != "" && !strings.Contains(w.Body.String(), `"code":"`+tc.code+`"`)) {
				t.Fatalf("upload = %d %s, want %d %s", w.Code, w.Body, tc.status, tc.code)
			}
			if tc.stored == "" {
				return
			}
			m := decodeBody[mediaResponse](t, w, http.StatusCreated)
			pub := f.get(t, "/v1/sites/acme/media/"+m.ID+"/x")
			if m.ContentType != tc.stored || pub.Header().Get("Content-Type") != tc.stored || pub.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("stored as %s, served as %v", m.ContentType, pub.Header())
			}
		})
	}
	blobs, _, err := f.blobs.List(t.Context(), "media/", "", 100)
	if err != nil || len(blobs) != 2 {
		t.Errorf("blobs after the hostile uploads = %+v, %v; want the two stored files", blobs, err)
	}
}

// TestMediaQuotaAndInUse checks the workspace's total limit and that a
// published entry's media cannot be deleted without force.
func TestMediaQuotaAndInUse(t *testing.T) {
	small := testPNG(t, 2, 2)
	f := newMediaFixture(t, media.Config{MaxWorkspaceSize: int64(2*len(small) + 10)})
	a := decodeBody[mediaResponse](t, f.upload(t, "a.png", "image/png", small), http.StatusCreated)
	decodeBody[mediaResponse](t, f.upload(t, "b.png", "image/png", small), http.StatusCreated)
	if w := f.invalid().upload(t, "c.png", "image/png", small); w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "media_quota_exceeded") {
		t.Errorf("third upload = %d %s, want 413 media_quota_exceeded", w.Code, w.Body)
	}
	e := f.createEntry(t, map[string]any{"kind": "post", "title": "With a picture", "body": "![A](" + a.URL + "?w=320)"})
	if w := f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/"+e.ID+"/publish", map[string]any{}); w.Code != http.StatusOK {
		t.Fatalf("publish = %d %s", w.Code, w.Body)
	}
	if w := f.api(t, http.MethodDelete, "/v1/workspaces/acme/media/"+a.ID, nil); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "media_in_use") {
		t.Errorf("delete of used media = %d %s, want 409 media_in_use", w.Code, w.Body)
	}
	if w := f.api(t, http.MethodDelete, "/v1/workspaces/acme/media/"+a.ID+"?force=true", nil); w.Code != http.StatusNoContent {
		t.Errorf("forced delete = %d %s, want 204", w.Code, w.Body)
	}
}

// countingBlobs counts the variants put, to see concurrent requests for
// one variant make it once.
type countingBlobs struct {
	ports.BlobStore
	mu   sync.Mutex
	puts map[string]int
}

func (c *countingBlobs) Put(ctx context.Context, key, ct string, size int64, r io.Reader) (ports.BlobInfo, error) {
	c.mu.Lock()
	c.puts[key]++
	c.mu.Unlock()
	return c.BlobStore.Put(ctx, key, ct, size, r)
}

// TestMediaVariantMadeOnce asks for one variant from many goroutines at
// once: it is made and stored once.
func TestMediaVariantMadeOnce(t *testing.T) {
	f := newMediaFixture(t, media.Config{})
	m := decodeBody[mediaResponse](t, f.upload(t, "p.jpg", "image/jpeg", testJPEG(t, 1400, 1000, false)), http.StatusCreated)
	cb := &countingBlobs{BlobStore: f.blobs, puts: map[string]int{}}
	svc := media.NewService(media.Config{UoW: f.db, Authorizer: nil, Clock: f.clock, Blobs: cb, Images: mediaimage.Processor{}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := svc.Public(t.Context(), "acme", domain.MediaID(m.ID), 1280); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := cb.puts[domain.MediaKey(domain.WorkspaceID(""), domain.MediaID(m.ID), 1280)]; n > 1 {
		t.Errorf("variant stored %d times", n)
	}
	total := 0
	for _, n := range cb.puts {
		total += n
	}
	if total != 1 {
		t.Errorf("puts = %v, want one", cb.puts)
	}
}

// BenchmarkPublicMediaCached serves a made variant of a photo of about
// 50 KB to parallel clients, through the whole server (no OpenAPI check):
// the request rate a site's images get once their variants exist.
func BenchmarkPublicMediaCached(b *testing.B) {
	f := newMediaFixture(b, media.Config{})
	src := testJPEG(b, 1400, 1050, false)
	w := f.upload(b, "photo.jpg", "image/jpeg", src)
	if w.Code != http.StatusCreated {
		b.Fatalf("upload = %d %s", w.Code, w.Body)
	}
	m := decodeBody[mediaResponse](b, w, http.StatusCreated)
	path := "/v1/sites/acme/media/" + m.ID + "/photo.jpg?w=960"
	first := httptest.NewRecorder()
	f.srv.ServeHTTP(first, httptest.NewRequest(http.MethodGet, path, nil))
	if first.Code != http.StatusOK {
		b.Fatalf("variant = %d %s", first.Code, first.Body)
	}
	b.SetBytes(int64(first.Body.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != http.StatusOK {
				b.Errorf("GET = %d", rec.Code)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// TestMediaKeepMetadataSetting checks that uploads follow the workspace's
// media_keep_metadata site setting, and that an upload's own
// keep_metadata decides for it either way.
func TestMediaKeepMetadataSetting(t *testing.T) {
	f := newMediaFixture(t, media.Config{})
	photo := testJPEG(t, 64, 48, true)
	stripped := int64(len(photo) - len("Exif\x00\x00GPSLatitude 48.8584 N") - 4)
	size := func(path string) int64 {
		t.Helper()
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(photo))
		req.Header.Set("Content-Type", "image/jpeg")
		req.Header.Set("Authorization", "Bearer "+f.token)
		return decodeBody[mediaResponse](t, f.serve(req), http.StatusCreated).Size
	}
	const upload = "/v1/workspaces/acme/media?name=a.jpg"
	if got := size(upload); got != stripped {
		t.Errorf("default: %d bytes stored, want %d (stripped)", got, stripped)
	}
	if got := size(upload + "&keep_metadata=true"); got != int64(len(photo)) {
		t.Errorf("keep_metadata=true: %d bytes stored, want %d (kept)", got, len(photo))
	}
	s := decodeBody[siteSettingsResponse](t, f.api(t, http.MethodPatch, "/v1/workspaces/acme/site", map[string]any{"media_keep_metadata": true}), http.StatusOK)
	if !s.MediaKeepMetadata {
		t.Fatalf("site settings after PATCH = %+v", s)
	}
	if got := decodeBody[siteSettingsResponse](t, f.api(t, http.MethodGet, "/v1/workspaces/acme/site", nil), http.StatusOK); !got.MediaKeepMetadata {
		t.Errorf("GET site = %+v, want media_keep_metadata", got)
	}
	if got := size(upload); got != int64(len(photo)) {
		t.Errorf("workspace keeps: %d bytes stored, want %d (kept)", got, len(photo))
	}
	if got := size(upload + "&keep_metadata=false"); got != stripped {
		t.Errorf("workspace keeps, keep_metadata=false: %d bytes stored, want %d (stripped)", got, stripped)
	}
	f.api(t, http.MethodPatch, "/v1/workspaces/acme/site", map[string]any{"media_keep_metadata": false})
	if got := size(upload); got != stripped {
		t.Errorf("workspace strips again: %d bytes stored, want %d", got, stripped)
	}
}

// testAVIF is the header of an AVIF of w×h: ftyp, then a meta box whose
// only property is the ispe (image spatial extents) box, then no pixels.
func testAVIF(w, h uint32) []byte {
	box := func(typ string, body ...[]byte) []byte {
		b := bytes.Join(body, nil)
		return append(append(binary.BigEndian.AppendUint32(nil, uint32(8+len(b))), typ...), b...)
	}
	zero := []byte{0, 0, 0, 0}
	ispe := box("ispe", zero, binary.BigEndian.AppendUint32(nil, w), binary.BigEndian.AppendUint32(nil, h))
	return append(box("ftyp", []byte("avif"), zero, []byte("mif1")), box("meta", zero, box("iprp", box("ipco", ispe)))...)
}

// TestMediaAVIFSize uploads AVIF images: their size comes from the
// header, a cover of one lists no variants, and one of more than 50
// megapixels is refused.
func TestMediaAVIFSize(t *testing.T) {
	f := newMediaFixture(t, media.Config{})
	m := decodeBody[mediaResponse](t, f.upload(t, "photo.avif", "image/avif", testAVIF(1200, 800)), http.StatusCreated)
	if m.ContentType != "image/avif" || m.Width != 1200 || m.Height != 800 || len(m.Variants) != 0 {
		t.Fatalf("uploaded AVIF = %+v, want 1200x800 without variants", m)
	}
	if w := f.invalid().upload(t, "bomb.avif", "image/avif", testAVIF(50_000, 50_000)); w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "image_too_many_pixels") {
		t.Errorf("a 50,000 x 50,000 AVIF = %d %s, want 422 image_too_many_pixels", w.Code, w.Body)
	}
	if w := f.invalid().upload(t, "bad.avif", "image/avif", []byte("\x00\x00\x00\x10ftypavif\x00\x00\x00\x00")); w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "media_corrupt") {
		t.Errorf("an AVIF without a size = %d %s, want 422 media_corrupt", w.Code, w.Body)
	}
	e := f.createEntry(t, map[string]any{"kind": "post", "title": "Avif", "body": "text", "cover_media_id": m.ID})
	f.api(t, http.MethodPost, "/v1/workspaces/acme/entries/"+e.ID+"/publish", nil)
	p := decodeBody[publicEntryResponse](t, f.get(t, "/v1/sites/acme/posts/avif"), http.StatusOK)
	if p.Cover == nil || p.Cover.Width != 1200 || p.Cover.ContentType != "image/avif" || p.Cover.Variants == nil || len(p.Cover.Variants) != 0 {
		t.Errorf("public AVIF cover = %+v, want 1200 wide with no variants", p.Cover)
	}
}
