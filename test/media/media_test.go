// Package media_test runs the keel binary's media library end to end: on
// SQLite with the blob store in a directory, and on PostgreSQL with the
// blob store in an S3 bucket (SeaweedFS in a container).
package media_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/keelhq/keel/api/openapitest"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/keelproc"
	"github.com/keelhq/keel/test/s3server"
	"github.com/keelhq/keel/test/testdb"
)

func TestMain(m *testing.M) {
	containers.Main(m, s3server.Stop, testdb.Stop, keelproc.RemoveBinary)
}

func TestMediaOnSQLiteAndDirectory(t *testing.T) {
	t.Parallel()
	p := keelproc.Serve(t, "serve", []string{"KEEL_DATA_DIR=" + t.TempDir()})
	mediaRoundTrip(t, p)
}

func TestMediaOnPostgresAndS3(t *testing.T) {
	t.Parallel()
	srv := s3server.Start(t)
	bucket := srv.NewBucket(t)
	p := keelproc.Serve(t, "serve", []string{
		"KEEL_DATA_DIR=" + t.TempDir(),
		"KEEL_DATABASE_URL=" + testdb.EmptyPostgres(t),
		"KEEL_BLOB_URL=s3://" + bucket + "/site?endpoint=" + srv.Endpoint + "&region=" + s3server.Region,
		"AWS_ACCESS_KEY_ID=" + s3server.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s3server.SecretKey,
	})
	mediaRoundTrip(t, p)
}

// mediaRoundTrip uploads a photo with GPS metadata, uses it as the cover
// and in the body of a published post, fetches its public variant with
// If-None-Match (304) and Range (206), reads the cover from the public
// post and fetches every variant of its srcset the same way, finds the
// file protected from deletion while the post uses it and the cover null
// once it is deleted with force, and checks that the workspace's
// media_keep_metadata setting keeps the next upload's metadata.
func mediaRoundTrip(t *testing.T, p *keelproc.Proc) {
	site := keelproc.NewSite(t, p, "media", "")
	client := &http.Client{Transport: openapitest.Transport(t, http.DefaultTransport)}
	do := func(method, path string, body io.Reader, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, p.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
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

	photo := testPhoto(t)
	resp, body := do("POST", "/v1/workspaces/"+site.WS+"/media?name=cover.jpg", bytes.NewReader(photo),
		"Content-Type", "image/jpeg", "Authorization", "Bearer "+site.Token)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload = %d %s", resp.StatusCode, body)
	}
	id, url := field(body, "id"), field(body, "url")
	if !strings.HasPrefix(id, "med_") || !strings.Contains(url, "/v1/sites/"+site.WS+"/media/"+id+"/cover.jpg") {
		t.Fatalf("uploaded = %s", body)
	}
	var entry struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/"+site.WS+"/entries", site.Token, map[string]any{
		"kind": "post", "title": "With a cover", "body": "![The lake](" + url + "?w=640)", "cover_media_id": id,
	}, 201, &entry)
	p.MustCall(t, "POST", "/v1/workspaces/"+site.WS+"/entries/"+entry.ID+"/publish", site.Token, map[string]any{}, 200, nil)

	path := "/v1/sites/" + site.WS + "/media/" + id + "/cover.jpg"
	resp, original := do("GET", path, nil)
	if resp.StatusCode != http.StatusOK || bytes.Contains(original, []byte("GPSLatitude")) || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("original = %d, %d bytes, GPS kept %v, %v", resp.StatusCode, len(original), bytes.Contains(original, []byte("GPSLatitude")), resp.Header)
	}
	resp, variant := do("GET", path+"?w=640", nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("variant = %d %v", resp.StatusCode, resp.Header)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(variant)); err != nil || cfg.Width != 640 {
		t.Errorf("variant is %d wide (%v), want 640", cfg.Width, err)
	}
	if resp, _ := do("GET", path+"?w=640", nil, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match = %d, want 304", resp.StatusCode)
	}
	resp, part := do("GET", path+"?w=640", nil, "Range", "bytes=100-199")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, variant[100:200]) {
		t.Errorf("Range = %d with %d bytes, want 206 with bytes 100 to 199", resp.StatusCode, len(part))
	}

	// The public post describes its cover, ready for srcset.
	var post struct {
		Cover *struct {
			ID, URL, Alt  string
			Width, Height int
			Variants      []struct {
				Width int
				URL   string
			}
		}
	}
	p.MustCall(t, "GET", "/v1/sites/"+site.WS+"/posts/with-a-cover", "", nil, 200, &post)
	c := post.Cover
	if c == nil || c.ID != id || c.URL != url || c.Width != 1600 || c.Height != 1200 || len(c.Variants) != 4 {
		t.Fatalf("public cover = %+v, want %s, 1600x1200, variants 320 to 1280", c, id)
	}
	for i, v := range c.Variants {
		if want := []int{320, 640, 960, 1280}[i]; v.Width != want || v.URL != url+"?w="+strconv.Itoa(want) {
			t.Errorf("variant %d = %+v, want %d wide at %s?w=%d", i, v, want, url, want)
		}
		vpath := v.URL[strings.Index(v.URL, "/v1/"):]
		resp, img := do("GET", vpath, nil)
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(img)); resp.StatusCode != http.StatusOK || err != nil || cfg.Width != v.Width {
			t.Errorf("GET %s = %d, %d wide (%v)", vpath, resp.StatusCode, cfg.Width, err)
			continue
		}
		if resp, _ := do("GET", vpath, nil, "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match = %d, want 304", vpath, resp.StatusCode)
		}
		if resp, part := do("GET", vpath, nil, "Range", "bytes=10-59"); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, img[10:60]) {
			t.Errorf("GET %s with Range = %d, %d bytes, want 206 with bytes 10 to 59", vpath, resp.StatusCode, len(part))
		}
	}

	resp, body = do("DELETE", "/v1/workspaces/"+site.WS+"/media/"+id, nil, "Authorization", "Bearer "+site.Token)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "media_in_use") {
		t.Errorf("delete of the post's image = %d %s, want 409 media_in_use", resp.StatusCode, body)
	}
	resp, body = do("DELETE", "/v1/workspaces/"+site.WS+"/media/"+id+"?force=true", nil, "Authorization", "Bearer "+site.Token)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("forced delete = %d %s", resp.StatusCode, body)
	}
	p.MustCall(t, "GET", "/v1/sites/"+site.WS+"/posts/with-a-cover", "", nil, 200, &post)
	if post.Cover != nil {
		t.Errorf("public cover after a forced deletion = %+v, want null", post.Cover)
	}

	// A workspace that keeps metadata keeps the GPS position.
	p.MustCall(t, "PATCH", "/v1/workspaces/"+site.WS+"/site", site.Token, map[string]any{"media_keep_metadata": true}, 200, nil)
	resp, body = do("POST", "/v1/workspaces/"+site.WS+"/media?name=kept.jpg", bytes.NewReader(photo),
		"Content-Type", "image/jpeg", "Authorization", "Bearer "+site.Token)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload = %d %s", resp.StatusCode, body)
	}
	kept := field(body, "url")
	if resp, b := do("GET", kept[strings.Index(kept, "/v1/"):], nil); resp.StatusCode != http.StatusOK || !bytes.Equal(b, photo) {
		t.Errorf("kept upload = %d, %d bytes of %d, GPS kept %v", resp.StatusCode, len(b), len(photo), bytes.Contains(b, []byte("GPSLatitude")))
	}
}

// field reads a string member of a JSON object without a type for it.
func field(body []byte, name string) string {
	_, rest, ok := strings.Cut(string(body), `"`+name+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// testPhoto is a 1600×1200 JPEG with an EXIF segment holding a GPS tag.
func testPhoto(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 1600, 1200))
	for y := range 1200 {
		for x := range 1600 {
			img.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	exif := []byte("Exif\x00\x00GPSLatitude 59.3293 N")
	seg := append([]byte{0xFF, 0xE1, 0, byte(len(exif) + 2)}, exif...)
	return append(append(append([]byte{}, b[:2]...), seg...), b[2:]...)
}
