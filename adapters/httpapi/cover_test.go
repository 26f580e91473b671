package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keelhq/keel/application/media"
)

// TestEntryCover sets an entry's cover from the media library through
// the management API, checks what it refuses, and reads the cover the
// public API describes, until a forced deletion of the file leaves null.
func TestEntryCover(t *testing.T) {
	f := newMediaFixture(t, media.Config{})
	img := decodeBody[mediaResponse](t, f.upload(t, "lake.jpg", "image/jpeg", testJPEG(t, 800, 600, false)), http.StatusCreated)
	pdf := decodeBody[mediaResponse](t, f.upload(t, "menu.pdf", "application/pdf", []byte("%PDF-1.4\n%%EOF\n")), http.StatusCreated)
	for id, code := range map[string]string{"med_01jd5x8c1q2w3e4r5t6y7u8i9o": "not_found", "nope": "not_found", pdf.ID: "not_an_image"} {
		w := f.invalid().api(t, http.MethodPost, "/v1/workspaces/acme/entries", map[string]any{"kind": "post", "title": "Lake", "cover_media_id": id})
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `"field":"cover_media_id","code":"`+code+`"`) {
			t.Errorf("cover %s = %d %s, want 422 %s", id, w.Code, w.Body, code)
		}
	}
	// Another workspace's image is no file of this one.
	if w := f.api(t, http.MethodPost, "/v1/workspaces", map[string]any{"name": "Other", "slug": "other"}); w.Code != http.StatusCreated {
		t.Fatalf("create workspace = %d %s", w.Code, w.Body)
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/workspaces/other/media?name=x.jpg", bytes.NewReader(testJPEG(t, 400, 300, false)))
	req.Header.Set("Content-Type", "image/jpeg")
	req.Header.Set("Authorization", "Bearer "+f.token)
	foreign := decodeBody[mediaResponse](t, f.serve(req), http.StatusCreated)
	if w := f.invalid().api(t, http.MethodPost, "/v1/workspaces/acme/entries", map[string]any{"kind": "post", "title": "Lake", "cover_media_id": foreign.ID}); w.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(w.Body.String(), `"code":"not_found"`) {
		t.Errorf("another workspace's image as cover = %d %s, want 422 not_found", w.Code, w.Body)
	}
	e := f.createEntry(t, map[string]any{"kind": "post", "title": "Lake", "body": "text", "cover_media_id": img.ID})
	if e.CoverMediaID == nil || *e.CoverMediaID != img.ID {
		t.Fatalf("created entry's cover_media_id = %v, want %s", e.CoverMediaID, img.ID)
	}
	entry := "/v1/workspaces/acme/entries/" + e.ID
	if w := f.api(t, http.MethodPost, entry+"/publish", nil); w.Code != http.StatusOK {
		t.Fatalf("publish = %d %s", w.Code, w.Body)
	}
	f.api(t, http.MethodPatch, "/v1/workspaces/acme/media/"+img.ID, map[string]any{"alt": "A lake at dawn"})
	public := decodeBody[publicEntryResponse](t, f.get(t, "/v1/sites/acme/posts/lake"), http.StatusOK)
	c := public.Cover
	const url = "https://api.example.com/v1/sites/acme/media/"
	if c == nil || c.ID != img.ID || c.URL != url+img.ID+"/lake.jpg" || c.Alt != "A lake at dawn" || c.Width != 800 || c.Height != 600 ||
		c.ContentType != "image/jpeg" || len(c.Variants) != 2 || c.Variants[1].Width != 640 || c.Variants[1].URL != url+img.ID+"/lake.jpg?w=640" {
		t.Fatalf("public cover = %+v", c)
	}
	type list struct {
		Data []publicEntryResponse `json:"data"`
	}
	if l := decodeBody[list](t, f.get(t, "/v1/sites/acme/posts"), http.StatusOK); len(l.Data) != 1 || l.Data[0].Cover == nil || l.Data[0].Cover.ID != img.ID {
		t.Errorf("public list = %+v, want the post with its cover", l.Data)
	}
	// A PATCH with null removes the cover, and one with the ID sets it.
	if got := decodeBody[entryResponse](t, f.api(t, http.MethodPatch, entry, map[string]any{"cover_media_id": nil}), http.StatusOK); got.CoverMediaID != nil {
		t.Errorf("after PATCH null: cover_media_id = %v", *got.CoverMediaID)
	}
	if p := decodeBody[publicEntryResponse](t, f.get(t, "/v1/sites/acme/posts/lake"), http.StatusOK); p.Cover != nil {
		t.Errorf("public cover after removal = %+v, want null", p.Cover)
	}
	if w := f.invalid().api(t, http.MethodPatch, entry, map[string]any{"cover_media_id": pdf.ID}); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("PATCH a PDF as cover = %d, want 422", w.Code)
	}
	if got := decodeBody[entryResponse](t, f.api(t, http.MethodPatch, entry, map[string]any{"cover_media_id": img.ID, "title": "Lake!"}), http.StatusOK); got.CoverMediaID == nil {
		t.Errorf("after PATCH with the ID: no cover")
	}
	// The published cover is in use; forced, its deletion leaves null.
	if w := f.invalid().api(t, http.MethodDelete, "/v1/workspaces/acme/media/"+img.ID, nil); w.Code != http.StatusConflict {
		t.Fatalf("delete a published cover = %d, want 409", w.Code)
	}
	if w := f.api(t, http.MethodDelete, "/v1/workspaces/acme/media/"+img.ID+"?force=true", nil); w.Code != http.StatusNoContent {
		t.Fatalf("forced delete = %d %s", w.Code, w.Body)
	}
	if p := decodeBody[publicEntryResponse](t, f.get(t, "/v1/sites/acme/posts/lake"), http.StatusOK); p.Cover != nil {
		t.Errorf("public cover after a forced deletion = %+v, want null", p.Cover)
	}
	if got := decodeBody[entryResponse](t, f.api(t, http.MethodGet, entry, nil), http.StatusOK); got.CoverMediaID != nil {
		t.Errorf("entry after a forced deletion: cover_media_id = %v, want null", *got.CoverMediaID)
	}
}
